import fc from 'fast-check';
import { InstancePool } from './InstancePool';
import { LeastConnections, LeastLoadedQueue } from './leastConnections';
import { BalancedInstance } from './types';

function instance(
  id: string,
  fields: Partial<BalancedInstance> = {},
): BalancedInstance {
  return { id, weight: 1, activeConnections: 0, ready: true, ...fields };
}

function setup(instances: BalancedInstance[]) {
  const pool = InstancePool.create(instances);
  pool.mode(0);
  const lc = new LeastConnections(pool);
  const ids = (count: number, panic = false) =>
    Array.from({ length: count }, () => {
      const i = lc.pick({}, panic);
      return i < 0 ? '-' : pool.ids[i];
    }).join(',');
  return { pool, ids };
}

describe('LeastConnections', () => {
  it('prefers the least loaded instance', () => {
    const { pool, ids } = setup([
      instance('a', { activeConnections: 5 }),
      instance('b', { activeConnections: 2 }),
      instance('c', { activeConnections: 9 }),
    ]);
    expect(ids(3)).toBe('b,b,b'); // picking does not count as a connection
    pool.update(1, { activeConnections: 6 });
    expect(ids(1)).toBe('a');
    pool.update(2, { activeConnections: 0 });
    expect(ids(1)).toBe('c');
  });

  it('divides the connections by the weight', () => {
    const { pool, ids } = setup([
      instance('a', { activeConnections: 10, weight: 4 }), // 2.5
      instance('b', { activeConnections: 3 }), // 3
    ]);
    expect(ids(1)).toBe('a');
    pool.update(0, { weight: 2 }); // 5
    expect(ids(1)).toBe('b');
  });

  it('takes turns between equally loaded instances', () => {
    const { pool, ids } = setup([
      instance('a', { activeConnections: 1 }),
      instance('b', { activeConnections: 1 }),
      instance('c', { activeConnections: 1, weight: 2 }), // 0.5
      instance('d', { activeConnections: 1 }),
    ]);
    expect(ids(2)).toBe('c,c');
    pool.update(2, { weight: 1 });
    expect(ids(6)).toBe('a,b,d,c,a,b');
  });

  it('leaves out instances that may not take traffic', () => {
    const { pool, ids } = setup([
      instance('a'),
      instance('b', { activeConnections: 5 }),
      instance('c', { activeConnections: 9 }),
    ]);
    pool.update(0, { ready: false });
    expect(ids(1)).toBe('b');
    pool.update(1, { maxConnections: 5 });
    expect(ids(1)).toBe('c');
    pool.update(0, { ready: true });
    expect(ids(1)).toBe('a');
  });

  it('in panic chooses among the panic candidates', () => {
    const { pool, ids } = setup([
      instance('a', { ready: false }), // the least loaded, but not ready
      instance('b', { ejectedUntil: 10, activeConnections: 3 }),
      instance('c', { ejectedUntil: 10, activeConnections: 1 }),
      instance('d', { maxConnections: 0 }),
    ]);
    expect(pool.mode(0)).toBe('panic');
    expect(ids(1)).toBe('-');
    expect(ids(2, true)).toBe('c,c');
    pool.update(2, { activeConnections: 5 });
    expect(ids(1, true)).toBe('b');
    pool.update(1, { ready: false });
    expect(ids(1, true)).toBe('c');
    pool.update(2, { ready: false });
    expect(pool.mode(0)).toBe('none');
    expect(ids(1, true)).toBe('-');
  });
});

describe('LeastLoadedQueue', () => {
  it('always returns a least loaded member, least recently picked first', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            weight: fc.integer({ min: 1, max: 4 }),
            activeConnections: fc.integer({ min: 0, max: 6 }),
          }),
          { minLength: 1, maxLength: 40 },
        ),
        fc.array(
          fc.tuple(
            fc.nat(),
            fc.record({
              activeConnections: fc.integer({ min: 0, max: 6 }),
              ready: fc.boolean(),
            }),
          ),
          { maxLength: 60 },
        ),
        (fields, changes) => {
          const pool = InstancePool.create(
            fields.map((f, i) => instance(`i${i}`, f)),
            { panicThreshold: 0 },
          );
          pool.mode(0);
          const queue = new LeastLoadedQueue(pool, i => pool.eligible[i] === 1);
          pool.subscribe(queue);
          const lastPicked = fields.map((_, i) => i - fields.length);
          let picks = 0;
          for (const [at, patch] of changes) {
            pool.update(at % fields.length, patch);
            const picked = queue.pick();
            const members = fields
              .map((_, i) => i)
              .filter(i => pool.eligible[i] === 1);
            const load = (i: number) => pool.active[i] / pool.weight[i];
            const expected = members.reduce(
              (best, i) =>
                best < 0 ||
                load(i) < load(best) ||
                (load(i) === load(best) && lastPicked[i] < lastPicked[best])
                  ? i
                  : best,
              -1,
            );
            expect(picked).toBe(expected);
            if (picked >= 0) lastPicked[picked] = picks++;
          }
        },
      ),
    );
  });
});
