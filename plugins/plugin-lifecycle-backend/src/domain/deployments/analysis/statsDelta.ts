import type { RequestStats } from '../../../engines/discovery/ProxyMetrics';

type Buckets = RequestStats['latency']['buckets'];

/**
 * A latency quantile from histogram buckets (not cumulative), estimated
 * linearly within the bucket the rank falls in, as Prometheus and
 * ProxyMetrics do; the overflow bucket's upper bound is `maxMs`.
 *
 * @public
 */
export function bucketQuantile(
  buckets: Buckets,
  q: number,
  maxMs: number,
): number {
  const total = buckets.reduce((sum, b) => sum + b.count, 0);
  if (total === 0) return 0;
  const rank = q * total;
  let seen = 0;
  for (let i = 0; i < buckets.length; i++) {
    const { count, leMs } = buckets[i];
    if (count > 0 && seen + count >= rank) {
      const lower = i === 0 ? 0 : buckets[i - 1].leMs;
      const upper = Number.isFinite(leMs) ? leMs : maxMs;
      const estimate = lower + ((upper - lower) * (rank - seen)) / count;
      return Math.min(estimate, maxMs);
    }
    seen += count;
  }
  return maxMs;
}

/** True when a counter of `after` is below `before`: the source restarted in between. */
function restarted(before: RequestStats, after: RequestStats): boolean {
  if (after.requests < before.requests) return true;
  if (after.latency.count < before.latency.count) return true;
  const statuses = Object.keys(after.status) as Array<
    keyof RequestStats['status']
  >;
  if (statuses.some(k => after.status[k] < (before.status[k] ?? 0)))
    return true;
  const a = after.latency.buckets;
  const b = before.latency.buckets;
  // Another bucket layout cannot be subtracted: count the window from zero.
  if (a.length !== b.length) return true;
  return a.some(
    (bucket, i) => bucket.leMs !== b[i].leMs || bucket.count < b[i].count,
  );
}

/**
 * The requests between two cumulative snapshots of the same counters. A
 * counter that went down means the source restarted: `before` counts as
 * zero. p50/p90/p99 are estimated again from the window's buckets; the
 * window's `maxMs` is an upper estimate (the lifetime max, capped at the
 * upper bound of the slowest bucket that saw requests in the window).
 * `activeConnections` is a gauge and is taken from `after`.
 *
 * @public
 */
export function statsDelta(
  before: RequestStats | undefined,
  after: RequestStats,
): RequestStats {
  const base = before && !restarted(before, after) ? before : undefined;
  const minus = (a: number, b: number | undefined) => a - (base ? b ?? 0 : 0);
  const status = {
    '2xx': minus(after.status['2xx'], base?.status['2xx']),
    '3xx': minus(after.status['3xx'], base?.status['3xx']),
    '4xx': minus(after.status['4xx'], base?.status['4xx']),
    '5xx': minus(after.status['5xx'], base?.status['5xx']),
    errors: minus(after.status.errors, base?.status.errors),
  };
  const requests = minus(after.requests, base?.requests);
  const buckets = after.latency.buckets.map((bucket, i) => ({
    leMs: bucket.leMs,
    count: minus(bucket.count, base?.latency.buckets[i].count),
  }));
  const count = minus(after.latency.count, base?.latency.count);
  const slowest = buckets.reduce(
    (max, b) => (b.count > 0 ? Math.max(max, b.leMs) : max),
    0,
  );
  const maxMs = count === 0 ? 0 : Math.min(after.latency.maxMs, slowest);
  return {
    requests,
    status,
    errorRate: requests === 0 ? 0 : (status['5xx'] + status.errors) / requests,
    latency: {
      count,
      sumMs: minus(after.latency.sumMs, base?.latency.sumMs),
      maxMs,
      p50Ms: bucketQuantile(buckets, 0.5, maxMs),
      p90Ms: bucketQuantile(buckets, 0.9, maxMs),
      p99Ms: bucketQuantile(buckets, 0.99, maxMs),
      buckets,
    },
    activeConnections: after.activeConnections,
  };
}

/**
 * Two windows of the same kind of counters added up (for example what two
 * backend replicas each counted): counts and buckets summed, quantiles
 * estimated again, the larger max; `undefined` adds nothing.
 *
 * @public
 */
export function addStats(
  a: RequestStats | undefined,
  b: RequestStats,
): RequestStats {
  if (!a) return b;
  const sameLayout =
    a.latency.buckets.length === b.latency.buckets.length &&
    a.latency.buckets.every((x, i) => x.leMs === b.latency.buckets[i].leMs);
  // Another bucket layout cannot be merged: the latency of the newer wins.
  const buckets = sameLayout
    ? b.latency.buckets.map((x, i) => ({
        leMs: x.leMs,
        count: x.count + a.latency.buckets[i].count,
      }))
    : b.latency.buckets;
  const requests = a.requests + b.requests;
  const status = {
    '2xx': a.status['2xx'] + b.status['2xx'],
    '3xx': a.status['3xx'] + b.status['3xx'],
    '4xx': a.status['4xx'] + b.status['4xx'],
    '5xx': a.status['5xx'] + b.status['5xx'],
    errors: a.status.errors + b.status.errors,
  };
  const maxMs = Math.max(a.latency.maxMs, b.latency.maxMs);
  const count = sameLayout
    ? a.latency.count + b.latency.count
    : b.latency.count;
  return {
    requests,
    status,
    errorRate: requests === 0 ? 0 : (status['5xx'] + status.errors) / requests,
    latency: {
      count,
      sumMs: sameLayout ? a.latency.sumMs + b.latency.sumMs : b.latency.sumMs,
      maxMs,
      p50Ms: bucketQuantile(buckets, 0.5, maxMs),
      p90Ms: bucketQuantile(buckets, 0.9, maxMs),
      p99Ms: bucketQuantile(buckets, 0.99, maxMs),
      buckets,
    },
    activeConnections: b.activeConnections,
  };
}
