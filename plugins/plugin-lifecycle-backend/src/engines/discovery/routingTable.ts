import {
  BalancedInstance,
  LoadBalancingStrategy,
  routableInstances,
} from '../../domain/loadBalancing';
import { TenantScope, inTenantScope } from '../../domain/tenancy';
import { RoutingInstance, RoutingPool, RoutingTable } from './discoveryTypes';
import { DiscoveryView, Pool } from './DiscoveryView';

/**
 * What a data plane of its own (nginx) routes, per service and tenant in
 * `scope`: the instances that are ready and not drained, by subset when a
 * pool's traffic is split. Neither this replica's live connection counts
 * nor its ejections: such a data plane sees every request itself, and the
 * table changes only with writes.
 */
export function buildRoutingTable(
  view: DiscoveryView,
  scope: TenantScope,
  options: {
    now: number;
    panicThreshold: number | undefined;
    defaultStrategy: LoadBalancingStrategy;
    whyUnavailable: (pool: Pool, now: number) => string;
  },
): RoutingTable {
  const { now, panicThreshold } = options;
  const routable = (instances: readonly BalancedInstance[]) =>
    routableInstances(
      instances.map(i => ({
        ...i,
        activeConnections: 0,
        ejectedUntil: undefined,
      })),
      now,
      panicThreshold,
    );
  const toRouting = (instances: readonly BalancedInstance[]) =>
    instances.map((i): RoutingInstance => {
      const entry = view.entry(i.id)!;
      return {
        resolved: entry.resolved,
        weight: entry.weight,
        healthScore: entry.healthScore,
        ...(entry.maxConnections !== undefined
          ? { maxConnections: entry.maxConnections }
          : {}),
      };
    });

  const pools: RoutingPool[] = [];
  for (const pool of view.pools()) {
    if (!inTenantScope(scope, pool.tenant)) continue;
    const base = {
      tenant: pool.tenant,
      serviceName: pool.serviceName,
      strategy: pool.strategy ?? options.defaultStrategy,
    };
    if (!pool.subsets) {
      const found = routable(view.balancedInstances(pool));
      pools.push({
        ...base,
        instances: toRouting(found?.instances ?? []),
        ...(found ? {} : { unavailable: options.whyUnavailable(pool, now) }),
      });
      continue;
    }
    const subsets = pool.subsets.map(subset => ({
      key: subset.key,
      weight: subset.weight,
      instances: toRouting(
        (subset.weight > 0 || subset.key === pool.match?.subset
          ? routable(view.balancer.getInstances(subset.balancerKey))
          : undefined
        )?.instances ?? [],
      ),
    }));
    const instances = subsets
      .filter(s => s.weight > 0)
      .flatMap(s => s.instances);
    pools.push({
      ...base,
      instances,
      subsets,
      ...(pool.match ? { match: pool.match } : {}),
      ...(instances.length > 0
        ? {}
        : { unavailable: options.whyUnavailable(pool, now) }),
    });
  }
  return { pools };
}
