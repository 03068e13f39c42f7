import {
  DEFAULT_PANIC_THRESHOLD,
  hasCapacity,
  isEjected,
  isEligible,
  isPanicCandidate,
  routableInstances,
  routingMode,
} from './eligibility';
import { BalancedInstance } from './types';

const NOW = 1_000_000;

function instance(
  id: string,
  fields: Partial<BalancedInstance> = {},
): BalancedInstance {
  return { id, weight: 1, activeConnections: 0, ready: true, ...fields };
}

describe('eligibility', () => {
  it('lets a ready, unejected, weighted instance with room take traffic', () => {
    expect(isEligible(instance('a'), NOW)).toBe(true);
    expect(
      isEligible(
        instance('a', {
          maxConnections: 10,
          activeConnections: 9,
          ejectedUntil: NOW,
        }),
        NOW,
      ),
    ).toBe(true);
  });

  it.each([
    ['not ready', { ready: false }],
    ['ejected', { ejectedUntil: NOW + 1 }],
    ['at capacity', { maxConnections: 3, activeConnections: 3 }],
    ['over capacity', { maxConnections: 3, activeConnections: 5 }],
    ['with no capacity at all', { maxConnections: 0 }],
    ['drained', { weight: 0 }],
  ])('keeps an instance that is %s out', (_, fields) => {
    expect(isEligible(instance('a', fields), NOW)).toBe(false);
  });

  it('ends an ejection at ejectedUntil', () => {
    const ejected = instance('a', { ejectedUntil: NOW });
    expect(isEjected(ejected, NOW - 1)).toBe(true);
    expect(isEjected(ejected, NOW)).toBe(false);
  });

  it('in panic allows ejected instances, but never unready, full or drained ones', () => {
    expect(isPanicCandidate(instance('a', { ready: false }))).toBe(false);
    expect(
      isPanicCandidate(instance('a', { ready: false, ejectedUntil: Infinity })),
    ).toBe(false);
    expect(isPanicCandidate(instance('a', { ejectedUntil: Infinity }))).toBe(
      true,
    );
    expect(
      isPanicCandidate(
        instance('a', { maxConnections: 1, activeConnections: 1 }),
      ),
    ).toBe(false);
    expect(isPanicCandidate(instance('a', { weight: 0 }))).toBe(false);
    expect(hasCapacity(instance('a', { maxConnections: 2 }))).toBe(true);
  });
});

describe('routingMode', () => {
  it('uses Envoy’s 50% by default', () => {
    expect(DEFAULT_PANIC_THRESHOLD).toBe(0.5);
  });

  it.each([
    // eligible, candidates, total, threshold, mode
    [4, 4, 4, 0.5, 'normal'],
    [2, 4, 4, 0.5, 'normal'], // exactly at the threshold is not below it
    [1, 4, 4, 0.5, 'panic'],
    [0, 4, 4, 0.5, 'panic'],
    [0, 0, 4, 0.5, 'none'], // everything full
    [0, 0, 0, 0.5, 'none'], // no instances
    [1, 4, 4, 0, 'normal'], // panic disabled
    [0, 4, 4, 0, 'none'],
    [3, 4, 4, 1, 'panic'],
  ] as const)(
    '%i eligible, %i candidates of %i at %f → %s',
    (eligible, candidates, total, threshold, mode) => {
      expect(routingMode(eligible, candidates, total, threshold)).toBe(mode);
    },
  );
});

describe('routableInstances', () => {
  it('returns the eligible instances while enough are eligible', () => {
    const instances = [
      instance('a'),
      instance('b', { ready: false }),
      instance('c'),
    ];
    expect(routableInstances(instances, NOW)).toEqual({
      instances: [instances[0], instances[2]],
      panic: false,
    });
  });

  it('panics to every ready instance with room, ejected or not, when too few are eligible', () => {
    const instances = [
      instance('a'),
      instance('b', { ejectedUntil: NOW + 1 }),
      instance('c', { ejectedUntil: NOW + 5 }),
      instance('d', { ejectedUntil: NOW + 5, ready: false }),
      instance('e', { ready: false }),
      instance('f', {
        ejectedUntil: NOW + 5,
        maxConnections: 1,
        activeConnections: 1,
      }),
    ];
    // 1 of 6 eligible; the unready and the full instances stay out
    expect(routableInstances(instances, NOW)).toEqual({
      instances: instances.slice(0, 3),
      panic: true,
    });
  });

  it('never routes to an unready instance, even in panic', () => {
    const ejected = instance('ejected', { ejectedUntil: NOW + 5 });
    const unready = [
      instance('u1', { ready: false }),
      instance('u2', { ready: false, ejectedUntil: NOW + 5 }),
      instance('u3', { ready: false, healthScore: 1, weight: 10 }),
    ];
    // 0 of 4 eligible: panic, but only to the ready one
    expect(routableInstances([...unready, ejected], NOW)).toEqual({
      instances: [ejected],
      panic: true,
    });
    // no ready instance at all: nothing, at any threshold
    for (const threshold of [0, 0.5, 1]) {
      expect(routableInstances(unready, NOW, threshold)).toBeUndefined();
    }
    expect(routingMode(0, 0, 3, 0.5)).toBe('none');
  });

  it('does not count drained instances against the threshold', () => {
    const instances = [
      instance('a'),
      instance('b', { weight: 0 }),
      instance('c', { weight: 0 }),
    ];
    expect(routableInstances(instances, NOW)).toEqual({
      instances: [instances[0]],
      panic: false,
    });
  });

  it('returns undefined when nothing can take traffic', () => {
    expect(routableInstances([], NOW)).toBeUndefined();
    expect(
      routableInstances(
        [instance('a', { maxConnections: 0 }), instance('b', { weight: 0 })],
        NOW,
      ),
    ).toBeUndefined();
    expect(
      routableInstances([instance('a', { ready: false })], NOW, 0),
    ).toBeUndefined();
  });
});
