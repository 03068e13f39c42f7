import { ProbeStatus } from '../probeStatus';
import { FlapState, INITIAL_FLAP_STATE, observeStatus } from './flapping';
import { INITIAL_LATENCY_TREND, LatencyTrend, observeLatency } from './latency';
import { TrendOptions } from './options';
import {
  EMPTY_SUCCESS_WINDOW,
  SuccessWindow,
  observeSuccess,
  successRate,
} from './successWindow';

// One probe's trend, and what it adds up to.

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

function round(ms: number) {
  return Math.round(ms * 10) / 10;
}
