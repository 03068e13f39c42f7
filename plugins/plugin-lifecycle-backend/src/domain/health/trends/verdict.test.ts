import fc from 'fast-check';
import { TrendSummary } from './probeTrend';
import { healthVerdict } from './verdict';

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
