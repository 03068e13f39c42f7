import {
  LATENCY_BUCKETS_MS,
  ProxyMetrics,
  RequestStats,
} from '../../../engines/discovery/ProxyMetrics';
import { addStats, bucketQuantile, statsDelta } from './statsDelta';

/** Cumulative stats with the given counts; latencies all in the bucket of `latencyMs`. */
function stats(
  counts: { '2xx'?: number; '5xx'?: number; errors?: number },
  latencyMs = 7,
  base?: RequestStats,
): RequestStats {
  const status = {
    '2xx': 0,
    '3xx': 0,
    '4xx': 0,
    '5xx': 0,
    errors: 0,
    ...counts,
  };
  const requests = status['2xx'] + status['5xx'] + status.errors;
  const buckets = [...LATENCY_BUCKETS_MS, Infinity].map(leMs => ({
    leMs,
    count: 0,
  }));
  const slot = buckets.findIndex(b => latencyMs <= b.leMs);
  buckets[slot].count = requests;
  const own: RequestStats = {
    requests,
    status,
    errorRate: 0,
    latency: {
      count: requests,
      sumMs: requests * latencyMs,
      maxMs: latencyMs,
      p50Ms: 0,
      p90Ms: 0,
      p99Ms: 0,
      buckets,
    },
    activeConnections: 2,
  };
  if (!base) return own;
  return statsDelta(undefined, {
    ...own,
    requests: own.requests + base.requests,
    status: {
      '2xx': status['2xx'] + base.status['2xx'],
      '3xx': base.status['3xx'],
      '4xx': base.status['4xx'],
      '5xx': status['5xx'] + base.status['5xx'],
      errors: status.errors + base.status.errors,
    },
    latency: {
      ...own.latency,
      count: own.latency.count + base.latency.count,
      sumMs: own.latency.sumMs + base.latency.sumMs,
      maxMs: Math.max(latencyMs, base.latency.maxMs),
      buckets: buckets.map((b, i) => ({
        leMs: b.leMs,
        count: b.count + base.latency.buckets[i].count,
      })),
    },
  });
}

describe('statsDelta', () => {
  it('counts only the window between two snapshots', () => {
    const before = stats({ '2xx': 100 }, 7);
    const after = stats({ '2xx': 40, '5xx': 8, errors: 2 }, 400, before);
    const delta = statsDelta(before, after);
    expect(delta.requests).toBe(50);
    expect(delta.status).toEqual({
      '2xx': 40,
      '3xx': 0,
      '4xx': 0,
      '5xx': 8,
      errors: 2,
    });
    expect(delta.errorRate).toBeCloseTo(0.2);
    expect(delta.latency.count).toBe(50);
    expect(delta.latency.sumMs).toBe(50 * 400);
    // The window's latencies are all in (250, 500]: the fast ones before do not count.
    expect(delta.latency.p50Ms).toBeGreaterThan(250);
    expect(delta.latency.p99Ms).toBeLessThanOrEqual(400);
    expect(delta.latency.buckets.find(b => b.leMs === 10)?.count).toBe(0);
    expect(delta.activeConnections).toBe(2);
  });

  it('estimates the quantiles as ProxyMetrics does', () => {
    const metrics = ProxyMetrics.create();
    const target = metrics.target({
      serviceId: 'a',
      serviceName: 's',
      version: '1',
    });
    const record = (n: number, ms: number, status = 200) => {
      for (let i = 0; i < n; i++) metrics.responded(target, status, ms);
    };
    record(30, 3);
    const before = metrics.version('s', '1')!;
    record(90, 8);
    record(10, 40, 503);
    const after = metrics.version('s', '1')!;
    const delta = statsDelta(before, after);
    expect(delta.requests).toBe(100);
    expect(delta.status['5xx']).toBe(10);
    // p50: rank 50 of the 90 in (5, 10]
    expect(delta.latency.p50Ms).toBeCloseTo(5 + (5 * 50) / 90);
    // p99 falls among the 10 in (25, 50], capped at the observed max
    expect(delta.latency.p99Ms).toBeGreaterThan(25);
    expect(delta.latency.p99Ms).toBeLessThanOrEqual(40);
    // A window from zero is the snapshot itself.
    expect(statsDelta(undefined, after).latency.p50Ms).toBeCloseTo(
      after.latency.p50Ms,
    );
  });

  it('treats before as zero when a counter went down (the source restarted)', () => {
    const before = stats({ '2xx': 500 });
    const after = stats({ '2xx': 20, '5xx': 1 });
    expect(statsDelta(before, after)).toMatchObject({
      requests: 21,
      status: { '2xx': 20, '5xx': 1 },
      latency: { count: 21 },
    });
  });

  it('is empty for two equal snapshots', () => {
    const snapshot = stats({ '2xx': 10 });
    expect(statsDelta(snapshot, snapshot)).toMatchObject({
      requests: 0,
      errorRate: 0,
      latency: { count: 0, maxMs: 0, p50Ms: 0, p99Ms: 0 },
    });
  });
});

describe('bucketQuantile', () => {
  it('uses maxMs as the overflow bucket bound', () => {
    const buckets = [
      { leMs: 10, count: 0 },
      { leMs: Infinity, count: 10 },
    ];
    expect(bucketQuantile(buckets, 0.5, 110)).toBeCloseTo(60);
    expect(bucketQuantile([], 0.5, 0)).toBe(0);
  });
});

describe('addStats', () => {
  it('adds what two replicas counted in one window, as one replica counting it all would', () => {
    const one = ProxyMetrics.create();
    const a = ProxyMetrics.create();
    const b = ProxyMetrics.create();
    const serve = (m: ProxyMetrics, status: number, ms: number) => {
      const handle = m.target({
        serviceId: 'i',
        serviceName: 's',
        version: '1.1.0',
      });
      m.started(handle);
      m.responded(handle, status, ms);
      m.finished(handle);
    };
    for (let i = 0; i < 40; i++) {
      const [status, ms] = [i % 10 === 0 ? 503 : 200, i % 7 === 0 ? 400 : 3];
      serve(i % 3 === 0 ? a : b, status, ms);
      serve(one, status, ms);
    }
    const sum = addStats(a.version('s', '1.1.0'), b.version('s', '1.1.0')!);
    const all = one.version('s', '1.1.0')!;
    expect(sum.requests).toBe(40);
    expect(sum.status).toEqual(all.status);
    expect(sum.errorRate).toBeCloseTo(all.errorRate);
    expect(sum.latency.buckets).toEqual(all.latency.buckets);
    expect(sum.latency.p99Ms).toBeCloseTo(all.latency.p99Ms);
  });

  it('adds nothing to nothing', () => {
    const only = stats({ '2xx': 3 });
    expect(addStats(undefined, only)).toBe(only);
  });
});
