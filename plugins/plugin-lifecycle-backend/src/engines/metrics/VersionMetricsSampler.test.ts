import { ProxyMetrics } from '../discovery/ProxyMetrics';
import { RingBuffer } from './RingBuffer';
import { VersionMetricsSampler } from './VersionMetricsSampler';

describe('RingBuffer', () => {
  it('keeps the latest items up to its capacity, oldest first', () => {
    const ring = new RingBuffer<number>(3);
    expect(ring.toArray()).toEqual([]);
    expect(ring.last()).toBeUndefined();
    ring.push(1);
    ring.push(2);
    expect(ring.toArray()).toEqual([1, 2]);
    for (let i = 3; i <= 10; i++) ring.push(i);
    expect(ring.size).toBe(3);
    expect(ring.toArray()).toEqual([8, 9, 10]);
    expect(ring.last()).toBe(10);
  });

  it('refuses a capacity that holds nothing', () => {
    expect(() => new RingBuffer(0)).toThrow(RangeError);
    expect(() => new RingBuffer(1.5)).toThrow(RangeError);
  });
});

describe('VersionMetricsSampler', () => {
  function setup(
    options: {
      intervalMs?: number;
      retentionMs?: number;
      maxSeries?: number;
    } = {},
  ) {
    const metrics = ProxyMetrics.create();
    let now = Date.parse('2025-01-01T10:00:00.000Z');
    const sampler = VersionMetricsSampler.create({
      source: () => metrics.snapshot().versions,
      intervalMs: options.intervalMs ?? 5_000,
      retentionMs: options.retentionMs ?? 30_000,
      maxSeries: options.maxSeries ?? 10,
      clock: () => now,
    });
    const instance = (serviceId: string, version: string, tenant = 'default') =>
      metrics.target({ serviceId, serviceName: 'billing', version, tenant });
    /** Moves the clock on and takes a sample. */
    const tick = (ms = 5_000) => {
      now += ms;
      sampler.sample();
    };
    const series = (tenant = 'default') =>
      sampler.series({ serviceName: 'billing', tenant });
    return { metrics, sampler, instance, tick, series };
  }

  it('keeps what each version served in each interval, not the totals', () => {
    const { metrics, sampler, instance, tick, series } = setup();
    const old = instance('a', '1.0.0');
    // Before the first sample: part of the baseline, never a point.
    metrics.responded(old, 200, 3);
    sampler.sample();

    for (let i = 0; i < 10; i++) metrics.responded(old, 200, 4);
    tick();
    const canary = instance('c', '2.0.0');
    metrics.responded(old, 200, 4);
    metrics.responded(canary, 200, 900);
    metrics.responded(canary, 503, 30);
    metrics.failed(canary);
    metrics.responded(canary, 404, 2);
    tick(4_000);

    const [v1, v2] = series();
    expect(v1.version).toBe('1.0.0');
    expect(v1.points).toEqual([
      {
        at: '2025-01-01T10:00:05.000Z',
        intervalMs: 5_000,
        requests: 10,
        requestRate: 2,
        errors: 0,
        errorRate: 0,
        latencyMeanMs: 4,
        latencyP50Ms: expect.any(Number),
        latencyP90Ms: expect.any(Number),
        latencyP99Ms: expect.any(Number),
      },
      expect.objectContaining({
        at: '2025-01-01T10:00:09.000Z',
        intervalMs: 4_000,
        requests: 1,
        requestRate: 0.25,
      }),
    ]);
    // A version first seen since the previous sample counts from zero.
    expect(v2.version).toBe('2.0.0');
    expect(v2.points).toHaveLength(1);
    expect(v2.points[0]).toMatchObject({
      requests: 4,
      requestRate: 1,
      // 503 and the request that got no answer; the 404 is the caller's.
      errors: 2,
      errorRate: 0.5,
      latencyMeanMs: (900 + 30 + 2) / 3,
    });
    expect(v2.points[0].latencyP99Ms).toBeGreaterThan(500);
  });

  it('goes on with empty intervals once a version served, and has no latency for them', () => {
    const { metrics, sampler, instance, tick, series } = setup();
    sampler.sample();
    metrics.responded(instance('a', '1.0.0'), 200, 3);
    tick();
    tick();
    const [v1] = series();
    expect(v1.points.map(p => p.requests)).toEqual([1, 0]);
    expect(v1.points[1]).toEqual({
      at: '2025-01-01T10:00:10.000Z',
      intervalMs: 5_000,
      requests: 0,
      requestRate: 0,
      errors: 0,
      errorRate: 0,
    });
  });

  it('keeps a bounded history per version and forgets versions idle for the retention', () => {
    const { metrics, sampler, instance, tick, series } = setup({
      intervalMs: 5_000,
      retentionMs: 30_000,
    });
    expect(sampler.capacity).toBe(6);
    sampler.sample();
    const old = instance('a', '1.0.0');
    const next = instance('b', '1.1.0');
    for (let i = 1; i <= 20; i++) {
      metrics.responded(old, 200, 3);
      if (i <= 2) metrics.responded(next, 200, 3);
      tick();
    }
    const [v1, v11] = series();
    expect(v1.points).toHaveLength(6);
    expect(v1.points.at(-1)!.at).toBe('2025-01-01T10:01:40.000Z');
    expect(v1.points[0].at).toBe('2025-01-01T10:01:15.000Z');
    // 1.1.0 served last 90 s ago: gone. Only the version with traffic stays.
    expect(v11).toBeUndefined();
    expect(series().map(s => s.version)).toEqual(['1.0.0']);
  });

  it('answers only the points after `sinceMs`, and per tenant', () => {
    const { metrics, sampler, instance, tick, series } = setup();
    sampler.sample();
    metrics.responded(instance('a', '1.0.0'), 200, 3);
    metrics.responded(instance('t', '1.0.0', 'acme'), 200, 3);
    metrics.responded(instance('t', '1.0.0', 'acme'), 200, 3);
    tick();
    metrics.responded(instance('a', '1.0.0'), 200, 3);
    tick();
    expect(
      sampler
        .series({
          serviceName: 'billing',
          tenant: 'default',
          sinceMs: Date.parse('2025-01-01T10:00:05.000Z'),
        })[0]
        .points.map(p => p.at),
    ).toEqual(['2025-01-01T10:00:10.000Z']);
    expect(series('acme')[0].points.map(p => p.requests)).toEqual([2, 0]);
    expect(series('nobody')).toEqual([]);
  });

  it('keeps at most maxSeries versions, dropping the longest idle', () => {
    const { metrics, sampler, instance, tick, series } = setup({
      maxSeries: 2,
    });
    sampler.sample();
    metrics.responded(instance('a', '1.0.0'), 200, 3);
    tick();
    metrics.responded(instance('b', '1.1.0'), 200, 3);
    tick();
    metrics.responded(instance('c', '1.2.0'), 200, 3);
    tick();
    expect(series().map(s => s.version)).toEqual(['1.1.0', '1.2.0']);
  });

  it('refuses settings that keep nothing', () => {
    expect(() =>
      VersionMetricsSampler.create({
        source: () => [],
        intervalMs: 0,
        retentionMs: 1,
        maxSeries: 1,
      }),
    ).toThrow('intervalMs must be positive');
  });

  it('samples on its own every interval once started, until stopped', () => {
    jest.useFakeTimers();
    try {
      const metrics = ProxyMetrics.create();
      const sampler = VersionMetricsSampler.create({
        source: () => metrics.snapshot().versions,
        intervalMs: 1_000,
        retentionMs: 60_000,
        maxSeries: 10,
      });
      sampler.start();
      metrics.responded(
        metrics.target({
          serviceId: 'a',
          serviceName: 'billing',
          version: '1',
        }),
        200,
        3,
      );
      jest.advanceTimersByTime(3_000);
      expect(
        sampler
          .series({ serviceName: 'billing' })[0]
          .points.map(p => p.requests),
      ).toEqual([1, 0, 0]);
      sampler.stop();
      jest.advanceTimersByTime(3_000);
      expect(sampler.series({ serviceName: 'billing' })[0].points).toHaveLength(
        3,
      );
    } finally {
      jest.useRealTimers();
    }
  });
});
