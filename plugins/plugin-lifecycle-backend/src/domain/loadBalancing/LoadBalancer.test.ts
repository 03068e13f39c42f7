import { InputError } from '@backstage/errors';
import fc from 'fast-check';
import { LoadBalancer } from './LoadBalancer';
import { isEjected, routableInstances } from './eligibility';
import {
  BalancedInstance,
  LOAD_BALANCING_STRATEGIES,
  LoadBalancingStrategy,
} from './types';

const NOW = 1_700_000_000_000;

function instance(
  id: string,
  fields: Partial<BalancedInstance> = {},
): BalancedInstance {
  return { id, weight: 1, activeConnections: 0, ready: true, ...fields };
}

function picks(
  lb: LoadBalancer,
  strategy: LoadBalancingStrategy,
  count: number,
  now = NOW,
) {
  return Array.from(
    { length: count },
    () => lb.pick('svc', strategy, {}, now)?.instance.id ?? '-',
  ).join(',');
}

describe('LoadBalancer', () => {
  it('picks nothing for an unknown or empty service', () => {
    const lb = LoadBalancer.create();
    expect(lb.pick('nope', 'round-robin', {})).toBeUndefined();
    lb.setInstances('svc', []);
    expect(lb.pick('svc', 'round-robin', {})).toBeUndefined();
    expect(lb.getInstances('nope')).toEqual([]);
  });

  it('keeps the services apart', () => {
    const lb = LoadBalancer.create();
    lb.setInstances('svc', [instance('a'), instance('b')]);
    lb.setInstances('other', [instance('x')]);
    expect(picks(lb, 'round-robin', 3)).toBe('a,b,a');
    expect(lb.pick('other', 'round-robin', {}, NOW)?.instance.id).toBe('x');
    expect(lb.removeService('other')).toBe(true);
    expect(lb.removeService('other')).toBe(false);
    expect(lb.pick('other', 'round-robin', {}, NOW)).toBeUndefined();
  });

  it('gives nginx’s smooth sequence for weights 5, 1, 1', () => {
    const lb = LoadBalancer.create();
    lb.setInstances('svc', [
      instance('a', { weight: 5 }),
      instance('b'),
      instance('c'),
    ]);
    expect(picks(lb, 'weighted-round-robin', 14)).toBe(
      'a,a,b,a,c,a,a,a,a,b,a,c,a,a',
    );
  });

  it('gives each instance its weight’s share under weighted round robin', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 10 }), {
          minLength: 2,
          maxLength: 30,
        }),
        weights => {
          const lb = LoadBalancer.create();
          lb.setInstances(
            'svc',
            weights.map((weight, i) => instance(`i${i}`, { weight })),
          );
          const total = weights.reduce((a, b) => a + b, 0);
          const counts = new Map<string, number>();
          for (let k = 0; k < 3 * total; k++) {
            const id = lb.pick('svc', 'weighted-round-robin', {}, NOW)!.instance
              .id;
            counts.set(id, (counts.get(id) ?? 0) + 1);
          }
          weights.forEach((weight, i) =>
            expect(counts.get(`i${i}`)).toBe(3 * weight),
          );
        },
      ),
    );
  });

  it('spreads health-weighted traffic by weight × health score', () => {
    const lb = LoadBalancer.create();
    lb.setInstances('svc', [
      instance('healthy', { weight: 2 }),
      instance('degraded', { weight: 2, healthScore: 0.5 }),
      instance('struggling', { weight: 4, healthScore: 0.1 }),
      instance('failing', { weight: 2, healthScore: 0 }),
    ]);
    const counts: Record<string, number> = {};
    const total = 34_000; // weights 2 : 1 : 0.4 : 0
    for (let k = 0; k < total; k++) {
      const { instance: picked, panic } = lb.pick(
        'svc',
        'health-weighted',
        {},
        NOW,
      )!;
      expect(panic).toBe(false);
      counts[picked.id] = (counts[picked.id] ?? 0) + 1;
    }
    expect(counts.failing).toBeUndefined();
    expect(counts.healthy / total).toBeCloseTo(2 / 3.4, 3);
    expect(counts.degraded / total).toBeCloseTo(1 / 3.4, 3);
    expect(counts.struggling / total).toBeCloseTo(0.4 / 3.4, 3);
  });

  it('follows the connection counts the proxy reports', () => {
    const lb = LoadBalancer.create();
    lb.setInstances('svc', [instance('a'), instance('b'), instance('c')]);
    const open = () => {
      const { id, activeConnections } = lb.pick(
        'svc',
        'least-connections',
        {},
        NOW,
      )!.instance;
      lb.updateInstance('svc', id, {
        activeConnections: activeConnections + 1,
      });
      return id;
    };
    const close = (id: string) =>
      lb.updateInstance('svc', id, {
        activeConnections: lb.getInstance('svc', id)!.activeConnections - 1,
      });
    expect([open(), open(), open(), open()]).toEqual(['a', 'b', 'c', 'a']);
    // a: 2, b: 1, c: 1
    close('b');
    expect(open()).toBe('b'); // the only one at 0
    expect(open()).toBe('c'); // b and c at 1: c waited longer
    close('a');
    close('a');
    // a: 0, b: 1, c: 2; then a and b tie at 1 and b waited longer
    expect([open(), open()]).toEqual(['a', 'b']);
    expect(lb.getInstances('svc').map(i => i.activeConnections)).toEqual([
      1, 2, 2,
    ]);
  });

  it('flags panic routing and ends it when instances recover', () => {
    const lb = LoadBalancer.create();
    lb.setInstances('svc', [
      instance('a'),
      instance('b', { ejectedUntil: NOW + 1000 }),
      instance('c', { ejectedUntil: NOW + 2000 }),
      instance('d', { ready: false }),
    ]);
    const first = lb.pick('svc', 'round-robin', {}, NOW);
    expect(first).toEqual({
      instance: lb.getInstance('svc', 'a'),
      panic: true,
    });
    // panic takes the ejected instances, never the unready d
    expect(picks(lb, 'round-robin', 5)).toBe('b,c,a,b,c');
    // b's ejection ends: 2 of 4 eligible
    expect(lb.pick('svc', 'round-robin', {}, NOW + 1000)).toEqual({
      instance: lb.getInstance('svc', 'a'),
      panic: false,
    });
    expect(picks(lb, 'round-robin', 3, NOW + 1000)).toBe('b,a,b');
  });

  it.each(LOAD_BALANCING_STRATEGIES)(
    '%s never routes to an unready instance, and picks nothing when none is ready',
    strategy => {
      const lb = LoadBalancer.create();
      lb.setInstances('svc', [
        instance('a', { ready: false, weight: 10 }),
        instance('b', { ready: false, ejectedUntil: NOW + 1000 }),
        instance('c', { ready: false, healthScore: 1 }),
      ]);
      const pickOnce = (k: number, now = NOW) =>
        lb.pick('svc', strategy, { ip: `10.3.${k >> 8}.${k & 255}` }, now);
      for (let k = 0; k < 100; k++) {
        expect(pickOnce(k)).toBeUndefined();
        expect(lb.pick('svc', strategy, {}, NOW)).toBeUndefined();
      }
      // ready but ejected: panic routes to it, and only to it
      lb.updateInstance('svc', 'c', { ejectedUntil: NOW + 1000 });
      lb.updateInstance('svc', 'b', { ready: true });
      for (let k = 0; k < 100; k++) {
        expect(pickOnce(k)).toEqual({
          instance: lb.getInstance('svc', 'b'),
          panic: true,
        });
      }
      // when the ejections end, b is 1 of 3 eligible: still panic, still b
      for (let k = 0; k < 100; k++) {
        expect(pickOnce(k, NOW + 1000)?.instance.id).toBe('b');
      }
      lb.updateInstance('svc', 'b', { ready: false });
      expect(pickOnce(0, NOW + 1000)).toBeUndefined();
      expect(pickOnce(0, NOW)).toBeUndefined();
    },
  );

  it('in panic never picks an unready instance, under any strategy', () => {
    const arbitraryInstance = fc.record({
      weight: fc.constantFrom(0, 1, 2, 5),
      activeConnections: fc.integer({ min: 0, max: 3 }),
      maxConnections: fc.option(fc.integer({ min: 0, max: 3 }), {
        nil: undefined,
      }),
      healthScore: fc.option(fc.constantFrom(0, 0.5, 1), { nil: undefined }),
      ready: fc.boolean(),
      ejectedUntil: fc.option(fc.constantFrom(NOW - 1, NOW + 1, NOW + 100), {
        nil: undefined,
      }),
    });
    fc.assert(
      fc.property(
        fc.array(arbitraryInstance, { minLength: 1, maxLength: 12 }),
        fc.constantFrom(0, 0.3, 0.5, 1),
        fc.constantFrom(...LOAD_BALANCING_STRATEGIES),
        (fields, panicThreshold, strategy) => {
          const instances = fields.map((f, i) => {
            const copy: BalancedInstance = { id: `i${i}`, ...f };
            if (f.maxConnections === undefined) delete copy.maxConnections;
            if (f.healthScore === undefined) delete copy.healthScore;
            if (f.ejectedUntil === undefined) delete copy.ejectedUntil;
            return copy;
          });
          const lb = LoadBalancer.create({ panicThreshold });
          lb.setInstances('svc', instances);
          const routable = routableInstances(instances, NOW, panicThreshold);
          // health-weighted with panic off has nothing for eligible
          // instances that all score 0
          const healthless =
            strategy === 'health-weighted' &&
            panicThreshold === 0 &&
            routable?.instances.every(i => (i.healthScore ?? 1) === 0);
          const results = Array.from({ length: 3 * instances.length }, (_, k) =>
            lb.pick('svc', strategy, { ip: `10.4.0.${k}` }, NOW),
          );
          const none = !routable || !!healthless;
          expect(results.filter(r => (r === undefined) !== none)).toEqual([]);
          const picked = results.filter(r => r !== undefined);
          // never unready or drained, in any mode
          expect(
            picked.filter(r => !r.instance.ready || r.instance.weight <= 0),
          ).toEqual([]);
          // ejected instances only in panic
          expect(
            picked.filter(r => !r.panic && isEjected(r.instance, NOW)),
          ).toEqual([]);
          // in panic, only the ready panic candidates
          const allowed = new Set(routable?.instances.map(i => i.id));
          expect(
            picked.filter(
              r => routable?.panic && (!r.panic || !allowed.has(r.instance.id)),
            ),
          ).toEqual([]);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('reads the clock when no time is given', () => {
    const lb = LoadBalancer.create({ panicThreshold: 0 });
    lb.setInstances('svc', [
      instance('later', { ejectedUntil: Date.now() + 60_000 }),
      instance('earlier', { ejectedUntil: Date.now() - 1 }),
    ]);
    expect(lb.pick('svc', 'round-robin', {})?.instance.id).toBe('earlier');
    expect(lb.pick('svc', 'round-robin', {})?.instance.id).toBe('earlier');
  });

  it('panics for health-weighted when every eligible instance scores 0, unless panic is off', () => {
    const instances = [
      instance('a', { healthScore: 0 }),
      instance('b', { healthScore: 0, weight: 3 }),
      instance('c', { ready: false, weight: 10 }), // healthy, heavy, unready
    ];
    const lb = LoadBalancer.create();
    lb.setInstances('svc', instances);
    const result = lb.pick('svc', 'health-weighted', {}, NOW);
    expect(result).toEqual({
      instance: lb.getInstance('svc', 'b'),
      panic: true,
    });
    expect(
      Array.from(
        { length: 8 },
        () => lb.pick('svc', 'health-weighted', {}, NOW)?.instance.id,
      ).join(','),
    ).toBe('a,b,b,b,a,b,b,b'); // weights 3 : 1, never c

    const strict = LoadBalancer.create({ panicThreshold: 0 });
    strict.setInstances('svc', instances);
    expect(strict.pick('svc', 'health-weighted', {}, NOW)).toBeUndefined();
    expect(strict.pick('svc', 'round-robin', {}, NOW)?.panic).toBe(false);
  });

  it('does not allocate a result per pick', () => {
    const lb = LoadBalancer.create();
    lb.setInstances('svc', [instance('a')]);
    const first = lb.pick('svc', 'ip-hash', { ip: '10.1.2.3' }, NOW);
    expect(lb.pick('svc', 'ip-hash', { ip: '10.9.9.9' }, NOW)).toBe(first);
    expect(Object.isFrozen(first)).toBe(true);
    expect(Object.isFrozen(first!.instance)).toBe(true);
  });

  it('keeps the strategies’ state when the same instances come again', () => {
    const lb = LoadBalancer.create();
    const instances = [
      instance('a', { weight: 5 }),
      instance('b'),
      instance('c'),
    ];
    lb.setInstances('svc', instances);
    expect(picks(lb, 'weighted-round-robin', 3)).toBe('a,a,b');
    lb.setInstances('svc', [...instances].reverse());
    expect(picks(lb, 'weighted-round-robin', 4)).toBe('a,c,a,a');

    lb.setInstances('svc', [
      instance('a', { weight: 5, activeConnections: 7 }),
      instance('b', { maxConnections: 0 }),
      instance('c'),
    ]);
    expect(lb.getInstance('svc', 'a')!.activeConnections).toBe(7);
    expect(picks(lb, 'weighted-round-robin', 7)).not.toContain('b');

    lb.setInstances('svc', [
      instance('a', { weight: 5 }),
      instance('b'),
      instance('d'),
    ]);
    expect(picks(lb, 'weighted-round-robin', 7)).toBe('a,a,b,a,d,a,a');
  });

  it('keeps each client on its instance when setInstances changes only live fields', () => {
    const lb = LoadBalancer.create();
    const ids = Array.from({ length: 20 }, (_, i) => `i${i}`);
    lb.setInstances(
      'svc',
      ids.map(id => instance(id)),
    );
    const ips = Array.from(
      { length: 500 },
      (_, k) => `10.2.${k >> 8}.${k & 255}`,
    );
    const owner = (ip: string) =>
      lb.pick('svc', 'ip-hash', { ip }, NOW)!.instance.id;
    const before = ips.map(owner);
    lb.setInstances(
      'svc',
      ids.map(id => instance(id, { activeConnections: 3, healthScore: 0.5 })),
    );
    expect(ips.map(owner)).toEqual(before);
  });

  it('changes live fields with updateInstance', () => {
    const lb = LoadBalancer.create();
    lb.setInstances('svc', [instance('a'), instance('b')]);
    expect(lb.updateInstance('svc', 'a', { weight: 3 })).toBe(true);
    expect(picks(lb, 'weighted-round-robin', 4)).toBe('a,a,b,a');
    lb.updateInstance('svc', 'b', { maxConnections: 2, activeConnections: 2 });
    expect(picks(lb, 'weighted-round-robin', 2)).toBe('a,a');
    expect(lb.getInstance('svc', 'b')).toEqual(
      instance('b', { maxConnections: 2, activeConnections: 2 }),
    );
    lb.updateInstance('svc', 'b', { maxConnections: undefined });
    expect(lb.getInstance('svc', 'b')).toEqual(
      instance('b', { activeConnections: 2 }),
    );
    expect(lb.updateInstance('svc', 'zzz', { weight: 1 })).toBe(false);
    expect(lb.updateInstance('nope', 'a', { weight: 1 })).toBe(false);
  });

  it('rejects bad values with an InputError and changes nothing', () => {
    const lb = LoadBalancer.create();
    lb.setInstances('svc', [instance('a'), instance('b')]);
    expect(() => lb.updateInstance('svc', 'a', { weight: -1 })).toThrow(
      InputError,
    );
    expect(() =>
      lb.setInstances('svc', [instance('a'), instance('b', { weight: NaN })]),
    ).toThrow('Instance "b" has an invalid weight NaN');
    expect(() =>
      lb.setInstances('svc', [instance('a'), instance('c', { weight: -3 })]),
    ).toThrow(InputError);
    expect(lb.getInstances('svc')).toEqual([instance('a'), instance('b')]);
    expect(() =>
      lb.pick('svc', 'fastest' as LoadBalancingStrategy, {}),
    ).toThrow('Unknown load balancing strategy "fastest"');
    expect(() => LoadBalancer.create({ panicThreshold: -1 })).toThrow(
      InputError,
    );
    expect(() => LoadBalancer.create({ virtualNodes: 0 })).toThrow(InputError);
  });
});
