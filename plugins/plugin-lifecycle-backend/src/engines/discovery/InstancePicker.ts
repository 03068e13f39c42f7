import {
  InputError,
  NotFoundError,
  ServiceUnavailableError,
} from '@backstage/errors';
import {
  ResolvedService,
  SERVICE_LOAD_BALANCING_STRATEGIES,
  LoadBalancingStrategy as DesignStrategyNames,
  ServiceLoadBalancingStrategy,
} from '@internal/plugin-lifecycle-common';
import {
  ClientInfo,
  LOAD_BALANCING_STRATEGIES,
  LoadBalancingStrategy,
  PickResult,
  hasCapacity,
  isEjected,
  isEligible,
  matchesRequest,
} from '../../domain/loadBalancing';
import { TenantScope, inTenantScope } from '../../domain/tenancy';
import { PickOptions } from './discoveryTypes';
import { DiscoveryView, Pool } from './DiscoveryView';

const KNOWN_STRATEGIES: ReadonlySet<string> = new Set<LoadBalancingStrategy>(
  // The common package lists the strategies for the HTTP schemas; these
  // two checks keep its list and the balancer's the same.
  SERVICE_LOAD_BALANCING_STRATEGIES satisfies readonly LoadBalancingStrategy[],
);
const STRATEGY_NAMES = (
  LOAD_BALANCING_STRATEGIES satisfies readonly ServiceLoadBalancingStrategy[]
).join(', ');

const BY_KEY_NAME: ReadonlyMap<string, string> = new Map(
  Object.entries(DesignStrategyNames),
);

/**
 * The strategy a name stands for: its value (`health-weighted`) or its key
 * name (`HEALTH_WEIGHTED`). Throws an `InputError` naming the strategies
 * for an unknown one.
 */
export function checkStrategy(name: string): LoadBalancingStrategy {
  const strategy = BY_KEY_NAME.get(name) ?? name;
  if (!KNOWN_STRATEGIES.has(strategy)) {
    throw new InputError(
      `Unknown load balancing strategy ${JSON.stringify(
        strategy,
      )}; expected one of ${STRATEGY_NAMES}`,
    );
  }
  return strategy as LoadBalancingStrategy;
}

function unavailable(message: string) {
  return new ServiceUnavailableError(message);
}

/**
 * Which instance takes one request: the caller's pool of the name (by
 * tenant), then, when its traffic is split, a version subset by weight, then
 * an instance of it by the strategy; with the reason in a 503 when none can
 * take it.
 */
export class InstancePicker {
  readonly #view: DiscoveryView;
  readonly #defaultStrategy: LoadBalancingStrategy;
  readonly #defaultTenant: string;
  readonly #now: () => number;

  constructor(options: {
    view: DiscoveryView;
    defaultStrategy: LoadBalancingStrategy;
    defaultTenant: string;
    clock: () => number;
  }) {
    this.#view = options.view;
    this.#defaultStrategy = options.defaultStrategy;
    this.#defaultTenant = options.defaultTenant;
    this.#now = options.clock;
  }

