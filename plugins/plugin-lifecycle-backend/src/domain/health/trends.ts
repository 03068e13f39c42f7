import { InputError } from '@backstage/errors';
import { ProbeDefinition } from '@internal/plugin-lifecycle-common';
import { BreakerOptions } from '../orchestration/circuitBreaker';
import { InstanceProbeGate, ProbeStatus } from './probeStatus';

/**
 * What the health monitor makes of an instance: its probes, their trends
 * and what the proxy saw, in one word.
 *
 * - `starting`: a startup probe has not passed yet.
 * - `healthy`: started, ready and live, with nothing worrying in the trends.
 * - `degrading`: still ready and live, but latency is anomalous, the success
 *   rate is slipping or the proxy sees errors: it is likely to fail soon.
 * - `flapping`: its probes keep changing status; not to be trusted.
 * - `unhealthy`: not live, not ready, or failing most requests.
 *
 * @public
 */
export type HealthVerdict =
  | 'starting'
  | 'healthy'
  | 'degrading'
  | 'flapping'
  | 'unhealthy';

/**
 * Settings of the trend detectors. Every field has a default
 * ({@link DEFAULT_TREND_OPTIONS}).
 *
 * @public
 */
export interface TrendOptions {
  /** The weight of a new latency sample in the moving averages, in (0, 1]. */
  alpha: number;
  /** A sample this many standard deviations above the mean is anomalous. */
  zThreshold: number;
  /**
   * Consecutive anomalous samples that make a probe `degrading`, and
   * consecutive normal ones that end it (the hysteresis).
   */
  anomalySamples: number;
  /** Latency samples taken before anomalies are judged. */
  warmupSamples: number;
  /**
   * How much less an anomalous sample moves the averages than a normal one
   * (a factor of `alpha`), so that a jump stands out for a while before it
   * becomes the new normal.
   */
  anomalyWeight: number;
  /**
   * The smallest standard deviation used, in ms: local probes answer in
   * fractions of a millisecond, and a jitter of a few ms (a busy event loop,
   * a garbage collection) is no anomaly.
   */
  minStdDevMs: number;
  /** The smallest standard deviation used, as a share of the mean. */
  minRelativeStdDev: number;
  /**
   * A mean latency above this share of the probe's timeout is `degrading`:
   * the probe is about to time out.
   */
  slowFraction: number;
  /** Results in the rolling success window, 1 to 32. */
  successWindow: number;
  /** Results needed in the window before the success rate is judged. */
  minSuccessSamples: number;
  /** A success rate below this is `degrading`. */
  degradedSuccessRate: number;
  /** More status changes than this within `flapWindowMs` is `flapping`. */
  flapThreshold: number;
  flapWindowMs: number;
  /** `flapping` ends only after this long without a status change. */
  flapQuietMs: number;
}

/** @public */
export const DEFAULT_TREND_OPTIONS: Readonly<TrendOptions> = Object.freeze({
  alpha: 0.2,
  zThreshold: 3,
  anomalySamples: 3,
  warmupSamples: 10,
  anomalyWeight: 0.1,
  minStdDevMs: 5,
  minRelativeStdDev: 0.1,
  slowFraction: 0.8,
  successWindow: 20,
  minSuccessSamples: 5,
  degradedSuccessRate: 0.9,
  flapThreshold: 4,
  flapWindowMs: 120_000,
  flapQuietMs: 120_000,
});

/**
 * The defaults with the given settings, checked.
 *
 * @throws InputError for a setting out of its range
 * @public
 */
