import fc from 'fast-check';
import {
  ConsistentHash,
  HashRing,
  referenceWeight,
  virtualNodeCount,
} from './hashRing';
import { hash32 } from './hash';
import { InstancePool } from './InstancePool';
import { BalancedInstance, ClientInfo } from './types';

function instance(
  id: string,
  fields: Partial<BalancedInstance> = {},
): BalancedInstance {
  return { id, weight: 1, activeConnections: 0, ready: true, ...fields };
}

function setup(instances: BalancedInstance[], virtualNodes = 160) {
  const pool = InstancePool.create(instances, { virtualNodes });
  pool.mode(0);
  const hashing = new ConsistentHash(pool);
  const owner = (client: ClientInfo, panic = false) => {
    const i = hashing.pick(client, panic);
    return i < 0 ? undefined : pool.ids[i];
  };
  return { pool, hashing, owner };
}

/** Client addresses as a proxy sees them: mostly IPv4, some IPv6. */
function clientIps(count: number, seed = 1): string[] {
  let state = seed;
  const next = () => {
    state = (state * 16807) % 2147483647;
    return state;
  };
  return Array.from({ length: count }, (_, i) =>
    i % 5 === 4
      ? `2001:db8:${(next() & 0xffff).toString(16)}::${(
          next() & 0xffff
        ).toString(16)}`
      : `${next() % 223}.${next() & 255}.${next() & 255}.${next() & 255}`,
  );
}

describe('virtual nodes', () => {
  it('rounds the mean weight to a power of two', () => {
    expect(referenceWeight([])).toBe(1);
    expect(referenceWeight([0, 0])).toBe(1);
    expect(referenceWeight([1, 1, 1])).toBe(1);
    expect(referenceWeight([100, 100])).toBe(128);
    expect(referenceWeight([3, 0, 5])).toBe(4);
    expect(referenceWeight([0.1, 0.1])).toBe(0.125);
  });

  it('gives points in proportion to weight, at least one', () => {
    expect(virtualNodeCount(1, 1, 160)).toBe(160);
    expect(virtualNodeCount(100, 128, 160)).toBe(125);
    expect(virtualNodeCount(2, 1, 160)).toBe(320);
    expect(virtualNodeCount(0.001, 1, 160)).toBe(1);
    expect(virtualNodeCount(0, 1, 160)).toBe(0);
  });
});

describe('HashRing', () => {
  it('sorts the points and knows their owners', () => {
    // the mean weight 1.5 rounds to 2, which gets the 10 points
    const ring = HashRing.build(['a', 'b', 'c'], [1, 2, 0], 10);
    expect(ring.points).toHaveLength(15);
    expect([...ring.points]).toEqual([...ring.points].sort((x, y) => x - y));
    const owned = [0, 0, 0];
    for (const owner of ring.owners) owned[owner]++;
    expect(owned).toEqual([5, 10, 0]);
  });

  it('locates the first point at or after a hash, wrapping round', () => {
    const ring = HashRing.build(['a', 'b'], [1, 1], 4);
    const { points } = ring;
    expect(ring.locate(0)).toBe(0);
    expect(ring.locate(points[3])).toBe(3);
    expect(ring.locate(points[3] + 1)).toBe(4);
    expect(ring.locate(points[7] + 1)).toBe(0);
    expect(ring.locate(2 ** 32 - 1)).toBe(points[7] === 2 ** 32 - 1 ? 7 : 0);
  });

  it('locates through its index exactly as a plain binary search would', () => {
    const ids = Array.from({ length: 300 }, (_, i) => `instance-${i}`);
    const ring = HashRing.build(
      ids,
      ids.map((_, i) => 1 + (i % 4)),
      160,
    );
    const points = [...ring.points];
    const plain = (hash: number) => {
      const at = points.findIndex(point => point >= hash);
      return at < 0 ? 0 : at;
    };
    const hashes = [0, 1, 2 ** 32 - 1, points[0], points[points.length - 1]];
    for (let k = 0; k < 2000; k++) hashes.push(hash32(`client-${k}`));
    for (let k = 0; k < 200; k++) hashes.push(points[k * 100] - 1);
    expect(hashes.map(h => ring.locate(h))).toEqual(hashes.map(plain));
  });

  it('does not depend on the order of the other instances', () => {
    const one = HashRing.build(['a', 'b', 'c'], [1, 1, 1], 50);
    const other = HashRing.build(['c', 'a', 'b'], [1, 1, 1], 50);
    expect(other.points).toEqual(one.points);
    const ids = ['a', 'b', 'c'];
    const reordered = ['c', 'a', 'b'];
    expect([...other.owners].map(o => reordered[o])).toEqual(
      [...one.owners].map(o => ids[o]),
    );
  });
});

