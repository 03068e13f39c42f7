import fc from 'fast-check';
import { hash32 } from './hash';
import { SubsetSplitter, subsetKey } from './subsets';

function counts(picks: Array<string | undefined>) {
  const found = new Map<string, number>();
  for (const key of picks) {
    if (key !== undefined) found.set(key, (found.get(key) ?? 0) + 1);
  }
  return found;
}

describe('subsetKey', () => {
  it('is the track and the version, the track alone without one, stable by default', () => {
    expect(subsetKey('canary', '1.1.0')).toBe('canary/1.1.0');
    expect(subsetKey(undefined, '1.0.0')).toBe('stable/1.0.0');
    expect(subsetKey('', undefined)).toBe('stable');
    expect(subsetKey('blue', undefined)).toBe('blue');
  });
});

describe('SubsetSplitter', () => {
  it('sends exactly each weight out of every total picks, interleaved (80/20)', () => {
    const splitter = SubsetSplitter.create([
      { key: 'stable/1.0.0', weight: 80 },
      { key: 'canary/1.1.0', weight: 20 },
    ]);
    const picks = Array.from({ length: 1000 }, () => splitter.next());
    expect(counts(picks)).toEqual(
      new Map([
        ['stable/1.0.0', 800],
        ['canary/1.1.0', 200],
      ]),
    );
    // Smooth: never more than four stable picks in a row at 80/20.
    expect(picks.slice(0, 10)).toEqual([
      'stable/1.0.0',
      'stable/1.0.0',
      'canary/1.1.0',
      'stable/1.0.0',
      'stable/1.0.0',
      'stable/1.0.0',
      'stable/1.0.0',
      'canary/1.1.0',
      'stable/1.0.0',
      'stable/1.0.0',
    ]);
  });

  it('respects any weights over any number of picks, within one pick per subset', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 50 }), {
          minLength: 1,
          maxLength: 6,
        }),
        fc.integer({ min: 1, max: 400 }),
        (weights, n) => {
          const total = weights.reduce((a, b) => a + b, 0);
          const splitter = SubsetSplitter.create(
            weights.map((weight, i) => ({ key: `s${i}`, weight })),
          );
          const found = counts(
            Array.from({ length: n }, () => splitter.next()),
          );
          // Smooth weighted round robin strays from each share by less than
          // one pick per subset; a subset of weight 0 gets none.
          const off = weights.filter((weight, i) => {
            const got = found.get(`s${i}`) ?? 0;
            return weight === 0 || total === 0
              ? got !== 0
              : Math.abs(got - (n * weight) / total) >= weights.length;
          });
          expect(off).toEqual([]);
        },
      ),
    );
  });

  it('gives a subset of weight 0 nothing, by rotation, by hash and as a fallback', () => {
    const splitter = SubsetSplitter.create([
      { key: 'a', weight: 0 },
      { key: 'b', weight: 3 },
      { key: 'c', weight: 1 },
    ]);
    const rotated = counts(Array.from({ length: 400 }, () => splitter.next()));
    expect(rotated.get('a')).toBeUndefined();
    expect(rotated).toEqual(
      new Map([
        ['b', 300],
        ['c', 100],
      ]),
    );
    const hashed = counts(
      Array.from({ length: 400 }, (_, i) => splitter.forHash(hash32(`c${i}`))),
    );
    expect(hashed.get('a')).toBeUndefined();
    expect(splitter.fallbacks('b')).toEqual(['c']);
    expect(splitter.fallbacks('c')).toEqual(['b']);
  });

  it('with one subset picks it every time: the split of a service that has one', () => {
    const splitter = SubsetSplitter.create([{ key: 'stable', weight: 100 }]);
    expect(
      counts(
        Array.from({ length: 50 }, () => splitter.pick('round-robin', {})),
      ),
    ).toEqual(new Map([['stable', 50]]));
    expect(splitter.pick('ip-hash', { ip: '10.0.0.1' })).toBe('stable');
  });

  it('keeps a sticky client in one subset, and spreads clients by weight', () => {
    const splitter = SubsetSplitter.create([
      { key: 'stable', weight: 80 },
      { key: 'canary', weight: 20 },
    ]);
    const first = splitter.pick('ip-hash', { key: 'session-1' });
    for (let i = 0; i < 20; i++) {
      expect(splitter.pick('ip-hash', { key: 'session-1' })).toBe(first);
    }
    const clients = counts(
      Array.from({ length: 10_000 }, (_, i) =>
        splitter.pick('ip-hash', { ip: `10.0.${i >> 8}.${i & 255}` }),
      ),
    );
    // A hash, not a rotation: the share is close, computed from these very addresses.
    expect(clients.get('canary')! / 10_000).toBeGreaterThan(0.18);
    expect(clients.get('canary')! / 10_000).toBeLessThan(0.22);
  });

  it('picks nothing when every weight is 0, and refuses weights that are not whole numbers', () => {
    const none = SubsetSplitter.create([{ key: 'a', weight: 0 }]);
    expect(none.next()).toBeUndefined();
    expect(none.pick('ip-hash', { ip: '1.2.3.4' })).toBeUndefined();
    expect(() => SubsetSplitter.create([{ key: 'a', weight: 1.5 }])).toThrow(
      /whole number/,
    );
    expect(() => SubsetSplitter.create([{ key: 'a', weight: -1 }])).toThrow(
      /whole number/,
    );
  });

  it('knows the same weights, whatever their order', () => {
    const splitter = SubsetSplitter.create([
      { key: 'a', weight: 1 },
      { key: 'b', weight: 2 },
    ]);
    expect(
      splitter.sameAs([
        { key: 'b', weight: 2 },
        { key: 'a', weight: 1 },
      ]),
    ).toBe(true);
    expect(splitter.sameAs([{ key: 'a', weight: 1 }])).toBe(false);
    expect(
      splitter.sameAs([
        { key: 'a', weight: 1 },
        { key: 'b', weight: 3 },
      ]),
    ).toBe(false);
  });
});
