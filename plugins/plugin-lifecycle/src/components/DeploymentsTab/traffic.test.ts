import {
  analysingCanary,
  rolledBackCanary,
  succeededRolling,
} from './__fixtures__/deployments';
import { currentSplit, trafficTimeline } from './traffic';

const t = (iso: string) => Date.parse(iso);

describe('trafficTimeline', () => {
  it('follows the setWeight steps of a canary up to the split now', () => {
    const now = t('2025-03-01T10:00:30.000Z');
    expect(trafficTimeline(analysingCanary, now)).toEqual([
      { t: t('2025-03-01T10:00:00.000Z'), old: 100, new: 0 },
      // setWeight 20 (step 1) ended at 10 s.
      { t: t('2025-03-01T10:00:10.000Z'), old: 80, new: 20 },
      { t: now, old: 80, new: 20 },
    ]);
  });

  it('ends at 0 on the new version once a canary rolled back', () => {
    const points = trafficTimeline(rolledBackCanary);
    expect(points[points.length - 1]).toEqual({
      t: t(rolledBackCanary.finishedAt!),
      old: 100,
      new: 0,
    });
    // Back to 0 when the analysis failed (13 s), not only at the end (20 s).
    expect(points.map(p => [p.t, p.new])).toEqual([
      [t(rolledBackCanary.createdAt), 0],
      [t('2025-03-01T10:00:10.000Z'), 20],
      [t('2025-03-01T10:00:13.000Z'), 0],
      [t(rolledBackCanary.finishedAt!), 0],
    ]);
  });

  it('moves everything to the new version at finish when no weight was set (rolling)', () => {
    expect(trafficTimeline(succeededRolling).map(p => p.new)).toEqual([0, 100]);
  });
});

describe('currentSplit', () => {
  it('lists the old version first', () => {
    expect(
      currentSplit({
        ...analysingCanary,
        traffic: { '1.1.0': 20, '1.0.0': 80 },
      }),
    ).toEqual([
      { version: '1.0.0', weight: 80 },
      { version: '1.1.0', weight: 20 },
    ]);
  });
});
