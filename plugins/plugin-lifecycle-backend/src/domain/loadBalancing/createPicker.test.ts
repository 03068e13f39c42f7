import { InputError } from '@backstage/errors';
import { createPicker } from './createPicker';
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

function sequence(
  strategy: LoadBalancingStrategy,
  instances: BalancedInstance[],
  count: number,
) {
  const picker = createPicker(strategy, instances);
  return Array.from(
    { length: count },
    (_, k) => picker.pick({ ip: `10.0.0.${k}` }, NOW)?.id ?? '-',
  ).join(',');
}

describe('createPicker', () => {
  it('builds each strategy', () => {
    const instances = [
      instance('a', { weight: 5, activeConnections: 10 }), // 2 per unit of weight
      instance('b', { activeConnections: 1 }),
      instance('c', { healthScore: 0, activeConnections: 2 }),
    ];
    expect(sequence('round-robin', instances, 4)).toBe('a,b,c,a');
    expect(sequence('weighted-round-robin', instances, 7)).toBe(
      'a,a,b,a,c,a,a',
    );
    expect(sequence('least-connections', instances, 2)).toBe('b,b');
    expect(sequence('health-weighted', instances, 6)).toBe('a,a,a,b,a,a'); // 5 : 1 : 0
    expect(sequence('ip-hash', instances, 40).split(',').sort()[0]).toBe('a');
  });

  it.each(LOAD_BALANCING_STRATEGIES)(
    '%s gives nothing to ejected, unready, full or drained instances',
    strategy => {
      const instances = [
        instance('ejected', { ejectedUntil: NOW + 1 }),
        instance('unready', { ready: false }),
        instance('full', { maxConnections: 4, activeConnections: 4 }),
        instance('drained', { weight: 0 }),
        instance('ok-1'),
        instance('ok-2', { ejectedUntil: NOW }), // its ejection just ended
        instance('ok-3'),
        instance('ok-4'),
      ];
      const picker = createPicker(strategy, instances);
      const seen = new Set<string>();
      for (let k = 0; k < 400; k++) {
        seen.add(picker.pick({ ip: `192.168.${k >> 8}.${k & 255}` }, NOW)!.id);
      }
      expect([...seen].filter(id => !id.startsWith('ok')).sort()).toEqual([]);
    },
  );

  it.each(LOAD_BALANCING_STRATEGIES)(
    '%s panics to every ready instance with room when too few are eligible',
    strategy => {
      const instances = [
        instance('ok'),
        instance('ejected-1', { ejectedUntil: NOW + 1 }),
        instance('ejected-2', { ejectedUntil: NOW + 60_000, healthScore: 0 }),
        instance('unready', { ready: false, weight: 10 }),
        instance('unready-ejected', { ready: false, ejectedUntil: NOW + 1 }),
        instance('full', { maxConnections: 1, activeConnections: 1 }),
      ];
      // 1 of 6 eligible: panic
      const picker = createPicker(strategy, instances);
      const seen = new Set<string>();
      for (let k = 0; k < 400; k++) {
        seen.add(picker.pick({ ip: `172.16.${k >> 8}.${k & 255}` }, NOW)!.id);
      }
      expect([...seen].sort()).toEqual(['ejected-1', 'ejected-2', 'ok']);
    },
  );

  it.each(LOAD_BALANCING_STRATEGIES)(
    '%s picks nothing when no instance is ready, even in panic',
    strategy => {
      const instances = [
        instance('unready', { ready: false }),
        instance('unready-ejected', { ready: false, ejectedUntil: NOW + 1 }),
        instance('unready-heavy', { ready: false, weight: 10, healthScore: 1 }),
        instance('full', { maxConnections: 1, activeConnections: 1 }),
      ];
      for (const panicThreshold of [0.5, 1]) {
        const picker = createPicker(strategy, instances, { panicThreshold });
        for (let k = 0; k < 50; k++) {
          expect(picker.pick({ ip: `172.17.0.${k}` }, NOW)).toBeUndefined();
          expect(picker.pick({}, NOW)).toBeUndefined();
        }
      }
      // one ready instance is enough, ejected or not: panic picks it
      const revived = [
        ...instances,
        instance('ready-ejected', { ejectedUntil: NOW + 1 }),
      ];
      const picker = createPicker(strategy, revived);
      for (let k = 0; k < 50; k++) {
        expect(picker.pick({ ip: `172.17.1.${k}` }, NOW)?.id).toBe(
          'ready-ejected',
        );
      }
    },
  );

  it('returns undefined when no instance can take traffic', () => {
    for (const strategy of LOAD_BALANCING_STRATEGIES) {
      expect(createPicker(strategy, []).pick({}, NOW)).toBeUndefined();
      const full = [
        instance('a', { maxConnections: 0 }),
        instance('b', { weight: 0 }),
      ];
      expect(
        createPicker(strategy, full).pick({ ip: '::1' }, NOW),
      ).toBeUndefined();
      const down = [instance('a', { ready: false })];
      expect(
        createPicker(strategy, down, { panicThreshold: 0 }).pick({}, NOW),
      ).toBeUndefined();
    }
  });

  it('does not see later changes to its input', () => {
    const instances = [instance('a'), instance('b')];
    const picker = createPicker('round-robin', instances);
    instances[0].ready = false;
    expect(picker.pick({}, NOW)?.id).toBe('a');
  });

  it.each([
    ['a negative weight', { weight: -1 }, 'weight -1'],
    ['a NaN weight', { weight: NaN }, 'weight NaN'],
    [
      'a NaN connection count',
      { activeConnections: NaN },
      'activeConnections NaN',
    ],
    ['a health score above 1', { healthScore: 2 }, 'healthScore 2'],
  ])('throws a clear InputError for %s', (_, fields, message) => {
    for (const strategy of LOAD_BALANCING_STRATEGIES) {
      const create = () =>
        createPicker(strategy, [instance('ok'), instance('bad', fields)]);
      expect(create).toThrow(InputError);
      expect(create).toThrow(
        `Instance "bad" has an invalid ${message}: it must`,
      );
    }
  });

  it('throws an InputError for an unknown strategy or a bad option', () => {
    expect(() =>
      createPicker('random' as LoadBalancingStrategy, [instance('a')]),
    ).toThrow(
      'Unknown load balancing strategy "random"; expected one of round-robin, weighted-round-robin, least-connections, ip-hash, health-weighted',
    );
    expect(() =>
      createPicker('round-robin', [instance('a')], { panicThreshold: 1.5 }),
    ).toThrow(InputError);
  });
});
