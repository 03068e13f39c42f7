import { successRate } from './successWindow';
import {
  INITIAL_PROBE_TREND,
  TrendSummary,
  combineTrends,
  recordTrend,
  summarizeTrend,
} from './probeTrend';
import { trendOptions } from './options';

const options = trendOptions();
const T0 = Date.parse('2026-11-27T10:00:00.000Z');

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
