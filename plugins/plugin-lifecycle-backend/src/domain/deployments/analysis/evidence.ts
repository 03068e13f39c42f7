import { VersionEvidence } from '@internal/plugin-lifecycle-common';
import type { RequestStats } from '../../../engines/discovery/ProxyMetrics';

/**
 * What an analysis window saw of one version: `successRate` is the percent
 * of requests answered below 500 (among those answered and those that got
 * no answer), `errorRate` the percent answered 5xx or not at all, `p99Ms`
 * from the window's histogram. Without requests the rates are absent, not
 * 100 or 0: nothing was measured.
 *
 * @public
 */
export function evidenceOf(
  version: string,
  delta: RequestStats | undefined,
  unhealthyInstances: number,
): VersionEvidence {
  const evidence: VersionEvidence = {
    version,
    requests: delta?.requests ?? 0,
    unhealthyInstances,
  };
  if (!delta || delta.requests === 0) return evidence;
  const s = delta.status;
  const below500 = s['2xx'] + s['3xx'] + s['4xx'];
  const judged = below500 + s['5xx'] + s.errors;
  if (judged > 0) evidence.successRate = (100 * below500) / judged;
  evidence.errorRate = (100 * (s['5xx'] + s.errors)) / delta.requests;
  if (delta.latency.count > 0) evidence.p99Ms = delta.latency.p99Ms;
  return evidence;
}