export function trendOptions(overrides: Partial<TrendOptions> = {}) {
  const options: TrendOptions = { ...DEFAULT_TREND_OPTIONS };
  for (const [key, value] of Object.entries(overrides)) {
    if (value !== undefined) (options as any)[key] = value;
  }
  const check = (ok: boolean, key: keyof TrendOptions, range: string) => {
    if (!ok) {
      throw new InputError(
        `trend option ${key} must be ${range}, got ${options[key]}`,
      );
    }
  };
  const positive = (key: keyof TrendOptions) =>
    check(options[key] > 0 && Number.isFinite(options[key]), key, 'positive');
  const whole = (key: keyof TrendOptions, min: number, max = Infinity) =>
    check(
      Number.isInteger(options[key]) &&
        options[key] >= min &&
        options[key] <= max,
      key,
      `a whole number from ${min}${max < Infinity ? ` to ${max}` : ''}`,
    );
  const share = (key: keyof TrendOptions) =>
    check(options[key] >= 0 && options[key] <= 1, key, 'between 0 and 1');
  check(options.alpha > 0 && options.alpha <= 1, 'alpha', 'in (0, 1]');
  positive('zThreshold');
  whole('anomalySamples', 1);
  whole('warmupSamples', 1);
  share('anomalyWeight');
  check(options.minStdDevMs >= 0, 'minStdDevMs', 'at least 0');
  share('minRelativeStdDev');
  positive('slowFraction');
  whole('successWindow', 1, 32);
  whole('minSuccessSamples', 1, 32);
  share('degradedSuccessRate');
  whole('flapThreshold', 1, 1000);
  positive('flapWindowMs');
  check(options.flapQuietMs >= 0, 'flapQuietMs', 'at least 0');
  return options;
}

// ---------------------------------------------------------------------------
// Latency: exponentially weighted mean and variance, with a z-score detector

/**
 * The latency trend of one probe: an exponentially weighted moving mean and
 * variance of the latencies of its successful runs, and the anomaly
 * detector's counters.
 *
 * @public
 */
export interface LatencyTrend {
  readonly samples: number;
  readonly mean: number;
  readonly variance: number;
  /** The z-score of the last sample against the averages before it. */
  readonly lastZ?: number;
  /** Consecutive anomalous samples (while not degrading). */
  readonly anomalous: number;
  /** Consecutive normal samples (while degrading). */
  readonly normal: number;
  readonly degrading: boolean;
}

/** @public */
export const INITIAL_LATENCY_TREND: LatencyTrend = Object.freeze({
  samples: 0,
  mean: 0,
  variance: 0,
  anomalous: 0,
  normal: 0,
  degrading: false,
});

/**
 * The standard deviation the detector divides by: the measured one, but
 * never below `minStdDevMs` nor `minRelativeStdDev` of the mean.
 *
 * @public
 */
export function effectiveStdDev(
  trend: Pick<LatencyTrend, 'mean' | 'variance'>,
  options: TrendOptions,
): number {
  return Math.max(
    Math.sqrt(trend.variance),
    options.minStdDevMs,
    options.minRelativeStdDev * trend.mean,
    Number.EPSILON,
  );
}

/**
 * Adds one latency sample. After the warm-up, a sample more than
 * `zThreshold` (effective) standard deviations above the mean is anomalous;
 * `anomalySamples` anomalous samples in a row make the trend `degrading`,
 * and as many normal ones in a row end it. Anomalous samples move the
 * averages `anomalyWeight` times less, so a jump is seen before it becomes
 * the new normal. Faster than usual is never an anomaly.
 *
 * @public
 */
export function observeLatency(
  trend: LatencyTrend,
  latencyMs: number,
  options: TrendOptions,
): LatencyTrend {
  if (!Number.isFinite(latencyMs) || latencyMs < 0) {
    throw new InputError(
      `latency must be a non-negative number of ms, got ${latencyMs}`,
    );
  }
  if (trend.samples === 0) {
    return { ...INITIAL_LATENCY_TREND, samples: 1, mean: latencyMs };
  }
  const judged = trend.samples >= options.warmupSamples;
  const z = (latencyMs - trend.mean) / effectiveStdDev(trend, options);
  const anomaly = judged && z > options.zThreshold;
  const alpha = anomaly ? options.alpha * options.anomalyWeight : options.alpha;
  const diff = latencyMs - trend.mean;
  const increment = alpha * diff;
  const mean = trend.mean + increment;
  const variance = (1 - alpha) * (trend.variance + diff * increment);

  let { anomalous, normal, degrading } = trend;
  if (judged) {
    if (anomaly) {
      anomalous = degrading ? 0 : anomalous + 1;
      normal = 0;
      if (anomalous >= options.anomalySamples) {
        degrading = true;
        anomalous = 0;
      }
    } else {
      anomalous = 0;
      normal = degrading ? normal + 1 : 0;
      if (degrading && normal >= options.anomalySamples) {
        degrading = false;
        normal = 0;
      }
    }
  }
  return {
    samples: trend.samples + 1,
    mean,
    variance,
    lastZ: judged ? z : undefined,
    anomalous,
    normal,
    degrading,
  };
}

// ---------------------------------------------------------------------------
// Success rate over the last results, as bits

