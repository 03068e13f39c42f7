import fc from 'fast-check';
import {
  RendezvousAssigner,
  assignReplica,
  stableFraction,
  stableHash32,
} from './assignment';

const replicaIds = fc.uniqueArray(fc.stringMatching(/^[a-z0-9:-]{1,24}$/), {
  minLength: 1,
  maxLength: 8,
});
const targetIds = fc.uniqueArray(fc.string({ minLength: 1, maxLength: 40 }), {
  maxLength: 200,
});

describe('rendezvous assignment', () => {
  it('has no owner without replicas', () => {
    expect(assignReplica('t1', [])).toBeUndefined();
    expect(new RendezvousAssigner([]).assign(['t1'])).toEqual(new Map());
  });

  it('gives every target to exactly one live replica, whatever their order', () => {
    fc.assert(
      fc.property(replicaIds, targetIds, (replicas, targets) => {
        const assigned = new RendezvousAssigner(replicas).assign(targets);
        const reversed = new RendezvousAssigner([...replicas].reverse());
        expect([...assigned.keys()].sort()).toEqual([...replicas].sort());
        const all = [...assigned.values()].flat();
        expect(all.sort()).toEqual([...targets].sort());
        for (const [replica, owned] of assigned) {
          for (const t of owned) expect(reversed.owner(t)).toBe(replica);
        }
      }),
    );
  });

  it('moves only the targets of a replica that leaves', () => {
    fc.assert(
      fc.property(
        replicaIds.filter(r => r.length >= 2),
        targetIds,
        fc.nat(),
        (replicas, targets, pick) => {
          const gone = replicas[pick % replicas.length];
          const before = new RendezvousAssigner(replicas);
          const after = new RendezvousAssigner(
            replicas.filter(r => r !== gone),
          );
          // Targets of the others stay put; the gone one's go elsewhere.
          expect(
            targets.filter(
              t =>
                before.owner(t) !== gone && after.owner(t) !== before.owner(t),
            ),
          ).toEqual([]);
          expect(targets.filter(t => after.owner(t) === gone)).toEqual([]);
        },
      ),
    );
  });

  it('moves targets only to a replica that joins', () => {
    fc.assert(
      fc.property(
        replicaIds,
        fc.stringMatching(/^[A-Z]{1,10}$/),
        targetIds,
        (replicas, joining, targets) => {
          const before = new RendezvousAssigner(replicas);
          const after = new RendezvousAssigner([...replicas, joining]);
          expect(
            targets.filter(
              t =>
                after.owner(t) !== joining &&
                after.owner(t) !== before.owner(t),
            ),
          ).toEqual([]);
        },
      ),
    );
  });

  it('spreads many targets evenly', () => {
    const replicas = [
      'host-a:101:1a2b3c4d',
      'host-a:102:5e6f7a8b',
      'host-b:7:0c1d2e3f',
      'host-c:9:99887766',
    ];
    const targets = Array.from(
      { length: 10_000 },
      (_, i) => `plugin-${i % 50}-${i.toString(16)}`,
    );
    const counts = [
      ...new RendezvousAssigner(replicas).assign(targets).values(),
    ].map(owned => owned.length);
    for (const count of counts) {
      expect(count).toBeGreaterThan(2500 * 0.9);
      expect(count).toBeLessThan(2500 * 1.1);
    }
  });

  it('hashes strings to stable numbers', () => {
    expect(stableHash32('sample-1')).toBe(stableHash32('sample-1'));
    expect(stableHash32('sample-1')).not.toBe(stableHash32('sample-2'));
    fc.assert(
      fc.property(fc.string(), text => {
        const f = stableFraction(text);
        expect(f).toBeGreaterThanOrEqual(0);
        expect(f).toBeLessThan(1);
      }),
    );
  });
});
