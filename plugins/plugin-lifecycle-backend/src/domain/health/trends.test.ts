import { InputError } from '@backstage/errors';
import fc from 'fast-check';
import {
  INITIAL_BREAKER_STATE,
  breakerAllows,
  breakerRecord,
} from '../orchestration/circuitBreaker';
import {
  DEFAULT_TREND_OPTIONS,
  EMPTY_SUCCESS_WINDOW,
  FlapState,
  INITIAL_FLAP_STATE,
  INITIAL_LATENCY_TREND,
  INITIAL_PROBE_TREND,
  LatencyTrend,
  TrendSummary,
  combineTrends,
  healthVerdict,
  observeLatency,
  observeStatus,
  observeSuccess,
  probeBreakerOptions,
  recordTrend,
  successRate,
  summarizeTrend,
  trendOptions,
} from './trends';

const options = trendOptions();
const T0 = Date.parse('2026-11-27T10:00:00.000Z');

function latencies(values: number[], trend = INITIAL_LATENCY_TREND) {
  return values.reduce((t, v) => observeLatency(t, v, options), trend);
}

/** Latencies around 10 ms with a little deterministic jitter. */
function steady(count: number, around = 10) {
  return Array.from({ length: count }, (_, i) => around + ((i * 7) % 5) * 0.1);
}

describe('trendOptions', () => {
  it('fills in the defaults and takes overrides', () => {
    expect(trendOptions()).toEqual(DEFAULT_TREND_OPTIONS);
    expect(trendOptions({ zThreshold: 4, alpha: undefined })).toEqual({
      ...DEFAULT_TREND_OPTIONS,
      zThreshold: 4,
    });
  });

  it.each([
    [{ alpha: 0 }, 'trend option alpha must be in (0, 1], got 0'],
    [
      { successWindow: 33 },
      'trend option successWindow must be a whole number from 1 to 32, got 33',
    ],
    [
      { anomalySamples: 1.5 },
      'trend option anomalySamples must be a whole number from 1, got 1.5',
    ],
    [
      { degradedSuccessRate: 2 },
      'trend option degradedSuccessRate must be between 0 and 1, got 2',
    ],
    [
      { flapWindowMs: -1 },
      'trend option flapWindowMs must be positive, got -1',
    ],
  ])('refuses %j', (overrides, message) => {
    expect(() => trendOptions(overrides)).toThrow(new InputError(message));
  });
});

describe('observeLatency', () => {
  it('keeps an exponentially weighted mean and variance', () => {
    const trend = latencies([10, 20]);
    // mean 10 + 0.2 * 10 = 12; variance 0.8 * (0 + 10 * 2) = 16
    expect(trend).toMatchObject({ samples: 2, mean: 12, variance: 16 });
    expect(trend.lastZ).toBeUndefined();
  });

  it('judges nothing during the warm-up', () => {
    const trend = latencies([...steady(5), 500, 500, 500]);
    expect(trend).toMatchObject({ samples: 8, degrading: false, anomalous: 0 });
  });

  it('stays calm on steady latency with sub-millisecond jitter', () => {
    const trend = latencies(steady(200));
    expect(trend.degrading).toBe(false);
    expect(Math.abs(trend.lastZ!)).toBeLessThan(1);
  });

  it('marks a jump degrading after anomalySamples samples in a row', () => {
    const base = latencies(steady(30));
    const once = latencies([40], base);
    expect(once).toMatchObject({ anomalous: 1, degrading: false });
    expect(once.lastZ).toBeGreaterThan(options.zThreshold);
    const twice = latencies([40], once);
    expect(twice).toMatchObject({ anomalous: 2, degrading: false });
    expect(latencies([40], twice)).toMatchObject({ degrading: true });
  });

  it('needs the anomalies in a row', () => {
    const base = latencies(steady(30));
    const trend = latencies([40, 40, 10, 40, 40, 10], base);
    expect(trend.degrading).toBe(false);
  });

  it('moves the averages less for anomalies, so a jump stands out', () => {
    const base = latencies(steady(30));
    const jumped = latencies([40], base);
    // A normal sample would move the mean by alpha = 20% of the difference.
    expect(jumped.mean - base.mean).toBeCloseTo(
      (40 - base.mean) * options.alpha * options.anomalyWeight,
    );
  });

  it('ends degrading only after as many normal samples in a row', () => {
    let trend = latencies([40, 40, 40], latencies(steady(30)));
    expect(trend.degrading).toBe(true);
    trend = latencies([10, 10], trend);
    expect(trend).toMatchObject({ degrading: true, normal: 2 });
    trend = latencies([40, 10, 10], trend);
    expect(trend.degrading).toBe(true);
    trend = latencies([10], trend);
    expect(trend).toMatchObject({ degrading: false, normal: 0 });
  });

  it('takes a new level as normal after a while', () => {
    const trend = latencies(Array(200).fill(40), latencies(steady(30)));
    expect(trend.degrading).toBe(false);
    expect(trend.mean).toBeGreaterThan(35);
  });

  it('never counts faster than usual as an anomaly', () => {
    const trend = latencies([0.1, 0.1, 0.1, 0.1], latencies(steady(30, 100)));
    expect(trend.degrading).toBe(false);
    expect(trend.lastZ).toBeLessThan(0);
  });

  it('refuses a latency that is not a non-negative number', () => {
    expect(() => observeLatency(INITIAL_LATENCY_TREND, -1, options)).toThrow(
      'latency must be a non-negative number of ms, got -1',
    );
    expect(() => observeLatency(INITIAL_LATENCY_TREND, NaN, options)).toThrow(
      InputError,
    );
  });

  it('keeps the variance non-negative and the mean within the samples', () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: 0, max: 10_000, noNaN: true }), {
          minLength: 1,
          maxLength: 100,
        }),
        values => {
          const trend: LatencyTrend = latencies(values);
          expect(trend.samples).toBe(values.length);
          expect(trend.variance).toBeGreaterThanOrEqual(0);
          expect(trend.mean).toBeGreaterThanOrEqual(Math.min(...values) - 1e-9);
          expect(trend.mean).toBeLessThanOrEqual(Math.max(...values) + 1e-9);
        },
      ),
    );
  });
});