describe('ConsistentHash', () => {
  it('sends a client to the same instance every time', () => {
    const { owner } = setup(['a', 'b', 'c', 'd'].map(id => instance(id)));
    for (const ip of clientIps(200)) {
      const first = owner({ ip });
      expect(owner({ ip })).toBe(first);
      expect(owner({ ip })).toBe(first);
    }
  });

  it('hashes the sticky key instead of the IP when there is one', () => {
    const { owner } = setup(['a', 'b', 'c', 'd'].map(id => instance(id)));
    const keys = clientIps(100, 7).map((_, i) => `session-${i}`);
    for (const key of keys) {
      const expected = owner({ ip: key });
      for (const ip of clientIps(5, 3))
        expect(owner({ ip, key })).toBe(expected);
    }
  });

  it('treats an IPv4-mapped IPv6 address as the IPv4 address', () => {
    const { owner } = setup(['a', 'b', 'c', 'd'].map(id => instance(id)));
    for (const ip of clientIps(100).filter(a => a.includes('.'))) {
      expect(owner({ ip: `::ffff:${ip}` })).toBe(owner({ ip }));
    }
  });

  it('falls back to round robin for a client with neither key nor IP', () => {
    const { owner } = setup(['a', 'b', 'c'].map(id => instance(id)));
    expect([owner({}), owner({}), owner({}), owner({})]).toEqual([
      'a',
      'b',
      'c',
      'a',
    ]);
  });

  it('spreads clients in proportion to weight', () => {
    const { owner } = setup([
      instance('a', { weight: 1 }),
      instance('b', { weight: 2 }),
      instance('c', { weight: 3 }),
      instance('d', { weight: 0 }),
    ]);
    const counts: Record<string, number> = { a: 0, b: 0, c: 0 };
    const ips = clientIps(60_000);
    for (const ip of ips) counts[owner({ ip })!]++;
    expect(counts.a / ips.length).toBeCloseTo(1 / 6, 1);
    expect(counts.b / ips.length).toBeCloseTo(2 / 6, 1);
    expect(counts.c / ips.length).toBeCloseTo(3 / 6, 1);
  });

  it('moves only the clients of an instance that leaves, and only to where its removal would', () => {
    const ids = Array.from({ length: 10 }, (_, i) => `instance-${i}`);
    const all = setup(ids.map(id => instance(id)));
    const without = setup(
      ids.filter(id => id !== 'instance-3').map(id => instance(id)),
    );
    const ips = clientIps(5000);
    const before = ips.map(ip => all.owner({ ip }));
    all.pool.update(3, { ejectedUntil: 100 });
    const after = ips.map(ip => all.owner({ ip }));
    expect(after).toEqual(ips.map(ip => without.owner({ ip })));
    const movedFrom = before.filter((owner, k) => after[k] !== owner);
    expect(movedFrom.length).toBeGreaterThan(0);
    expect(new Set(movedFrom)).toEqual(new Set(['instance-3']));
    all.pool.mode(100); // ejection over: everyone is back home
    expect(ips.map(ip => all.owner({ ip }))).toEqual(before);
  });

  it('rebuilds the ring when a weight changes, and only then', () => {
    const { pool, hashing } = setup(['a', 'b', 'c'].map(id => instance(id)));
    const ring = hashing.ring();
    pool.update(1, { activeConnections: 4, ready: false, healthScore: 0.1 });
    expect(hashing.ring()).toBe(ring);
    pool.update(1, { weight: 2 });
    const rebuilt = hashing.ring();
    expect(rebuilt).not.toBe(ring);
    expect(rebuilt.points.length).toBeGreaterThan(ring.points.length);
  });

  it('skips instances that may not take traffic, and uses the panic candidates in panic', () => {
    const { pool, owner } = setup([
      instance('a', { ejectedUntil: 10 }),
      instance('b', { maxConnections: 0 }),
      instance('c', { weight: 0 }),
      instance('d', { ready: false }),
      instance('e', { ready: false, ejectedUntil: 10 }),
    ]);
    expect(pool.mode(0)).toBe('panic');
    expect(owner({ ip: '10.0.0.1' })).toBeUndefined();
    for (const ip of clientIps(50)) expect(owner({ ip }, true)).toBe('a');
    expect(owner({}, true)).toBe('a');
  });

  it('in panic moves the clients of unready instances where a ring without them would', () => {
    const ids = Array.from({ length: 10 }, (_, i) => `instance-${i}`);
    const unready = new Set(['instance-2', 'instance-5', 'instance-7']);
    // every ready instance but one ejected: 1 of 10 eligible, panic
    const panicking = setup(
      ids.map((id, i) =>
        unready.has(id)
          ? instance(id, { ready: false })
          : instance(id, { ejectedUntil: i === 0 ? undefined : 10 }),
      ),
    );
    expect(panicking.pool.mode(0)).toBe('panic');
    const readyOnly = setup(
      ids.filter(id => !unready.has(id)).map(id => instance(id)),
    );
    const ips = clientIps(5000);
    const owners = ips.map(ip => panicking.owner({ ip }, true));
    expect(owners.filter(id => unready.has(id!))).toEqual([]);
    expect(owners).toEqual(ips.map(ip => readyOnly.owner({ ip })));
  });

  it('has no panic candidate when no instance is ready', () => {
    const { pool, owner } = setup([
      instance('a', { ready: false }),
      instance('b', { ready: false, ejectedUntil: 10 }),
    ]);
    expect(pool.mode(0)).toBe('none');
    for (const ip of clientIps(20)) expect(owner({ ip }, true)).toBeUndefined();
    expect(owner({}, true)).toBeUndefined();
  });

  it('remaps only the clients of a removed instance, about 1/N of them', () => {
    const keyCount = 3000;
    fc.assert(
      fc.property(
        fc.integer({ min: 3, max: 50 }),
        fc.nat(),
        fc.integer({ min: 1, max: 1000 }),
        fc.integer({ min: 1, max: 2 ** 30 }),
        (n, removedAt, weight, seed) => {
          const ids = Array.from({ length: n }, (_, i) => `svc-${seed}-${i}`);
          const removed = ids[removedAt % n];
          const before = setup(ids.map(id => instance(id, { weight })));
          const after = setup(
            ids
              .filter(id => id !== removed)
              .map(id => instance(id, { weight })),
          );
          let moved = 0;
          let movedElsewhere = 0;
          for (const ip of clientIps(keyCount, seed)) {
            const was = before.owner({ ip });
            if (was === removed) moved++;
            else if (after.owner({ ip }) !== was) movedElsewhere++;
          }
          expect(movedElsewhere).toBe(0);
          // 160 points per instance: its share is within ±60% of 1/N
          expect(moved / keyCount).toBeGreaterThan(0.4 / n);
          expect(moved / keyCount).toBeLessThan(1.6 / n);
        },
      ),
      { numRuns: 40 },
    );
  });
});
