import { createStrategy, pickFrom } from './createPicker';
import {
  InstancePatch,
  InstancePool,
  LIVE_FIELDS,
  ResolvedOptions,
  Strategy,
  resolveOptions,
  validateInstances,
} from './InstancePool';
import {
  BalancedInstance,
  ClientInfo,
  LoadBalancingOptions,
  LoadBalancingStrategy,
  PickResult,
} from './types';

interface Service {
  pool: InstancePool;
  roundRobin?: Strategy;
  weightedRoundRobin?: Strategy;
  leastConnections?: Strategy;
  ipHash?: Strategy;
  healthWeighted?: Strategy;
}

/**
 * Picks an instance of a service for each request. It holds one snapshot of
 * instances per service and, per strategy in use, that strategy's state
 * (rotation positions, smooth weights, the hash ring), built on first use.
 *
 * Every strategy routes only to eligible instances (ready, not ejected,
 * under maxConnections, weight above 0) unless fewer than `panicThreshold`
 * of them are eligible: then it routes to every ready instance with spare
 * capacity, ejected or not, and says so with `panic: true`. Panic relaxes
 * passive outlier ejection only, never readiness: an instance that is not
 * ready gets nothing, and a service with no ready instance gets no pick
 * (`undefined`). With health-weighted, an instance whose healthScore is 0
 * gets nothing; if that is all of them, the pick panics too (unless panic
 * routing is disabled).
 *
 * Connection counts, health scores and ejections are whatever the caller
 * reports through {@link LoadBalancer.updateInstance}; picking changes none
 * of them. Picks do not allocate and cost well under a microsecond at
 * 1,000 instances (see bench/loadBalancing): O(1) for round robin, O(log n)
 * for least connections, O(sqrt n) for the smooth weighted ones and a
 * hash plus a short search for ip-hash, whose ring is rebuilt (tens of ms
 * at 1,000 instances) on the first pick after a weight changes.
 *
 * @public
 */
export class LoadBalancer {
  readonly #options: ResolvedOptions;
  readonly #services = new Map<string, Service>();

  /** Throws an `InputError` for an option out of range. */
  static create(options?: LoadBalancingOptions): LoadBalancer {
    return new LoadBalancer(resolveOptions(options));
  }

  private constructor(options: ResolvedOptions) {
    this.#options = options;
  }

  /**
   * Replaces the instances of a service. When the ids are the same as
   * before (in any order), the instances are updated in place and the
   * strategies keep their state; the hash ring is rebuilt only if a weight
   * changed. A different set of ids starts the service afresh. An empty
   * list keeps the service with nothing to pick.
   *
   * Throws an `InputError` for a bad instance, changing nothing.
   */
  setInstances(
    serviceName: string,
    instances: readonly BalancedInstance[],
  ): void {
    validateInstances(instances);
    const service = this.#services.get(serviceName);
    if (service && sameIds(service.pool, instances)) {
      for (const instance of instances) {
        const index = service.pool.indexOf(instance.id);
        const patch = changes(service.pool.instance(index), instance);
        if (patch) service.pool.update(index, patch);
      }
      return;
    }
    this.#services.set(serviceName, {
      pool: InstancePool.create(instances, this.#options),
    });
  }

  /** Forgets a service; true if it was known. */
  removeService(serviceName: string): boolean {
    return this.#services.delete(serviceName);
  }

  /**
   * Chooses the instance for one request, or `undefined` when the service
   * is unknown or none of its instances can take the request.
   *
   * @param client - read by ip-hash only
   * @param now - ms since the epoch; decides which ejections have expired
   */
  pick(
    serviceName: string,
    strategy: LoadBalancingStrategy,
    client: ClientInfo,
    now: number = Date.now(),
  ): PickResult {
    const service = this.#services.get(serviceName);
    if (!service) return undefined;
    return pickFrom(service.pool, strategyOf(service, strategy), client, now);
  }

  /**
   * Changes the live fields of one instance, such as its connection count
   * as the proxy opens and closes connections, its weight, health score or
   * ejection. Returns false if the service or instance is unknown (it may
   * have been removed since it was picked).
   *
   * Throws an `InputError` for a bad value, changing nothing.
   */
  updateInstance(
    serviceName: string,
    id: string,
    patch: InstancePatch,
  ): boolean {
    const pool = this.#services.get(serviceName)?.pool;
    const index = pool ? pool.indexOf(id) : -1;
    if (!pool || index < 0) return false;
    pool.update(index, patch);
    return true;
  }

  /** The current state of one instance, a frozen snapshot. */
  getInstance(serviceName: string, id: string): BalancedInstance | undefined {
    const pool = this.#services.get(serviceName)?.pool;
    const index = pool ? pool.indexOf(id) : -1;
    return pool && index >= 0 ? pool.instance(index) : undefined;
  }

  /** The current instances of a service, frozen snapshots. */
  getInstances(serviceName: string): readonly BalancedInstance[] {
    return this.#services.get(serviceName)?.pool.instances() ?? [];
  }
}

// A switch on the strategy, not a Map, keeps the hot path free of hashing.
function strategyOf(
  service: Service,
  strategy: LoadBalancingStrategy,
): Strategy {
  const { pool } = service;
  switch (strategy) {
    case 'round-robin':
      return (service.roundRobin ??= createStrategy(strategy, pool));
    case 'weighted-round-robin':
      return (service.weightedRoundRobin ??= createStrategy(strategy, pool));
    case 'least-connections':
      return (service.leastConnections ??= createStrategy(strategy, pool));
    case 'ip-hash':
      return (service.ipHash ??= createStrategy(strategy, pool));
    case 'health-weighted':
      return (service.healthWeighted ??= createStrategy(strategy, pool));
    default:
      return createStrategy(strategy, pool); // throws the InputError
  }
}

function sameIds(pool: InstancePool, instances: readonly BalancedInstance[]) {
  return (
    pool.size === instances.length &&
    instances.every(instance => pool.indexOf(instance.id) >= 0)
  );
}

/** The live fields that differ, or undefined. */
function changes(
  current: BalancedInstance,
  next: BalancedInstance,
): InstancePatch | undefined {
  let patch: Record<string, unknown> | undefined;
  for (const key of LIVE_FIELDS) {
    if (!Object.is(current[key], next[key])) {
      patch ??= {};
      patch[key] = next[key];
    }
  }
  return patch as InstancePatch | undefined;
}
