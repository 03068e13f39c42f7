import { LoggerService } from '@backstage/backend-plugin-api';
import {
  ResolvedService,
  ServiceRegistration,
} from '@internal/plugin-lifecycle-common';
import { Knex } from 'knex';
import { TenantScope } from '../../domain/tenancy';
import {
  LoadBalancingStrategy,
  RequestHeaders,
  SubsetMatch,
} from '../../domain/loadBalancing';
import { SystemEvents } from '../../events/SystemEvents';
import { ExecProbePolicy } from '../health/execProbePolicy';
import type { ProxyMetrics } from './ProxyMetrics';
import { ReservedServiceNames } from './ReservedServiceNames';
import { TargetPolicy } from './TargetPolicy';

/**
 * The types of service discovery's API: its options, what callers pass
 * and what the routing table a data plane renders looks like.
 */

/** What the health monitor needs of a registered service with a health check. */
export type HealthCheckedService = Pick<
  ServiceRegistration,
  | 'source'
  | 'healthCheck'
  | 'serviceId'
  | 'pluginId'
  | 'serviceName'
  | 'host'
  | 'port'
>;

/** Where a page of {@link ServiceDiscovery.listServices} ends: name, tenant, id. */
export type ServiceListKey = [
  serviceName: string,
  tenant: string,
  serviceId: string,
];

/** Most services one bulk registration or heartbeat call may carry. */
export const MAX_BULK = 1000;

/**
 * Passive outlier ejection: an instance that fails `consecutiveFailures`
 * proxied requests in a row (5xx answers or failed connections) takes no
 * traffic for `baseEjectionMs × 2^(ejections - 1)`, at most `maxEjectionMs`.
 * Its ejection count is forgiven after it served well for `maxEjectionMs`.
 *
 * @public
 */
export interface OutlierEjectionOptions {
  consecutiveFailures?: number;
  baseEjectionMs?: number;
  maxEjectionMs?: number;
}

/** @public */
export interface ServiceDiscoveryOptions {
  db: Knex;
  logger: LoggerService;
  events?: SystemEvents;
  /** Milliseconds between looks for other replicas' changes and running instances. Default 1000. */
  pollIntervalMs?: number;
  /** Used when neither the request nor the service names a strategy. Default round-robin. */
  defaultStrategy?: LoadBalancingStrategy;
  /** See {@link LoadBalancingOptions}. Default 0.5. */
  panicThreshold?: number;
  /** Tenant of registrations that name none, when the caller may use it. Default 'default'. */
  defaultTenant?: string;
  /**
   * Milliseconds between TTL checks (expiry and deregistration). Every
   * replica may run them; 0 turns the timer off, for a caller that runs
   * {@link ServiceDiscovery.expire} on its own schedule. Default 1000.
   */
  expireIntervalMs?: number;
  /** Milliseconds between full reloads, the safety net under the change feed. Default 60000. */
  resyncIntervalMs?: number;
  /** How long change log entries are kept. Default one hour. */
  changeRetentionMs?: number;
  ejection?: OutlierEjectionOptions;
  /**
   * The commands a health check's exec probe may run. Default: none, so a
   * registration with an exec health check is refused.
   */
  execProbes?: ExecProbePolicy;
  /**
   * Service names a registration may not take. A managed plugin's id is
   * always reserved (its pool holds only the instances the runtime started);
   * by default no other name is.
   */
  reservedNames?: ReservedServiceNames;
  /**
   * Plugins of the external runtime whose endpoints get callers'
   * `Authorization` through the proxy: those the operator configured
   * (`pluginLifecycle.plugins`). An endpoint from an install request is the
   * installer's word, like a registration's, and gets none.
   */
  trustedExternalPlugins?: Iterable<string>;
  /**
   * Where registered services (and their health checks) may point. Default:
   * anywhere; the plugin's wiring always gives one (`discovery.allowedTargets`).
   */
  targets?: TargetPolicy;
  /**
   * What this replica's data planes measured (the same object the proxy and
   * the nginx data plane record into), for
   * {@link ServiceDiscovery.versionStats}. Default none: no stats.
   */
  metrics?: ProxyMetrics;
  /** ms since the epoch; injected by tests. */
  clock?: () => number;
}

/** Who is asking, and for which tenant when the name exists in several. */
export interface DiscoveryCallOptions {
  scope: TenantScope;
  tenant?: string;
}

/** What the proxy asks for one attempt of a request. */
export interface PickOptions extends DiscoveryCallOptions {
  strategy?: string;
  /** Instances already tried for this request: pick another. */
  exclude?: ReadonlySet<string>;
  /**
   * The request's headers (lower-case names, as node:http has them), read
   * only by a traffic split with a header or cookie match.
   */
  headers?: RequestHeaders;
}

/**
 * One service of one tenant as a data plane of its own (such as nginx)
 * routes it: the instances that are ready and not drained. Connection
 * limits and passive outlier ejection are the data plane's own: it sees
 * every request at once, and this table changes only with writes.
 */
export interface RoutingPool {
  tenant: string;
  serviceName: string;
  strategy: LoadBalancingStrategy;
  instances: RoutingInstance[];
  /**
   * Set when the service's traffic is split by version subsets
   * ({@link ServiceDiscovery.setSubsetWeights}): each subset's routable
   * instances and its weight; `instances` is then every subset's of weight
   * above 0. Absent for a service with one subset (all its instances).
   */
  subsets?: RoutingSubset[];
  /**
   * Requests matching this go to its subset (its routable instances are in
   * `subsets` even at weight 0; not in `instances`), others by weight.
   */
  match?: SubsetMatch;
  /** Why no instance is routable, when none is. */
  unavailable?: string;
}

/** An instance as a data plane routes it. */
export interface RoutingInstance {
  resolved: Omit<ResolvedService, 'strategy' | 'panic'>;
  weight: number;
  maxConnections?: number;
  healthScore: number;
}

/** One version subset of a pool and its share of the traffic. */
export interface RoutingSubset {
  /** `track/version` (see {@link subsetKey}). */
  key: string;
  weight: number;
  instances: RoutingInstance[];
}

/** The routing of every pool. */
export interface RoutingTable {
  pools: RoutingPool[];
}

/** What the proxy reports after each attempt. */
export interface ProxyOutcome {
  /** False for a 5xx answer or a failed connection. */
  ok: boolean;
  latencyMs?: number;
  status?: number;
}

/** A service's version subsets as {@link ServiceDiscovery.getSubsets} answers. */
export interface ServiceSubsets {
  serviceName: string;
  tenant: string;
  /**
   * False while the service has one subset (no weights set): every
   * instance shares the traffic as before subsets existed.
   */
  split: boolean;
  subsets: Array<{ key: string; weight: number; instances: number }>;
  /** Requests matching this go to its subset (see {@link ServiceDiscovery.setTrafficSplit}). */
  match?: SubsetMatch;
}