  /** Picks the instance for one request (see {@link ServiceDiscovery.pickInstance}). */
  pick(
    serviceName: string,
    client: ClientInfo,
    options: PickOptions,
  ): ResolvedService {
    const pool = this.poolFor(serviceName, options.scope, options.tenant);
    const strategy =
      options.strategy === undefined
        ? pool.strategy ?? this.#defaultStrategy
        : checkStrategy(options.strategy);
    if (pool.ids.length === 0 || pool.routableCount === 0) {
      throw unavailable(this.whyUnavailable(pool, this.#now()));
    }
    const now = this.#now();
    const exclude = options.exclude;
    let result: PickResult = undefined;
    if (pool.subsets && pool.splitter) {
      const { subsets, splitter } = pool;
      const tryIn = (key: string) => {
        const subset = subsets.find(s => s.key === key);
        if (!subset || subset.ids.length === 0) return undefined;
        return this.#pickIn(
          subset.balancerKey,
          subset.ids.length,
          strategy,
          client,
          now,
          exclude,
        );
      };
      // A matching request goes to its subset; by weight only when that
      // subset cannot take it (so it takes no turn of the weighted rotation).
      const matched =
        pool.match && matchesRequest(pool.match, options.headers)
          ? pool.match.subset
          : undefined;
      if (matched) result = tryIn(matched);
      if (!result) {
        const first = splitter.pick(strategy, client);
        const order = first ? [first, ...splitter.fallbacks(first)] : [];
        for (const key of order) {
          if (key === matched) continue;
          result = tryIn(key);
          if (result) break;
        }
      }
    } else {
      result = this.#pickIn(
        pool.key,
        pool.ids.length,
        strategy,
        client,
        now,
        exclude,
      );
    }
    if (!result) throw unavailable(this.#whyNone(pool, now, exclude));
    const entry = this.#view.entry(result.instance.id)!;
    return { ...entry.resolved, strategy, panic: result.panic };
  }

  /** The pool of a name the caller may see; NotFound, or a 400 when several tenants have it. */
  poolFor(serviceName: string, scope: TenantScope, tenant?: string): Pool {
    const tenants = this.#view.poolsNamed(serviceName);
    if (tenants) {
      if (tenant !== undefined) {
        const pool = tenants.get(tenant);
        if (pool && inTenantScope(scope, tenant)) return pool;
      } else if (tenants.size === 1) {
        const [pool] = tenants.values();
        if (inTenantScope(scope, pool.tenant)) return pool;
      } else {
        const visible = [...tenants.values()].filter(p =>
          inTenantScope(scope, p.tenant),
        );
        if (visible.length === 1) return visible[0];
        // A name registered again under another (or a made-up) tenant must
        // not turn every call for it into a 400: the default tenant's pool
        // answers callers who do not say which.
        const fallback = visible.find(p => p.tenant === this.#defaultTenant);
        if (fallback) return fallback;
        if (visible.length > 1) {
          // Only a caller's own tenants are named: an all-tenant caller's
          // answer would otherwise list whatever tenants anyone made up.
          throw new InputError(
            scope.all === true
              ? `Service '${serviceName}' exists in several tenants; say which with tenant`
              : `Service '${serviceName}' exists in tenants ${visible
                  .map(p => p.tenant)
                  .sort()
                  .join(', ')}; say which with tenant`,
          );
        }
      }
    }
    throw new NotFoundError(`No service named '${serviceName}'`);
  }

  /** Why a pool has nothing to route to (no instances, none ready, ...). */
  whyUnavailable(pool: Pool, now: number): string {
    const name = pool.serviceName;
    if (pool.ids.length === 0) return `Service '${name}' has no instances`;
    if (pool.routableCount === 0) {
      return `Service '${name}' has no ready instance (${pool.ids.length} known, none ready)`;
    }
    return this.#whyNone(pool, now);
  }

  /** One pick from what the balancer holds under `key`, another one when it chose an instance already tried. */
  #pickIn(
    key: string,
    size: number,
    strategy: LoadBalancingStrategy,
    client: ClientInfo,
    now: number,
    exclude: ReadonlySet<string> | undefined,
  ): PickResult {
    const balancer = this.#view.balancer;
    const result = balancer.pick(key, strategy, client, now);
    if (!result || !exclude || !exclude.has(result.instance.id)) return result;
    for (let i = 0; i < size; i++) {
      const again = balancer.pick(key, strategy, client, now);
      if (!again) return undefined;
      if (!exclude.has(again.instance.id)) return again;
    }
    // A strategy that keeps choosing the same instance (ip-hash): the first
    // other eligible one.
    for (const instance of balancer.getInstances(key)) {
      if (!exclude.has(instance.id) && isEligible(instance, now)) {
        return { instance, panic: false };
      }
    }
    return undefined;
  }

  #whyNone(pool: Pool, now: number, exclude?: ReadonlySet<string>): string {
    const name = pool.serviceName;
    if (pool.subsets && !pool.subsets.some(s => s.weight > 0 && s.ids.length)) {
      return `Service '${name}' has no instance in a subset with a weight above 0 (subsets: ${pool.subsets
        .map(s => `${s.key}=${s.weight}`)
        .join(', ')})`;
    }
    const weighed = pool.subsets
      ? pool.subsets.filter(s => s.weight > 0).flatMap(s => s.ids)
      : undefined;
    const inWeighed = weighed ? new Set(weighed) : undefined;
    const instances = this.#view
      .balancedInstances(pool)
      .filter(
        i => i.ready && i.weight > 0 && (!inWeighed || inWeighed.has(i.id)),
      );
    const untried = exclude
      ? instances.filter(i => !exclude.has(i.id))
      : instances;
    if (instances.length === 0) {
      return `Service '${name}' has no ready instance with a weight above 0`;
    }
    if (untried.length === 0) {
      return `Service '${name}' has no other instance to try (tried ${[
        ...(exclude ?? []),
      ].join(', ')})`;
    }
    if (untried.every(i => !hasCapacity(i))) {
      return `Service '${name}' is at capacity: every ready instance has reached its maxConnections`;
    }
    if (untried.every(i => isEjected(i, now) || !hasCapacity(i))) {
      return `Service '${name}' is unavailable: every ready instance is ejected after failures or at capacity`;
    }
    return `Service '${name}' has no instance that can take the request`;
  }
}