describe('success window', () => {
  it('is empty, then the share of successes of the last results', () => {
    expect(successRate(EMPTY_SUCCESS_WINDOW)).toBeUndefined();
    let window = EMPTY_SUCCESS_WINDOW;
    for (const ok of [true, false, true, true]) {
      window = observeSuccess(window, ok, 4);
    }
    expect(successRate(window)).toBe(0.75);
    window = observeSuccess(window, false, 4); // drops the first success
    expect(window.count).toBe(4);
    expect(successRate(window)).toBe(0.5);
  });

  it('is the share of successes among the last results for any sequence', () => {
    fc.assert(
      fc.property(
        fc.array(fc.boolean(), { maxLength: 80 }),
        fc.integer({ min: 1, max: 32 }),
        (results, size) => {
          const window = results.reduce(
            (w, ok) => observeSuccess(w, ok, size),
            EMPTY_SUCCESS_WINDOW,
          );
          const last = results.slice(-size);
          expect(window.count).toBe(last.length);
          expect(successRate(window)).toBe(
            last.length ? last.filter(Boolean).length / last.length : undefined,
          );
        },
      ),
    );
  });
});

describe('observeStatus (flapping)', () => {
  const o = trendOptions({
    flapThreshold: 3,
    flapWindowMs: 60_000,
    flapQuietMs: 30_000,
  });
  const statuses = (
    steps: Array<[number, 'passing' | 'failing' | 'unknown']>,
    state: FlapState = INITIAL_FLAP_STATE,
  ) =>
    steps.reduce(
      (s, [t, status]) => observeStatus(s, status, T0 + t, o),
      state,
    );

  it('does not count the first settled status nor unknown', () => {
    const state = statuses([
      [0, 'unknown'],
      [1000, 'passing'],
      [2000, 'unknown'],
      [3000, 'passing'],
    ]);
    expect(state).toEqual({ status: 'passing', changes: [], flapping: false });
  });

  it('flaps after more than flapThreshold changes within the window', () => {
    const three = statuses([
      [0, 'passing'],
      [1000, 'failing'],
      [2000, 'passing'],
      [3000, 'failing'],
    ]);
    expect(three).toMatchObject({ flapping: false });
    expect(three.changes).toHaveLength(3);
    expect(statuses([[4000, 'passing']], three).flapping).toBe(true);
  });

  it('does not count changes older than the window', () => {
    const state = statuses([
      [0, 'passing'],
      [1000, 'failing'],
      [2000, 'passing'],
      [3000, 'failing'],
      [70_000, 'passing'],
    ]);
    expect(state.flapping).toBe(false);
  });

  it('keeps flapping until a quiet period has passed without a change', () => {
    const flapping = statuses([
      [0, 'passing'],
      [1000, 'failing'],
      [2000, 'passing'],
      [3000, 'failing'],
      [4000, 'passing'],
    ]);
    expect(statuses([[20_000, 'passing']], flapping).flapping).toBe(true);
    // another change restarts the quiet period
    const again = statuses(
      [
        [20_000, 'failing'],
        [45_000, 'failing'],
      ],
      flapping,
    );
    expect(again.flapping).toBe(true);
    const calm = statuses([[50_000, 'failing']], again);
    expect(calm).toEqual({ status: 'failing', changes: [], flapping: false });
  });

  it('returns the same state when nothing changed', () => {
    const state = statuses([[0, 'passing']]);
    expect(observeStatus(state, 'passing', T0 + 5000, o)).toBe(state);
  });
});