/**
 * The last results of a probe, newest in the lowest bit: small enough to be
 * copied on every result.
 *
 * @public
 */
export interface SuccessWindow {
  readonly bits: number;
  /** Results in the window, at most its size. */
  readonly count: number;
}

/** @public */
export const EMPTY_SUCCESS_WINDOW: SuccessWindow = Object.freeze({
  bits: 0,
  count: 0,
});

function mask(n: number) {
  return n >= 32 ? 0xffffffff : (1 << n) - 1;
}

function popcount(value: number) {
  let v = value - ((value >>> 1) & 0x55555555);
  v = (v & 0x33333333) + ((v >>> 2) & 0x33333333);
  return (Math.imul((v + (v >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24) & 0xff;
}

/** Adds one result to a window of `size` results (1 to 32). @public */
export function observeSuccess(
  window: SuccessWindow,
  ok: boolean,
  size: number,
): SuccessWindow {
  return {
    bits: (((window.bits << 1) | (ok ? 1 : 0)) & mask(size)) >>> 0,
    count: Math.min(window.count + 1, size),
  };
}

/** The share of successes in the window; undefined while it is empty. @public */
export function successRate(window: SuccessWindow): number | undefined {
  if (window.count === 0) return undefined;
  return popcount(window.bits & mask(window.count)) / window.count;
}

// ---------------------------------------------------------------------------
// Flapping, with hysteresis

/**
 * When a probe's status last changed, and whether it is flapping.
 *
 * @public
 */
export interface FlapState {
  /** The last settled status seen (passing or failing). */
  readonly status?: Exclude<ProbeStatus, 'unknown'>;
  /** Times of the recent status changes, oldest first; a few at most. */
  readonly changes: readonly number[];
  readonly flapping: boolean;
}

/** @public */
export const INITIAL_FLAP_STATE: FlapState = Object.freeze({
  changes: [],
  flapping: false,
});

/**
 * Notes a probe's status at `now`. A change between passing and failing
 * counts (the first settled status does not); more than `flapThreshold`
 * changes within `flapWindowMs` make the probe `flapping`, which ends only
 * once `flapQuietMs` have passed without a change.
 *
 * @public
 */
export function observeStatus(
  state: FlapState,
  status: ProbeStatus,
  now: number,
  options: TrendOptions,
): FlapState {
  let { changes } = state;
  let settled = state.status;
  if (status !== 'unknown' && status !== settled) {
    if (settled !== undefined) {
      const since = now - options.flapWindowMs;
      changes = [...changes.filter(t => t > since), now].slice(
        -(options.flapThreshold + 1),
      );
    }
    settled = status;
  }
  let flapping = state.flapping;
  const last = changes.length ? changes[changes.length - 1] : undefined;
  if (!flapping) {
    // (cheap when there are too few changes to count: the usual case)
    if (changes.length > options.flapThreshold) {
      const since = now - options.flapWindowMs;
      flapping = changes.filter(t => t > since).length > options.flapThreshold;
    }
  } else if (last === undefined || now - last >= options.flapQuietMs) {
    flapping = false;
    changes = [];
  }
  if (
    changes === state.changes &&
    flapping === state.flapping &&
    settled === state.status
  ) {
    return state;
  }
  return { status: settled, changes, flapping };
}

// ---------------------------------------------------------------------------
// One probe's trend, and what it adds up to

/**
 * Everything the trend detectors keep about one probe of one target.
 *
 * @public
 */
export interface ProbeTrend {
  readonly latency: LatencyTrend;
  readonly success: SuccessWindow;
  readonly flap: FlapState;
}

/** @public */
export const INITIAL_PROBE_TREND: ProbeTrend = Object.freeze({
  latency: INITIAL_LATENCY_TREND,
  success: EMPTY_SUCCESS_WINDOW,
  flap: INITIAL_FLAP_STATE,
});

/**
 * Adds one probe result: its success to the window, its latency (of a
 * success only; a failure's latency is often the timeout) to the averages,
 * and the probe's status after the result to the flap detector.
 *
 * @public
 */
export function recordTrend(
  trend: ProbeTrend,
  result: { ok: boolean; latencyMs: number; status: ProbeStatus },
  now: number,
  options: TrendOptions,
): ProbeTrend {
  return {
    latency: result.ok
      ? observeLatency(trend.latency, result.latencyMs, options)
      : trend.latency,
    success: observeSuccess(trend.success, result.ok, options.successWindow),
    flap: observeStatus(trend.flap, result.status, now, options),
  };
}

/**
 * What the trends of one probe, or of all probes of an instance, say.
 *
 * @public
 */
export interface TrendSummary {
  /** Share of successes among the recent results. */
  successRate?: number;
  /** The moving mean latency of successful runs, in ms. */
  latencyMs?: number;
  latencyStdDevMs?: number;
  /** The last z-score of the latency detector. */
  zScore?: number;
  degrading: boolean;
  flapping: boolean;
  /** Why `degrading` or `flapping`; empty otherwise. */
  reasons: string[];
}

/**
 * The summary of one probe's trend.
 *
 * @param timeoutMs - the probe's timeout, to tell a latency close to it
 * @public
 */
export function summarizeTrend(
  trend: ProbeTrend,
  options: TrendOptions,
  timeoutMs?: number,
): TrendSummary {
  const reasons: string[] = [];
  const { latency, success, flap } = trend;
  const rate = successRate(success);
  let degrading = false;
  if (latency.degrading) {
    degrading = true;
    reasons.push(
      `latency anomaly: ${round(latency.mean)} ms on average, z-score above ${
        options.zThreshold
      }`,
    );
  }
  if (
    rate !== undefined &&
    success.count >= options.minSuccessSamples &&
    rate < options.degradedSuccessRate
  ) {
    degrading = true;
    reasons.push(
      `success rate ${Math.round(rate * 100)}% over the last ${
        success.count
      } results`,
    );
  }
  if (
    timeoutMs !== undefined &&
    latency.samples >= options.warmupSamples &&
    latency.mean >= options.slowFraction * timeoutMs
  ) {
    degrading = true;
    reasons.push(
      `latency ${round(
        latency.mean,
      )} ms is close to the ${timeoutMs} ms timeout`,
    );
  }
  if (flap.flapping) {
    reasons.push(
      `flapping: more than ${options.flapThreshold} status changes within ${
        options.flapWindowMs / 1000
      } s`,
    );
  }
  return {
    successRate: rate,
    latencyMs: latency.samples ? latency.mean : undefined,
    latencyStdDevMs: latency.samples ? Math.sqrt(latency.variance) : undefined,
    zScore: latency.lastZ,
    degrading,
    flapping: flap.flapping,
    reasons,
  };
}

/**
 * The trends of an instance's probes as one: the worst success rate, the
 * slowest latency, the highest z-score; degrading or flapping when any is.
 *
 * @public
 */
export function combineTrends(
  summaries: readonly TrendSummary[],
): TrendSummary {
  const pick = (
    values: Array<number | undefined>,
    fn: (...n: number[]) => number,
  ) => {
    const present = values.filter((v): v is number => v !== undefined);
    return present.length ? fn(...present) : undefined;
  };
  return {
    successRate: pick(
      summaries.map(s => s.successRate),
      Math.min,
    ),
    latencyMs: pick(
      summaries.map(s => s.latencyMs),
      Math.max,
    ),
    latencyStdDevMs: pick(
      summaries.map(s => s.latencyStdDevMs),
      Math.max,
    ),
    zScore: pick(
      summaries.map(s => s.zScore),
      Math.max,
    ),
    degrading: summaries.some(s => s.degrading),
    flapping: summaries.some(s => s.flapping),
    reasons: summaries.flatMap(s => s.reasons),
  };
}

// ---------------------------------------------------------------------------
// The verdict

/**
 * What the proxy saw of an instance recently (passive health checking).
 *
 * @public
 */
export interface PassiveHealth {
  requests: number;
  /** Requests that failed: connection errors, timeouts, 5xx. */
  errors: number;
}

/**
 * Thresholds of {@link healthVerdict} for passive data.
 *
 * @public
 */
export interface VerdictOptions {
  /** Requests needed before the proxy's error rate counts. */
  passiveMinRequests: number;
  /** An error rate at or above this is `degrading`. */
  passiveDegradedErrorRate: number;
  /** An error rate at or above this is `unhealthy`. */
  passiveUnhealthyErrorRate: number;
}

/** @public */
export const DEFAULT_VERDICT_OPTIONS: Readonly<VerdictOptions> = Object.freeze({
  passiveMinRequests: 20,
  passiveDegradedErrorRate: 0.05,
  passiveUnhealthyErrorRate: 0.5,
});

/**
 * The verdict on an instance and its health score.
 *
 * @public
 */
export interface HealthAssessment {
  verdict: HealthVerdict;
  /**
   * From 0 (send nothing) to 1 (fully healthy): the weight factor of
   * health-weighted load balancing. 0 whenever the instance is not ready,
   * not live or still starting; at most 0.25 while flapping and 0.5 while
   * degrading (which is where latency counts: through the detector's
   * hysteresis, not sample by sample, so the score does not flicker);
   * otherwise the success rate times the share of the proxy's requests
   * that succeeded.
   */
  healthScore: number;
  reasons: string[];
}

/**
 * One verdict per instance from its probe gate, the trends of its probes
 * and, when given, what the proxy saw. In order: not live is `unhealthy`;
 * a pending startup probe is `starting`; flapping probes are `flapping`;
 * not ready while a readiness probe has not settled yet (`pending`) is
 * `starting`; not ready, or an error rate at the proxy of `passiveUnhealthyErrorRate`
 * or more, is `unhealthy`; a degrading trend or an error rate of
 * `passiveDegradedErrorRate` or more is `degrading`; else `healthy`.
 *
 * @public
 */
export function healthVerdict(
  input: {
    gate: Pick<InstanceProbeGate, 'started' | 'ready' | 'live' | 'reasons'>;
    trend: TrendSummary;
    passive?: PassiveHealth;
    /** A readiness probe has had no settled status yet (still `unknown`). */
    pending?: boolean;
  },
  options: VerdictOptions = DEFAULT_VERDICT_OPTIONS,
): HealthAssessment {
  const { gate, trend, passive, pending } = input;
  const errorRate =
    passive && passive.requests >= options.passiveMinRequests
      ? Math.min(1, Math.max(0, passive.errors / passive.requests))
      : undefined;
  const base = (trend.successRate ?? 1) * (1 - (errorRate ?? 0));
  const score = (value: number) => Math.round(value * 1000) / 1000;
  const passiveReason = () =>
    `the proxy saw ${Math.round((errorRate ?? 0) * 100)}% of ${
      passive!.requests
    } requests fail`;

  if (!gate.live) {
    return { verdict: 'unhealthy', healthScore: 0, reasons: gate.reasons };
  }
  if (!gate.started) {
    return { verdict: 'starting', healthScore: 0, reasons: gate.reasons };
  }
  if (trend.flapping) {
    return {
      verdict: 'flapping',
      healthScore: gate.ready ? score(Math.min(0.25, base)) : 0,
      reasons: [...gate.reasons, ...trend.reasons],
    };
  }
  if (!gate.ready) {
    return {
      verdict: pending ? 'starting' : 'unhealthy',
      healthScore: 0,
      reasons: gate.reasons,
    };
  }
  if (
    errorRate !== undefined &&
    errorRate >= options.passiveUnhealthyErrorRate
  ) {
    return { verdict: 'unhealthy', healthScore: 0, reasons: [passiveReason()] };
  }
  const passiveDegraded =
    errorRate !== undefined && errorRate >= options.passiveDegradedErrorRate;
  if (trend.degrading || passiveDegraded) {
    return {
      verdict: 'degrading',
      healthScore: score(Math.min(0.5, base)),
      reasons: [
        ...trend.reasons,
        ...(passiveDegraded ? [passiveReason()] : []),
      ],
    };
  }
  return { verdict: 'healthy', healthScore: score(base), reasons: [] };
}

// ---------------------------------------------------------------------------
// The circuit breaker of a probe target

/**
 * The breaker settings of a probe (its `circuitBreaker`), for the breaker of
 * `domain/orchestration`: `recoveryTimeout` (ms, 30 s by default) is how
 * long an open breaker keeps the probe from running before one half-open
 * trial; `failureThreshold` (5 by default) consecutive failures open it.
 * Undefined when the probe has no breaker.
 *
 * @public
 */
export function probeBreakerOptions(
  probe: Pick<ProbeDefinition, 'circuitBreaker'>,
): BreakerOptions | undefined {
  const breaker = probe.circuitBreaker;
  if (!breaker?.enabled) return undefined;
  return {
    failureThreshold: breaker.failureThreshold ?? 5,
    coolDownMs: breaker.recoveryTimeout ?? 30_000,
  };
}

function round(ms: number) {
  return Math.round(ms * 10) / 10;
}
