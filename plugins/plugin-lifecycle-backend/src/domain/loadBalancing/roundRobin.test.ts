import { InstancePool } from './InstancePool';
import { RoundRobin } from './roundRobin';
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
  const rr = new RoundRobin(pool);
  const ids = (count: number, panic = false) =>
    Array.from({ length: count }, () => {
      const i = rr.pick({}, panic);
      return i < 0 ? '-' : pool.ids[i];
    }).join(',');
  return { pool, ids };
}

describe('RoundRobin', () => {
  it('takes the instances in turn, whatever their weights', () => {
    const { ids } = setup([
      instance('a', { weight: 5 }),
      instance('b'),
      instance('c'),
    ]);
    expect(ids(7)).toBe('a,b,c,a,b,c,a');
  });

  it('skips instances that may not take traffic and keeps its place', () => {
    const { pool, ids } = setup([
      instance('a'),
      instance('b', { ready: false }),
      instance('c'),
      instance('d'),
    ]);
    expect(ids(4)).toBe('a,c,d,a');
    pool.update(2, { activeConnections: 1, maxConnections: 1 });
    expect(ids(3)).toBe('d,a,d');
    pool.update(1, { ready: true });
    expect(ids(3)).toBe('a,b,d');
  });

  it('uses the panic candidates in panic', () => {
    const { pool, ids } = setup([
      instance('a', { ejectedUntil: 10 }),
      instance('b', { maxConnections: 0 }),
      instance('c', { ejectedUntil: 10 }),
      instance('d', { ready: false }),
    ]);
    expect(pool.mode(0)).toBe('panic');
    expect(ids(2)).toBe('-,-');
    expect(ids(5, true)).toBe('a,c,a,c,a'); // never the unready d
  });

  it('has no panic candidate when no instance is ready', () => {
    const { pool, ids } = setup([
      instance('a', { ready: false }),
      instance('b', { ready: false, ejectedUntil: 10 }),
      instance('c', { maxConnections: 0 }),
    ]);
    expect(pool.mode(0)).toBe('none');
    expect(ids(3, true)).toBe('-,-,-');
    pool.update(1, { ready: true }); // ready, still ejected
    expect(pool.mode(0)).toBe('panic');
    expect(ids(3, true)).toBe('b,b,b');
  });

  it('returns -1 for no instances', () => {
    expect(setup([]).ids(1)).toBe('-');
  });
});