describe('recordTrend and summarizeTrend', () => {
  it('feeds the latency of successes only', () => {
    let trend = INITIAL_PROBE_TREND;
    trend = recordTrend(
      trend,
      { ok: true, latencyMs: 5, status: 'passing' },
      T0,
      options,
    );
    trend = recordTrend(
      trend,
      { ok: false, latencyMs: 1000, status: 'passing' },
      T0 + 1,
      options,
    );
    expect(trend.latency).toMatchObject({ samples: 1, mean: 5 });
    expect(successRate(trend.success)).toBe(0.5);
    expect(trend.flap.status).toBe('passing');
  });

  it('is degrading when the success rate slips, before the probe fails', () => {
    let trend = INITIAL_PROBE_TREND;
    const results = [true, true, true, false, true, false, true, true];
    results.forEach((ok, i) => {
      trend = recordTrend(
        trend,
        { ok, latencyMs: 2, status: 'passing' },
        T0 + i,
        options,
      );
    });
    expect(summarizeTrend(trend, options)).toEqual({
      successRate: 0.75,
      latencyMs: 2,
      latencyStdDevMs: 0,
      zScore: undefined,
      degrading: true,
      flapping: false,
      reasons: ['success rate 75% over the last 8 results'],
    });
  });

  it('is degrading when the mean latency nears the timeout', () => {
    let trend = INITIAL_PROBE_TREND;
    for (let i = 0; i < 12; i++) {
      trend = recordTrend(
        trend,
        { ok: true, latencyMs: 850, status: 'passing' },
        T0 + i,
        options,
      );
    }
    expect(summarizeTrend(trend, options, 1000)).toMatchObject({
      degrading: true,
      reasons: ['latency 850 ms is close to the 1000 ms timeout'],
    });
    expect(summarizeTrend(trend, options, 5000).degrading).toBe(false);
  });

  it('combines probes: worst rate, slowest latency, any flag', () => {
    const a: TrendSummary = {
      successRate: 1,
      latencyMs: 3,
      zScore: 0.5,
      degrading: false,
      flapping: false,
      reasons: [],
    };
    const b: TrendSummary = {
      successRate: 0.8,
      latencyMs: 1,
      degrading: true,
      flapping: false,
      reasons: ['slow'],
    };
    expect(combineTrends([a, b])).toEqual({
      successRate: 0.8,
      latencyMs: 3,
      latencyStdDevMs: undefined,
      zScore: 0.5,
      degrading: true,
      flapping: false,
      reasons: ['slow'],
    });
    expect(combineTrends([])).toMatchObject({
      successRate: undefined,
      degrading: false,
      flapping: false,
    });
  });
});

