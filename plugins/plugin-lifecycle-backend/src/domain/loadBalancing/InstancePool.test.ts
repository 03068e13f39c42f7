import { InputError } from '@backstage/errors';
import { routableInstances } from './eligibility';
import {
  InstancePool,
  resolveOptions,
  validateInstances,
  validatePatch,
} from './InstancePool';
import { BalancedInstance } from './types';

function instance(
  id: string,
  fields: Partial<BalancedInstance> = {},
): BalancedInstance {
  return { id, weight: 1, activeConnections: 0, ready: true, ...fields };
}

const flags = (array: Uint8Array) => Array.from(array);

describe('validateInstances', () => {
  it.each([
    [{ weight: -1 }, 'Instance "a" has an invalid weight -1'],
    [{ weight: NaN }, 'Instance "a" has an invalid weight NaN'],
    [{ weight: Infinity }, 'Instance "a" has an invalid weight Infinity'],
    [{ weight: '2' }, 'Instance "a" has an invalid weight 2'],
    [{ activeConnections: -1 }, 'invalid activeConnections -1'],
    [{ activeConnections: NaN }, 'invalid activeConnections NaN'],
    [{ maxConnections: -1 }, 'invalid maxConnections -1'],
    [{ maxConnections: NaN }, 'invalid maxConnections NaN'],
    [{ healthScore: 1.5 }, 'invalid healthScore 1.5'],
    [{ healthScore: NaN }, 'invalid healthScore NaN'],
    [{ ready: 'yes' }, 'invalid ready yes'],
    [{ ejectedUntil: NaN }, 'invalid ejectedUntil NaN'],
  ])('rejects %o', (fields, message) => {
    const bad = instance('a', fields as Partial<BalancedInstance>);
    expect(() => validateInstances([instance('ok'), bad])).toThrow(InputError);
    expect(() => validateInstances([bad])).toThrow(message);
  });

  it('says what the rule is', () => {
    expect(() => validateInstances([instance('a', { weight: -2 })])).toThrow(
      'Instance "a" has an invalid weight -2: it must be a finite number of at least 0',
    );
  });

  it('rejects missing, empty and duplicate ids', () => {
    expect(() => validateInstances([instance('')])).toThrow(
      'Every instance needs a non-empty string id, got ',
    );
    expect(() =>
      validateInstances([{ weight: 1 } as unknown as BalancedInstance]),
    ).toThrow('got undefined');
    expect(() => validateInstances([instance('a'), instance('a')])).toThrow(
      'Instance id "a" appears more than once',
    );
    expect(() =>
      validateInstances('a' as unknown as BalancedInstance[]),
    ).toThrow('Instances must be an array');
  });

  it('accepts the edges of every range', () => {
    expect(() =>
      validateInstances([
        instance('a', { weight: 0, maxConnections: 0, healthScore: 0 }),
        instance('b', { healthScore: 1, ejectedUntil: Infinity }),
        instance('c', { maxConnections: Infinity, activeConnections: 7 }),
      ]),
    ).not.toThrow();
  });
});

describe('validatePatch', () => {
  it('rejects unknown fields, clearing required ones and bad values', () => {
    expect(() => validatePatch('a', { id: 'b' } as any)).toThrow(
      'Cannot change id of instance "a"',
    );
    expect(() => validatePatch('a', { weight: undefined })).toThrow(
      'The weight of instance "a" cannot be cleared',
    );
    expect(() => validatePatch('a', { weight: -1 })).toThrow(InputError);
    expect(() => validatePatch('a', null as any)).toThrow('must be an object');
    expect(() =>
      validatePatch('a', { maxConnections: undefined, healthScore: 0.5 }),
    ).not.toThrow();
  });
});

describe('resolveOptions', () => {
  it('fills in the defaults', () => {
    expect(resolveOptions()).toEqual({
      panicThreshold: 0.5,
      virtualNodes: 160,
    });
    expect(resolveOptions({ panicThreshold: 0 })).toEqual({
      panicThreshold: 0,
      virtualNodes: 160,
    });
  });

  it.each([
    [{ panicThreshold: -0.1 }, 'panicThreshold must be a number from 0 to 1'],
    [{ panicThreshold: NaN }, 'panicThreshold'],
    [{ panicThreshold: 2 }, 'panicThreshold'],
    [{ virtualNodes: 0 }, 'virtualNodes must be a whole number from 1'],
    [{ virtualNodes: 1.5 }, 'virtualNodes'],
    [{ virtualNodes: 1e6 }, 'virtualNodes'],
  ])('rejects %o', (options, message) => {
    expect(() => resolveOptions(options)).toThrow(message);
  });
});

