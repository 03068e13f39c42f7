import {
  AnalysisCriteria,
  VersionEvidence,
  analysisCriteriaSchema,
} from '@internal/plugin-lifecycle-common';
import { evaluateAnalysis, nextAfterInsufficient } from './evaluate';

const criteria = (c: Partial<AnalysisCriteria> = {}) =>
  analysisCriteriaSchema.parse({
    successThreshold: 99,
    errorThreshold: 1,
    ...c,
  });

function evidence(
  requests: number,
  errors = 0,
  more: Partial<VersionEvidence> = {},
): VersionEvidence {
  return {
    version: '1.1.0',
    requests,
    ...(requests > 0
      ? {
          successRate: (100 * (requests - errors)) / requests,
          errorRate: (100 * errors) / requests,
        }
      : {}),
    unhealthyInstances: 0,
    ...more,
  };
}

describe('evaluateAnalysis', () => {
  it('passes enough good traffic, saying what it measured', () => {
    const outcome = evaluateAnalysis({
      criteria: criteria({ maxLatencyP99Ms: 200 }),
      candidate: evidence(400, 2, { p99Ms: 120 }),
      extensions: 0,
    });
    expect(outcome).toEqual({
      verdict: 'pass',
      reasons: [
        'error rate of 1.1.0 0.5% within 1% over 400 requests',
        'success rate of 1.1.0 99.5% within 99% over 400 requests',
        'latency p99 of 1.1.0 120 ms within the threshold 200 ms over 400 requests',
      ],
    });
  });

  it('never passes too little traffic, not even with zero errors (Flagger #1035, Kayenta)', () => {
    for (const requests of [0, 1, 49]) {
      const outcome = evaluateAnalysis({
        criteria: criteria(),
        candidate: evidence(requests, 0),
        extensions: 1,
      });
      expect(outcome.verdict).toBe('insufficient-data');
      expect(outcome.reasons).toEqual([
        `1.1.0 served ${requests} of the 50 requests needed for a verdict (window extended 1 of 3 times)`,
      ]);
    }
    expect(
      evaluateAnalysis({
        criteria: criteria(),
        candidate: evidence(50),
        extensions: 0,
      }).verdict,
    ).toBe('pass');
  });

  it('fails a broken threshold with one line per criterion', () => {
    const outcome = evaluateAnalysis({
      criteria: criteria({ maxLatencyP99Ms: 100 }),
      candidate: evidence(200, 10, { p99Ms: 450 }),
      extensions: 0,
    });
    expect(outcome).toEqual({
      verdict: 'fail',
      reasons: [
        'error rate of 1.1.0 5% above the threshold 1% over 200 requests',
        'success rate of 1.1.0 95% below the threshold 99% over 200 requests',
        'latency p99 of 1.1.0 450 ms above the threshold 100 ms over 200 requests',
      ],
    });
  });

  it('judges each threshold on its own', () => {
    const outcome = evaluateAnalysis({
      criteria: criteria({ successThreshold: 90, errorThreshold: 2 }),
      candidate: evidence(100, 3),
      extensions: 0,
    });
    expect(outcome.verdict).toBe('fail');
    expect(outcome.reasons).toEqual([
      'error rate of 1.1.0 3% above the threshold 2% over 100 requests',
    ]);
  });

  it('fails early on few requests only when the errors alone break a threshold', () => {
    // 10 errors in 20 requests: even 30 more successes leave 20% > 1%.
    const early = evaluateAnalysis({
      criteria: criteria({ successThreshold: undefined }),
      candidate: evidence(20, 10),
      extensions: 0,
    });
    expect(early).toEqual({
      verdict: 'fail',
      reasons: [
        'error rate of 1.1.0 20% above the threshold 1% over 20 requests (counting the 30 missing as successes)',
      ],
    });
    // 1 error in 40 requests can still end at 1 in 50 = 2%: within 5%, so not known yet.
    expect(
      evaluateAnalysis({
        criteria: criteria({ successThreshold: 95, errorThreshold: 5 }),
        candidate: evidence(40, 1),
        extensions: 0,
      }).verdict,
    ).toBe('insufficient-data');
  });

  it('fails on an unhealthy instance when requireHealthy', () => {
    const candidate = evidence(0, 0, { unhealthyInstances: 2 });
    expect(
      evaluateAnalysis({ criteria: criteria(), candidate, extensions: 0 }),
    ).toEqual({
      verdict: 'fail',
      reasons: ['2 instance(s) of 1.1.0 unhealthy (requireHealthy)'],
    });
    expect(
      evaluateAnalysis({
        criteria: criteria({ requireHealthy: false }),
        candidate: { ...evidence(100), unhealthyInstances: 2 },
        extensions: 0,
      }).verdict,
    ).toBe('pass');
  });

  it('takes the providers into account', () => {
    const base = {
      criteria: criteria(),
      candidate: evidence(100),
      extensions: 0,
    };
    expect(
      evaluateAnalysis({
        ...base,
        providers: [
          { name: 'prometheus', verdict: 'pass' },
          { name: 'latency-slo', verdict: 'fail', message: 'p95 1.2 s' },
        ],
      }),
    ).toEqual({
      verdict: 'fail',
      reasons: ['provider latency-slo: fail (p95 1.2 s)'],
    });
    expect(
      evaluateAnalysis({
        ...base,
        providers: [{ name: 'prometheus', verdict: 'insufficient-data' }],
      }),
    ).toEqual({
      verdict: 'insufficient-data',
      reasons: ['provider prometheus: insufficient-data'],
    });
    const passed = evaluateAnalysis({
      ...base,
      providers: [{ name: 'prometheus', verdict: 'pass' }],
    });
    expect(passed.verdict).toBe('pass');
    expect(passed.reasons).toContain('provider prometheus: pass');
  });

  describe('compare (A/B)', () => {
    const a = (requests: number, errors = 0, p99Ms = 100) =>
      evidence(requests, errors, { version: '1.0.0', p99Ms });
    const b = (requests: number, errors = 0, p99Ms = 100) =>
      evidence(requests, errors, { p99Ms });
    const compare = (candidate: VersionEvidence, baseline?: VersionEvidence) =>
      evaluateAnalysis({
        criteria: criteria({ successThreshold: 90, errorThreshold: 10 }),
        candidate,
        baseline,
        compare: true,
        extensions: 0,
      });

    it('needs enough traffic on both variants', () => {
      expect(compare(b(100), a(10))).toEqual({
        verdict: 'insufficient-data',
        reasons: ['1.0.0 served 10 of the 50 requests needed to compare'],
      });
      expect(compare(b(100)).verdict).toBe('insufficient-data');
    });

    it('lets the candidate win when not worse by more than 1 point and 20% p99', () => {
      const outcome = compare(b(100, 3, 119), a(100, 2, 100));
      expect(outcome.verdict).toBe('pass');
      expect(outcome.winner).toBe('candidate');
      expect(outcome.reasons.at(-1)).toBe(
        '1.1.0 wins: error rate 3% against 2%, p99 119 ms against 100 ms',
      );
    });

    it('picks the baseline for a worse error rate or p99', () => {
      const errors = compare(b(100, 4), a(100, 2));
      expect(errors).toMatchObject({ verdict: 'pass', winner: 'baseline' });
      expect(errors.reasons.at(-1)).toBe(
        '1.0.0 wins: error rate of 1.1.0 4% is more than 1 point(s) above 2%',
      );
      expect(compare(b(100, 0, 130), a(100, 0, 100))).toMatchObject({
        verdict: 'pass',
        winner: 'baseline',
      });
    });

    it('does not let a few ms of p99 noise decide', () => {
      // 8 ms against 5 ms is 60% slower, and noise (bench/rollout).
      expect(compare(b(100, 0, 8), a(100, 0, 5)).winner).toBe('candidate');
      expect(compare(b(100, 0, 19), a(100, 0, 6)).winner).toBe('candidate');
      expect(compare(b(100, 0, 40), a(100, 0, 6)).winner).toBe('baseline');
      // The p99 of 60 requests is their slowest: not judged.
      expect(compare(b(60, 0, 400), a(60, 0, 6)).winner).toBe('candidate');
    });

    it('a failing candidate loses', () => {
      expect(compare(b(100, 50), a(100))).toMatchObject({
        verdict: 'fail',
        winner: 'baseline',
      });
    });
  });
});

describe('nextAfterInsufficient', () => {
  it('extends up to maxExtensions, then does what onInsufficientData says', () => {
    const c = criteria({ maxExtensions: 2 });
    expect(nextAfterInsufficient(c, 0)).toBe('extend');
    expect(nextAfterInsufficient(c, 1)).toBe('extend');
    expect(nextAfterInsufficient(c, 2)).toBe('fail');
    expect(
      nextAfterInsufficient(
        criteria({ maxExtensions: 0, onInsufficientData: 'wait-for-approval' }),
        0,
      ),
    ).toBe('wait-for-approval');
  });
});
