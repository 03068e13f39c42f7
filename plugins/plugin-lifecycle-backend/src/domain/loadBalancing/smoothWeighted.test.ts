import fc from 'fast-check';
import { InstancePool } from './InstancePool';
import { SmoothWeighted, SmoothWeightedRotation } from './smoothWeighted';
import { BalancedInstance } from './types';

/** ngx_http_upstream_get_peer, line by line: the specification. */
class Nginx {
  readonly current: number[];
  constructor(readonly weights: number[]) {
    this.current = weights.map(() => 0);
  }
  pick() {
    let best = -1;
    let total = 0;
    this.weights.forEach((weight, i) => {
      if (weight <= 0) return; // skipped peers keep their current weight
      this.current[i] += weight;
      total += weight;
      if (best < 0 || this.current[i] > this.current[best]) best = i;
    });
    if (best >= 0) this.current[best] -= total;
    return best;
  }
}

function rotation(weights: number[], blockSize?: number, rebaseAfter?: number) {
  return new SmoothWeightedRotation(weights.length, i => weights[i], {
    blockSize,
    rebaseAfter,
  });
}

const names = (indexes: number[]) => indexes.map(i => 'abcdefg'[i]).join(',');
const picks = (source: { pick(): number }, count: number) =>
  Array.from({ length: count }, () => source.pick());

describe('SmoothWeightedRotation', () => {
  it('gives nginx’s sequence for weights 5, 1, 1', () => {
    const r = rotation([5, 1, 1]);
    expect(names(picks(r, 7))).toBe('a,a,b,a,c,a,a');
    expect(names(picks(r, 7))).toBe('a,a,b,a,c,a,a');
  });

  it('takes equal weights in order', () => {
    expect(names(picks(rotation([1, 1, 1]), 6))).toBe('a,b,c,a,b,c');
    expect(names(picks(rotation([3, 3]), 4))).toBe('a,b,a,b');
  });

  it('gives each member exactly its weight in every period of the total weight', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 9 }), {
          minLength: 1,
          maxLength: 40,
        }),
        weights => {
          const total = weights.reduce((a, b) => a + b, 0);
          const r = rotation(weights, 4);
          for (let period = 0; period < 2; period++) {
            const counts = weights.map(() => 0);
            for (const i of picks(r, total)) counts[i]++;
            expect(counts).toEqual(weights);
          }
        },
      ),
    );
  });

  it('is exactly nginx, whatever the block size, as members come and go', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 6 }), {
          minLength: 1,
          maxLength: 70,
        }),
        fc.option(fc.integer({ min: 1, max: 12 }), { nil: undefined }),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 6 })), {
          maxLength: 25,
        }),
        fc.option(fc.integer({ min: 1, max: 40 }), { nil: undefined }),
        (initial, blockSize, changes, rebaseAfter) => {
          const weights = [...initial];
          const nginx = new Nginx(weights);
          const r = rotation(weights, blockSize, rebaseAfter);
          for (const [at, weight] of [...changes, [0, weights[0]] as const]) {
            expect(picks(r, 13)).toEqual(picks(nginx, 13));
            const index = at % weights.length;
            weights[index] = weight; // shared with nginx and the rotation
            r.sync(index);
          }
        },
      ),
    );
  });

  it('keeps exact through rebases of its round counter', () => {
    const weights = [5, 1, 1, 3, 0.5];
    const nginx = new Nginx(weights);
    const r = rotation(weights, 2, 7);
    expect(picks(r, 1000)).toEqual(picks(nginx, 1000));
  });

  it('spreads fractional weights in proportion', () => {
    const weights = [0.3, 1.7, 1, 0];
    const counts = [0, 0, 0, 0];
    const r = rotation(weights);
    for (let k = 0; k < 30_000; k++) counts[r.pick()]++;
    expect(counts).toEqual([3000, 17000, 10000, 0]);
  });

  it('returns -1 with no members', () => {
    expect(rotation([]).pick()).toBe(-1);
    expect(rotation([0, 0]).pick()).toBe(-1);
  });
});

function instance(
  id: string,
  fields: Partial<BalancedInstance> = {},
): BalancedInstance {
  return { id, weight: 1, activeConnections: 0, ready: true, ...fields };
}

describe('SmoothWeighted', () => {
  it('rotates over eligible instances by weight', () => {
    const pool = InstancePool.create([
      instance('a', { weight: 5 }),
      instance('b'),
      instance('c'),
    ]);
    const wrr = new SmoothWeighted(pool, { health: false });
    pool.mode(0);
    expect(names(picks({ pick: () => wrr.pick({}, false) }, 7))).toBe(
      'a,a,b,a,c,a,a',
    );
    pool.update(0, { ready: false });
    expect(names(picks({ pick: () => wrr.pick({}, false) }, 4))).toBe(
      'b,c,b,c',
    );
  });

  it('weighs by health, and gives nothing to a health score of 0', () => {
    const pool = InstancePool.create([
      instance('a'),
      instance('b', { healthScore: 0.5 }),
      instance('c', { healthScore: 0.25 }),
      instance('d', { healthScore: 0, weight: 100 }),
    ]);
    const health = new SmoothWeighted(pool, { health: true });
    pool.mode(0);
    const counts = [0, 0, 0, 0];
    for (let k = 0; k < 7000; k++) counts[health.pick({}, false)]++;
    expect(counts).toEqual([4000, 2000, 1000, 0]);

    pool.update(0, { healthScore: 0.25 });
    pool.update(3, { healthScore: 1, weight: 0.25 });
    counts.fill(0);
    for (let k = 0; k < 12_500; k++) counts[health.pick({}, false)]++;
    // 0.25 : 0.5 : 0.25 : 0.25
    for (const [i, share] of [0.2, 0.4, 0.2, 0.2].entries()) {
      expect(counts[i]).toBeGreaterThanOrEqual(12_500 * share - 2);
      expect(counts[i]).toBeLessThanOrEqual(12_500 * share + 2);
    }
  });

  it('ignores health in panic and rotates over the panic candidates by weight', () => {
    const pool = InstancePool.create([
      instance('a', { healthScore: 0, ejectedUntil: 10 }),
      instance('b', { healthScore: 0, weight: 2 }),
      instance('c', { maxConnections: 0 }),
      instance('d', { ready: false, weight: 5 }), // never, however heavy
    ]);
    expect(pool.mode(0)).toBe('panic');
    const health = new SmoothWeighted(pool, { health: true });
    expect(health.pick({}, false)).toBe(-1);
    expect(names(picks({ pick: () => health.pick({}, true) }, 6))).toBe(
      'b,a,b,b,a,b',
    );
    pool.update(1, { ready: false });
    expect(names(picks({ pick: () => health.pick({}, true) }, 3))).toBe(
      'a,a,a',
    );
    pool.update(0, { ready: false });
    expect(pool.mode(0)).toBe('none');
    expect(health.pick({}, true)).toBe(-1);
  });
});
