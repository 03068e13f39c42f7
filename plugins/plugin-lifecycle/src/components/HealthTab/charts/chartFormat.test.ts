import { timeTicks } from './chartFormat';

describe('timeTicks', () => {
  const t0 = Date.parse('2025-01-01T10:00:00.000Z');

  it('picks the smallest round step that gives at most six ticks, each once', () => {
    // 2 minutes: every 30 s.
    expect(
      timeTicks(t0 + 1_000, t0 + 121_000).map(t => (t - t0) / 1000),
    ).toEqual([30, 60, 90, 120]);
    // 17 minutes: every 5 minutes.
    expect(timeTicks(t0, t0 + 17 * 60_000).map(t => (t - t0) / 60_000)).toEqual(
      [0, 5, 10, 15],
    );
    // 10 s: every 2 s.
    expect(timeTicks(t0, t0 + 10_000)).toHaveLength(6);
  });

  it('has one tick for a single moment and none without data', () => {
    expect(timeTicks(t0, t0)).toEqual([t0]);
    expect(timeTicks(NaN, NaN)).toEqual([]);
  });

  it('steps by whole hours past the largest step', () => {
    const ticks = timeTicks(t0, t0 + 24 * 3_600_000);
    expect(ticks.length).toBeLessThanOrEqual(7);
    expect(ticks[1] - ticks[0]).toBe(4 * 3_600_000);
  });
});
