import { InputError } from '@backstage/errors';
import { ConsistentHash } from './hashRing';
import { InstancePool, Strategy } from './InstancePool';
import { LeastConnections } from './leastConnections';
import { RoundRobin } from './roundRobin';
import { SmoothWeighted } from './smoothWeighted';
import {
  BalancedInstance,
  ClientInfo,
  LOAD_BALANCING_STRATEGIES,
  LoadBalancingOptions,
  LoadBalancingStrategy,
  PickResult,
  Picker,
} from './types';

/** Builds a strategy's state over a pool; throws on an unknown strategy. */
export function createStrategy(
  strategy: LoadBalancingStrategy,
  pool: InstancePool,
): Strategy {
  switch (strategy) {
    case 'round-robin':
      return new RoundRobin(pool);
    case 'weighted-round-robin':
      return new SmoothWeighted(pool, { health: false });
    case 'least-connections':
      return new LeastConnections(pool);
    case 'ip-hash':
      return new ConsistentHash(pool);
    case 'health-weighted':
      return new SmoothWeighted(pool, { health: true });
    default:
      throw new InputError(
        `Unknown load balancing strategy ${JSON.stringify(
          strategy,
        )}; expected one of ${LOAD_BALANCING_STRATEGIES.join(', ')}`,
      );
  }
}

/**
 * One pick: decides normal or panic routing at `now`, then lets the
 * strategy choose among the instances that routing allows.
 */
export function pickFrom(
  pool: InstancePool,
  strategy: Strategy,
  client: ClientInfo,
  now: number,
): PickResult {
  const mode = pool.mode(now);
  if (mode === 'none') return undefined;
  if (mode === 'normal') {
    const index = strategy.pick(client, false);
    if (index >= 0) return pool.result(index, false);
    // Only health-weighted gets here, when every eligible instance has a
    // health score of 0: as good as none eligible, so panic if allowed.
    if (pool.options.panicThreshold === 0) return undefined;
  }
  const index = strategy.pick(client, true);
  return index >= 0 ? pool.result(index, true) : undefined;
}

/**
 * Binds a strategy to a snapshot of instances. The instances are validated
 * and copied: changing them afterwards does not affect the picker (keep a
 * {@link LoadBalancer} for instances that change).
 *
 * Throws an `InputError` for an unknown strategy, a bad option or a bad
 * instance (such as a negative or NaN weight, or a duplicate id).
 *
 * @public
 */
export function createPicker(
  strategy: LoadBalancingStrategy,
  instances: readonly BalancedInstance[],
  options?: LoadBalancingOptions,
): Picker {
  const pool = InstancePool.create(instances, options);
  const state = createStrategy(strategy, pool);
  return {
    pick(client: ClientInfo, now: number): BalancedInstance | undefined {
      return pickFrom(pool, state, client, now)?.instance;
    },
  };
}