describe('InstancePool', () => {
  it('copies and freezes the instances', () => {
    const input = [instance('a', { healthScore: 0.5 })];
    const pool = InstancePool.create(input);
    input[0].weight = 7;
    expect(pool.instance(0)).toEqual(instance('a', { healthScore: 0.5 }));
    expect(Object.isFrozen(pool.instance(0))).toBe(true);
    expect(pool.result(0, true)).toEqual({
      instance: pool.instance(0),
      panic: true,
    });
    expect(pool.result(0, false)).toBe(pool.result(0, false));
    expect(pool.indexOf('a')).toBe(0);
    expect(pool.indexOf('zzz')).toBe(-1);
  });

  it('keeps the flags and the mode in step with the instances', () => {
    const pool = InstancePool.create([
      instance('a'),
      instance('b', { ejectedUntil: 10 }),
      instance('c', { maxConnections: 2, activeConnections: 2 }),
      instance('d', { weight: 0 }),
      instance('e', { ready: false }),
    ]);
    expect(pool.mode(0)).toBe('panic'); // 1 of 4 weighted instances
    expect(flags(pool.eligible)).toEqual([1, 0, 0, 0, 0]);
    expect(flags(pool.candidate)).toEqual([1, 1, 0, 0, 0]);

    pool.update(1, { ejectedUntil: undefined });
    expect(pool.mode(0)).toBe('normal'); // 2 of 4
    pool.update(2, { activeConnections: 1 });
    expect(flags(pool.eligible)).toEqual([1, 1, 1, 0, 0]);
    pool.update(3, { weight: 2 });
    expect(flags(pool.eligible)).toEqual([1, 1, 1, 1, 0]);
    expect(pool.weight[3]).toBe(2);
    pool.update(4, { ready: true });
    expect(flags(pool.eligible)).toEqual([1, 1, 1, 1, 1]);
    expect(flags(pool.candidate)).toEqual([1, 1, 1, 1, 1]);

    pool.update(2, { maxConnections: undefined, activeConnections: 50 });
    expect(pool.instance(2)).toEqual(instance('c', { activeConnections: 50 }));
    expect('maxConnections' in pool.instance(2)).toBe(false);
    expect(pool.eligible[2]).toBe(1);
  });

  it('never makes an unready instance a panic candidate', () => {
    const pool = InstancePool.create([
      instance('a', { ready: false }),
      instance('b', { ready: false, ejectedUntil: 10 }),
      instance('c', { ejectedUntil: 10 }),
    ]);
    expect(pool.mode(0)).toBe('panic'); // 0 of 3, but c is ready
    expect(flags(pool.eligible)).toEqual([0, 0, 0]);
    expect(flags(pool.candidate)).toEqual([0, 0, 1]);

    pool.update(2, { ready: false });
    expect(pool.mode(0)).toBe('none'); // nothing ready: no pick at all
    expect(flags(pool.candidate)).toEqual([0, 0, 0]);
    expect(pool.mode(20)).toBe('none'); // the ejections ending changes nothing

    pool.update(1, { ready: true });
    expect(pool.mode(5)).toBe('panic'); // b is ready again, still ejected
    expect(flags(pool.eligible)).toEqual([0, 0, 0]);
    expect(flags(pool.candidate)).toEqual([0, 1, 0]);
    expect(pool.mode(10)).toBe('panic'); // its ejection over: 1 of 3
    expect(flags(pool.eligible)).toEqual([0, 1, 0]);
    expect(flags(pool.candidate)).toEqual([0, 1, 0]);
  });

  it('lets ejections expire with the clock, in either direction', () => {
    const pool = InstancePool.create([
      instance('a', { ejectedUntil: 100 }),
      instance('b', { ejectedUntil: 200 }),
      instance('c'),
      instance('d'),
    ]);
    expect(pool.mode(50)).toBe('normal');
    expect(flags(pool.eligible)).toEqual([0, 0, 1, 1]);
    expect(pool.mode(150)).toBe('normal');
    expect(flags(pool.eligible)).toEqual([1, 0, 1, 1]);
    expect(pool.mode(200)).toBe('normal');
    expect(flags(pool.eligible)).toEqual([1, 1, 1, 1]);
    expect(pool.mode(99)).toBe('normal');
    expect(flags(pool.eligible)).toEqual([0, 0, 1, 1]);

    pool.update(3, { ejectedUntil: 300 });
    pool.update(2, { ejectedUntil: 250 });
    expect(pool.mode(99)).toBe('panic');
    expect(pool.mode(260)).toBe('normal');
    expect(flags(pool.eligible)).toEqual([1, 1, 1, 0]);
    pool.update(3, { ejectedUntil: undefined });
    expect(pool.mode(260)).toBe('normal');
    expect(flags(pool.eligible)).toEqual([1, 1, 1, 1]);
  });

  it('tells its members about every change', () => {
    const pool = InstancePool.create([
      instance('a', { ejectedUntil: 10 }),
      instance('b'),
    ]);
    const synced: number[] = [];
    pool.subscribe({ sync: index => synced.push(index) });
    pool.mode(0);
    expect(synced).toEqual([]); // nothing changed: a was counted as ejected
    pool.mode(10);
    expect(synced).toEqual([0]);
    pool.update(1, { activeConnections: 3 });
    expect(synced).toEqual([0, 1]);
  });

  it('agrees with routableInstances on random changes', () => {
    let seed = 42;
    const random = () => {
      seed = (seed * 16807) % 2147483647;
      return seed / 2147483647;
    };
    const pick = <T>(values: T[]) =>
      values[Math.floor(random() * values.length)];
    for (let run = 0; run < 50; run++) {
      const threshold = pick([0, 0.3, 0.5, 1]);
      const instances = Array.from(
        { length: 1 + Math.floor(random() * 12) },
        (_, i) => instance(`i${i}`),
      );
      const pool = InstancePool.create(instances, {
        panicThreshold: threshold,
      });
      let now = 1000;
      for (let step = 0; step < 40; step++) {
        const index = Math.floor(random() * instances.length);
        const patch = pick<Partial<BalancedInstance>>([
          { ready: random() < 0.5 },
          { weight: pick([0, 1, 2.5]) },
          { activeConnections: Math.floor(random() * 4) },
          { maxConnections: pick([undefined, 0, 2, 3]) },
          { ejectedUntil: pick([undefined, now - 10, now + 20, now + 100]) },
        ]);
        pool.update(index, patch);
        instances[index] = pool.instance(index);
        now += Math.floor(random() * 30) - 5;
        const expected = routableInstances(instances, now, threshold);
        const mode = pool.mode(now);
        const allowed = mode === 'panic' ? pool.candidate : pool.eligible;
        // readiness holds in every mode; panic relaxes ejection only
        expect(
          instances
            .filter(
              (inst, i) =>
                !inst.ready && (pool.eligible[i] || pool.candidate[i]),
            )
            .map(inst => inst.id),
        ).toEqual([]);
        // no pick exactly when no instance is ready, weighted and roomy,
        // or with panic off, when every such instance is ejected
        const usable = instances.filter(
          i =>
            i.ready &&
            i.weight > 0 &&
            i.activeConnections < (i.maxConnections ?? Infinity),
        );
        const at = now;
        const unejected = usable.filter(
          i => !(i.ejectedUntil !== undefined && i.ejectedUntil > at),
        );
        expect(mode === 'none').toBe(
          usable.length === 0 || (threshold === 0 && unejected.length === 0),
        );
        expect(
          mode === 'none'
            ? undefined
            : {
                ids: instances
                  .filter((_, i) => allowed[i] === 1)
                  .map(i => i.id),
                panic: mode === 'panic',
              },
        ).toEqual(
          expected && {
            ids: expected.instances.map(i => i.id),
            panic: expected.panic,
          },
        );
      }
    }
  });
});
