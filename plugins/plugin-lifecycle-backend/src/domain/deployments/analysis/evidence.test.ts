import { RequestStats } from '../../../engines/discovery/ProxyMetrics';
import { evidenceOf } from './evidence';

function delta(
  status: Partial<RequestStats['status']>,
  p99Ms = 42,
): RequestStats {
  const s = { '2xx': 0, '3xx': 0, '4xx': 0, '5xx': 0, errors: 0, ...status };
  const requests = s['2xx'] + s['3xx'] + s['4xx'] + s['5xx'] + s.errors;
  const responded = requests - s.errors;
  return {
    requests,
    status: s,
    errorRate: 0,
    latency: {
      count: responded,
      sumMs: 0,
      maxMs: 0,
      p50Ms: 0,
      p90Ms: 0,
      p99Ms,
      buckets: [],
    },
    activeConnections: 0,
  };
}

describe('evidenceOf', () => {
  it('counts 4xx as success and unanswered requests as errors', () => {
    expect(
      evidenceOf(
        '1.1.0',
        delta({ '2xx': 90, '3xx': 2, '4xx': 3, '5xx': 3, errors: 2 }),
        1,
      ),
    ).toEqual({
      version: '1.1.0',
      requests: 100,
      successRate: 95,
      errorRate: 5,
      p99Ms: 42,
      unhealthyInstances: 1,
    });
  });

  it('measures nothing without requests', () => {
    expect(evidenceOf('1.1.0', undefined, 0)).toEqual({
      version: '1.1.0',
      requests: 0,
      unhealthyInstances: 0,
    });
    expect(evidenceOf('1.1.0', delta({}), 2)).toEqual({
      version: '1.1.0',
      requests: 0,
      unhealthyInstances: 2,
    });
  });

  it('has no p99 when nothing was answered', () => {
    const evidence = evidenceOf('2.0.0', delta({ errors: 5 }), 0);
    expect(evidence).toMatchObject({ successRate: 0, errorRate: 100 });
    expect(evidence.p99Ms).toBeUndefined();
  });
});
