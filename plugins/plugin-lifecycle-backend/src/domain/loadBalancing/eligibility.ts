import { BalancedInstance } from './types';

/**
 * Envoy's default panic threshold: panic routing starts when fewer than half
 * of the instances are eligible.
 *
 * @public
 */
export const DEFAULT_PANIC_THRESHOLD = 0.5;

/**
 * Whether the instance can take one more connection.
 *
 * @public
 */
export function hasCapacity(instance: BalancedInstance): boolean {
  return (
    instance.maxConnections === undefined ||
    instance.activeConnections < instance.maxConnections
  );
}

/**
 * Whether passive outlier ejection keeps the instance out at `now`.
 *
 * @public
 */
export function isEjected(instance: BalancedInstance, now: number): boolean {
  return instance.ejectedUntil !== undefined && instance.ejectedUntil > now;
}

/**
 * Whether the instance may receive traffic at `now` in normal routing: it is
 * ready, not ejected, under its connection limit and not drained (weight 0).
 *
 * @public
 */
export function isEligible(instance: BalancedInstance, now: number): boolean {
  return (
    instance.ready &&
    instance.weight > 0 &&
    !isEjected(instance, now) &&
    hasCapacity(instance)
  );
}

/**
 * Whether the instance may receive traffic in panic routing: a ready
 * instance that is not drained and not at its connection limit, ejected or
 * not. Panic overrides passive outlier ejection (a proxy that sees errors
 * everywhere must not empty the pool), never a failed readiness probe: an
 * instance that says it is not ready gets no traffic, and a service with no
 * ready instance answers 503. A full instance is skipped even then, since
 * sending it more cannot help.
 *
 * @public
 */
export function isPanicCandidate(instance: BalancedInstance): boolean {
  return instance.ready && instance.weight > 0 && hasCapacity(instance);
}

/**
 * How a pick routes, from the counts of a service's instances.
 *
 * `total` counts the instances that are not drained: draining is deliberate,
 * so like Envoy's excluded hosts it must not push a service into panic.
 *
 * @param eligible - instances for which {@link isEligible} holds
 * @param candidates - instances for which {@link isPanicCandidate} holds
 * @param total - instances with a weight above 0
 * @public
 */
export function routingMode(
  eligible: number,
  candidates: number,
  total: number,
  panicThreshold: number,
): 'normal' | 'panic' | 'none' {
  if (eligible < panicThreshold * total) {
    return candidates > 0 ? 'panic' : 'none';
  }
  return eligible > 0 ? 'normal' : 'none';
}

/**
 * The instances a strategy may choose from at `now`, and whether that is
 * panic routing; `undefined` when there is none.
 *
 * This is the plain statement of the rules. The pickers keep the same answer
 * up to date incrementally instead of scanning every instance on each pick.
 *
 * @public
 */
export function routableInstances(
  instances: readonly BalancedInstance[],
  now: number,
  panicThreshold: number = DEFAULT_PANIC_THRESHOLD,
): { instances: BalancedInstance[]; panic: boolean } | undefined {
  const eligible = instances.filter(i => isEligible(i, now));
  const candidates = instances.filter(isPanicCandidate);
  const total = instances.filter(i => i.weight > 0).length;
  switch (
    routingMode(eligible.length, candidates.length, total, panicThreshold)
  ) {
    case 'normal':
      return { instances: eligible, panic: false };
    case 'panic':
      return { instances: candidates, panic: true };
    default:
      return undefined;
  }
}
