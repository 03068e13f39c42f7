import { InputError } from '@backstage/errors';
import fc from 'fast-check';
import { INITIAL_LATENCY_TREND, LatencyTrend, observeLatency } from './latency';
import { trendOptions } from './options';

const options = trendOptions();

function latencies(values: number[], trend = INITIAL_LATENCY_TREND) {
  return values.reduce((t, v) => observeLatency(t, v, options), trend);
}

/** Latencies around 10 ms with a little deterministic jitter. */
function steady(count: number, around = 10) {
  return Array.from({ length: count }, (_, i) => around + ((i * 7) % 5) * 0.1);
}

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
