import { LATENCY_BUCKETS_MS, ProxyMetrics } from './ProxyMetrics';

describe('ProxyMetrics', () => {
  it('counts requests, status classes and connections per instance and per version', () => {
    const metrics = ProxyMetrics.create();
    const a = metrics.target({
      serviceId: 'a',
      serviceName: 'billing',
      version: '1.0.0',
    });
    const b = metrics.target({
      serviceId: 'b',
      serviceName: 'billing',
      version: '1.0.0',
    });
    const canary = metrics.target({
      serviceId: 'c',
      serviceName: 'billing',
      version: '2.0.0',
    });
    expect(
      metrics.target({
        serviceId: 'a',
        serviceName: 'billing',
        version: '1.0.0',
      }),
    ).toBe(a);

    metrics.started(a);
    metrics.started(b);
    metrics.started(canary);
    expect(metrics.instance('a')?.activeConnections).toBe(1);
    expect(metrics.version('billing', '1.0.0')?.activeConnections).toBe(2);

    metrics.responded(a, 200, 3);
    metrics.responded(a, 304, 3);
    metrics.responded(a, 404, 3);
    metrics.responded(b, 503, 40);
    metrics.failed(b);
    metrics.responded(canary, 500, 900);
    metrics.finished(a);
    metrics.finished(b);

    expect(metrics.instance('a')).toMatchObject({
      serviceId: 'a',
      serviceName: 'billing',
      version: '1.0.0',
      requests: 3,
      status: { '2xx': 1, '3xx': 1, '4xx': 1, '5xx': 0, errors: 0 },
      errorRate: 0,
      activeConnections: 0,
    });
    expect(metrics.instance('b')).toMatchObject({
      requests: 2,
      status: { '2xx': 0, '3xx': 0, '4xx': 0, '5xx': 1, errors: 1 },
      errorRate: 1,
    });
    expect(metrics.version('billing', '1.0.0')).toMatchObject({
      serviceName: 'billing',
      version: '1.0.0',
      requests: 5,
      status: { '2xx': 1, '3xx': 1, '4xx': 1, '5xx': 1, errors: 1 },
      errorRate: 0.4,
      activeConnections: 0,
    });
    expect(metrics.version('billing', '2.0.0')).toMatchObject({
      requests: 1,
      errorRate: 1,
      activeConnections: 1,
    });
    expect(metrics.version('billing', '3.0.0')).toBeUndefined();
    expect(metrics.instance('zzz')).toBeUndefined();

    const snapshot = metrics.snapshot();
    expect(snapshot.instances.map(i => i.serviceId)).toEqual(['a', 'b', 'c']);
    expect(snapshot.versions.map(v => v.version)).toEqual(['1.0.0', '2.0.0']);
  });

  it('keeps a latency histogram and estimates quantiles from it', () => {
    const metrics = ProxyMetrics.create();
    const a = metrics.target({ serviceId: 'a', serviceName: 's' });
    // 90 fast requests (8 ms, bucket 5-10), 9 at 80 ms (50-100), 1 at 4000 ms.
    for (let i = 0; i < 90; i++) metrics.responded(a, 200, 8);
    for (let i = 0; i < 9; i++) metrics.responded(a, 200, 80);
    metrics.responded(a, 200, 4000);

    const { latency } = metrics.instance('a')!;
    expect(latency.count).toBe(100);
    expect(latency.sumMs).toBe(90 * 8 + 9 * 80 + 4000);
    expect(latency.maxMs).toBe(4000);
    expect(latency.buckets).toHaveLength(LATENCY_BUCKETS_MS.length + 1);
    expect(latency.buckets.find(b => b.leMs === 10)?.count).toBe(90);
    expect(latency.buckets.find(b => b.leMs === 100)?.count).toBe(9);
    expect(latency.buckets.find(b => b.leMs === 5000)?.count).toBe(1);
    expect(latency.buckets[latency.buckets.length - 1]).toEqual({
      leMs: Infinity,
      count: 0,
    });
    // p50: rank 50 of the 90 in (5, 10]
    expect(latency.p50Ms).toBeCloseTo(5 + (5 * 50) / 90);
    // p90: the last of the fast ones
    expect(latency.p90Ms).toBeCloseTo(10);
    // p99: the last of the 9 in (50, 100]
    expect(latency.p99Ms).toBeCloseTo(100);
  });

  it('never estimates above the slowest request, and caps the overflow bucket at it', () => {
    const metrics = ProxyMetrics.create({ bucketsMs: [10, 100] });
    const a = metrics.target({ serviceId: 'a', serviceName: 's' });
    metrics.responded(a, 200, 60);
    expect(metrics.instance('a')?.latency.p99Ms).toBe(60);
    metrics.responded(a, 200, 700);
    metrics.responded(a, 200, 800);
    const { latency } = metrics.instance('a')!;
    expect(latency.buckets).toEqual([
      { leMs: 10, count: 0 },
      { leMs: 100, count: 1 },
      { leMs: Infinity, count: 2 },
    ]);
    expect(latency.p99Ms).toBeLessThanOrEqual(800);
    expect(latency.p50Ms).toBeGreaterThan(100);
    expect(metrics.instance('a')?.latency.p50Ms).toBe(latency.p50Ms);

    const empty = metrics.target({ serviceId: 'b', serviceName: 's' });
    expect(metrics.instance(empty.target.serviceId)?.latency).toMatchObject({
      count: 0,
      p50Ms: 0,
      p99Ms: 0,
    });
  });

  it('moves an instance to its new version, keeping its own counts', () => {
    const metrics = ProxyMetrics.create();
    const v1 = metrics.target({
      serviceId: 'a',
      serviceName: 's',
      version: '1',
    });
    metrics.responded(v1, 200, 1);
    const v2 = metrics.target({
      serviceId: 'a',
      serviceName: 's',
      version: '2',
    });
    expect(v2).not.toBe(v1);
    metrics.responded(v2, 200, 1);
    expect(metrics.instance('a')).toMatchObject({ version: '2', requests: 2 });
    expect(metrics.version('s', '1')?.requests).toBe(1);
    expect(metrics.version('s', '2')?.requests).toBe(1);

    metrics.forget('a');
    expect(metrics.instance('a')).toBeUndefined();
    expect(metrics.version('s', '2')?.requests).toBe(1);
  });

  it('keeps tenants apart', () => {
    const metrics = ProxyMetrics.create();
    metrics.responded(
      metrics.target({
        serviceId: 'a',
        serviceName: 's',
        tenant: 't1',
        version: '1',
      }),
      200,
      1,
    );
    metrics.responded(
      metrics.target({
        serviceId: 'b',
        serviceName: 's',
        tenant: 't2',
        version: '1',
      }),
      500,
      1,
    );
    expect(metrics.version('s', '1', 't1')?.errorRate).toBe(0);
    expect(metrics.version('s', '1', 't2')?.errorRate).toBe(1);
  });

  it('rejects buckets that do not increase', () => {
    expect(() => ProxyMetrics.create({ bucketsMs: [] })).toThrow(
      'bucketsMs must be increasing positive numbers',
    );
    expect(() => ProxyMetrics.create({ bucketsMs: [5, 5] })).toThrow();
    expect(() => ProxyMetrics.create({ bucketsMs: [0, 5] })).toThrow();
  });
});