describe('healthVerdict', () => {
  const gate = { started: true, ready: true, live: true, reasons: [] };
  const calm: TrendSummary = {
    successRate: 1,
    degrading: false,
    flapping: false,
    reasons: [],
  };

  it.each([
    [
      'not live',
      { gate: { ...gate, live: false, reasons: ['dead'] } },
      'unhealthy',
      0,
    ],
    [
      'a pending startup probe',
      { gate: { ...gate, started: false, ready: false } },
      'starting',
      0,
    ],
    [
      'flapping and ready',
      { trend: { ...calm, flapping: true } },
      'flapping',
      0.25,
    ],
    [
      'flapping, not ready',
      { gate: { ...gate, ready: false }, trend: { ...calm, flapping: true } },
      'flapping',
      0,
    ],
    ['not ready', { gate: { ...gate, ready: false } }, 'unhealthy', 0],
    [
      'not ready, readiness not settled',
      { gate: { ...gate, ready: false }, pending: true },
      'starting',
      0,
    ],
    [
      'most proxied requests failing',
      { passive: { requests: 100, errors: 60 } },
      'unhealthy',
      0,
    ],
    [
      'some proxied requests failing',
      { passive: { requests: 100, errors: 10 } },
      'degrading',
      0.5,
    ],
    [
      'a few proxied requests, all failing',
      { passive: { requests: 5, errors: 5 } },
      'healthy',
      1,
    ],
    [
      'a degrading trend',
      { trend: { ...calm, degrading: true, successRate: 0.8 } },
      'degrading',
      0.5,
    ],
    [
      'a slightly lower success rate',
      { trend: { ...calm, successRate: 0.95 } },
      'healthy',
      0.95,
    ],
    [
      'a latency sample above normal (judged by the detector, not here)',
      { trend: { ...calm, zScore: 2.5 } },
      'healthy',
      1,
    ],
    ['all fine', {}, 'healthy', 1],
  ] as const)('%s', (_what, input, verdict, score) => {
    const result = healthVerdict({ gate, trend: calm, ...input } as any);
    expect(result.verdict).toBe(verdict);
    expect(result.healthScore).toBe(score);
  });

  it('says why', () => {
    expect(
      healthVerdict({
        gate,
        trend: calm,
        passive: { requests: 40, errors: 30 },
      }).reasons,
    ).toEqual(['the proxy saw 75% of 40 requests fail']);
  });

  it('scores between 0 and 1, and 0 whenever not ready or not live', () => {
    fc.assert(
      fc.property(
        fc.record({
          started: fc.boolean(),
          ready: fc.boolean(),
          live: fc.boolean(),
        }),
        fc.record({
          successRate: fc.option(fc.double({ min: 0, max: 1, noNaN: true }), {
            nil: undefined,
          }),
          zScore: fc.option(fc.double({ min: -100, max: 100, noNaN: true }), {
            nil: undefined,
          }),
          degrading: fc.boolean(),
          flapping: fc.boolean(),
        }),
        fc.option(
          fc.integer({ min: 0, max: 1000 }).chain(requests =>
            fc.record({
              requests: fc.constant(requests),
              errors: fc.integer({ min: 0, max: requests }),
            }),
          ),
          { nil: undefined },
        ),
        (g, t, passive) => {
          const result = healthVerdict({
            gate: { ...g, reasons: [] },
            trend: { ...t, reasons: [] },
            passive,
          });
          expect(result.healthScore).toBeGreaterThanOrEqual(0);
          expect(result.healthScore).toBeLessThanOrEqual(1);
          const serving = g.ready && g.live && g.started;
          expect(
            serving ||
              (result.healthScore === 0 && result.verdict !== 'healthy'),
          ).toBe(true);
          expect(
            result.verdict !== 'degrading' || result.healthScore <= 0.5,
          ).toBe(true);
        },
      ),
    );
  });
});

describe('probeBreakerOptions', () => {
  it('is undefined without an enabled breaker', () => {
    expect(probeBreakerOptions({})).toBeUndefined();
    expect(
      probeBreakerOptions({ circuitBreaker: { enabled: false } }),
    ).toBeUndefined();
  });

  it('maps the probe breaker onto the orchestration breaker', () => {
    const breaker = probeBreakerOptions({
      circuitBreaker: {
        enabled: true,
        failureThreshold: 2,
        recoveryTimeout: 5000,
      },
    })!;
    expect(breaker).toEqual({ failureThreshold: 2, coolDownMs: 5000 });
    expect(probeBreakerOptions({ circuitBreaker: { enabled: true } })).toEqual({
      failureThreshold: 5,
      coolDownMs: 30_000,
    });

    // Two failures open it; it refuses until the recovery timeout, then lets
    // one half-open trial through, whose success closes it.
    let state = breakerRecord(INITIAL_BREAKER_STATE, 'failure', T0, breaker);
    state = breakerRecord(state, 'failure', T0 + 1, breaker);
    expect(state.status).toBe('open');
    expect(breakerAllows(state, T0 + 4000, breaker).allowed).toBe(false);
    const trial = breakerAllows(state, T0 + 5001, breaker);
    expect(trial).toMatchObject({
      allowed: true,
      state: { status: 'half-open' },
    });
    expect(breakerAllows(trial.state, T0 + 5002, breaker).allowed).toBe(false);
    expect(
      breakerRecord(trial.state, 'success', T0 + 5003, breaker).status,
    ).toBe('closed');
  });
});
