import {
  ResolvedService,
  ServiceRegistration,
} from '@internal/plugin-lifecycle-common';
import {
  ClientInfo,
  LoadBalancingStrategy,
  TrafficSplit,
} from '../../domain/loadBalancing';
import { ALL_TENANTS, TenantScope } from '../../domain/tenancy';
import { SystemEvents } from '../../events/SystemEvents';
import {
  DiscoveryCallOptions,
  HealthCheckedService,
  PickOptions,
  ProxyOutcome,
  RoutingTable,
  ServiceDiscoveryOptions,
  ServiceSubsets,
} from './discoveryTypes';
import { DiscoveryView } from './DiscoveryView';
import { createDiscoveryParts } from './discoveryParts';
import { InstancePicker } from './InstancePicker';
import { InstanceUpdates } from './InstanceUpdates';
import { OutlierEjection } from './OutlierEjection';
import type {
  InstanceRequestStats,
  ProxyMetrics,
  VersionRequestStats,
} from './ProxyMetrics';
import { ReservedServiceNames } from './ReservedServiceNames';
import { buildRoutingTable } from './routingTable';
import { ServiceRegistry } from './ServiceRegistry';
import {
  ServiceListOptions,
  ServiceListPage,
  listHealthChecked,
  listServices,
} from './serviceListing';
import { parseSubsetWeights, subsetsOf } from './subsetWeights';
import { TrafficSplits, parseTrafficSplit } from './TrafficSplits';
import { ViewSync } from './ViewSync';

export { ServiceUnavailableError } from '@backstage/errors';
export {
  MAX_BULK,
  type DiscoveryCallOptions,
  type HealthCheckedService,
  type OutlierEjectionOptions,
  type PickOptions,
  type ProxyOutcome,
  type RoutingInstance,
  type RoutingPool,
  type RoutingSubset,
  type RoutingTable,
  type ServiceDiscoveryOptions,
  type ServiceListKey,
  type ServiceSubsets,
} from './discoveryTypes';
export type { ServiceListOptions, ServiceListPage } from './serviceListing';

/**
 * The scope of a call that names none: code in this backend (the facade's
 * callers, scripts embedding the system) is trusted with every tenant, as
 * the facade's other methods are. Callers acting for someone (the router,
 * the -node service) always pass that someone's scope.
 */
const IN_PROCESS: { scope: TenantScope } = { scope: ALL_TENANTS };

/**
 * Service discovery: which instances serve a service name, and which one
 * takes the next request.
 *
 * Its view is in memory, per backend replica: services registered through
 * the API (from the `services` table) and the instances runtimes report as
 * running (from `plugin_instances`; the service name is the plugin id, the
 * tenant the plugin's). It is kept fresh from the change log (NOTIFY on
 * PostgreSQL, polling otherwise) and a periodic full reload, and this
 * replica's own writes show at once. Connection counts and passive outlier
 * ejection are this replica's own, like an Envoy sidecar's.
 *
 * Only ready instances take traffic: registered as ready by the health
 * monitor, heartbeating within their TTL, not ejected, under their
 * connection limit and of weight above 0. Below the panic threshold the
 * balancer spreads traffic over every ready instance with spare capacity,
 * ejected or not; with no ready instance the service is unavailable (503).
 *
 * A service's traffic may be split by version subsets (instances grouped
 * by track and version, each subset with a weight; see
 * {@link ServiceDiscovery.setTrafficSplit}): a pick first chooses a subset
 * (the match's for a request that carries its header or cookie, else by
 * weight), then an instance in it. Without a split a service is one
 * subset, as before subsets existed.
 *
 * The coordinator over its parts: {@link ServiceRegistry} (registrations,
 * heartbeats), {@link InstanceUpdates} (weights, health, TTLs), the view
 * ({@link DiscoveryView} over {@link ViewSources}, kept fresh by
 * {@link ViewSync}), {@link InstancePicker}, {@link OutlierEjection} and
 * the routing table ({@link buildRoutingTable}).
 *
 * @public
 */
export class ServiceDiscovery {
  readonly #logger: ServiceDiscoveryOptions['logger'];
  readonly #events?: SystemEvents;
  readonly #now: () => number;
  readonly #defaultStrategy: LoadBalancingStrategy;
  readonly #panicThreshold: number | undefined;
  readonly #expireIntervalMs: number;
  readonly #reservedNames: ReservedServiceNames;
  readonly #trustedExternal: ReadonlySet<string>;
  readonly #outliers: OutlierEjection;
  readonly #view: DiscoveryView;
  readonly #sync: ViewSync;
  readonly #registry: ServiceRegistry;
  readonly #updates: InstanceUpdates;
  readonly #picker: InstancePicker;
  readonly #splits: TrafficSplits;
  readonly #metrics: ProxyMetrics | undefined;
  readonly #defaultTenant: string;
  readonly #unsubscribe: Array<() => void> = [];
  #started = false;

  static create(options: ServiceDiscoveryOptions): ServiceDiscovery {
    return new ServiceDiscovery(options);
  }

  private constructor(options: ServiceDiscoveryOptions) {
    const parts = createDiscoveryParts(options);
    this.#logger = options.logger;
    this.#events = options.events;
    this.#now = parts.clock;
    this.#panicThreshold = options.panicThreshold;
    this.#defaultStrategy = parts.defaultStrategy;
    this.#reservedNames = parts.reservedNames;
    this.#trustedExternal = new Set(options.trustedExternalPlugins ?? []);
    this.#expireIntervalMs = options.expireIntervalMs ?? 1_000;
    this.#outliers = parts.outliers;
    this.#view = parts.view;
    this.#sync = parts.sync;
    this.#registry = parts.registry;
    this.#updates = parts.updates;
    this.#picker = parts.picker;
    this.#splits = parts.splits;
    this.#metrics = options.metrics;
    this.#defaultTenant = options.defaultTenant ?? 'default';
  }

  /** Loads the view, then follows changes and checks TTLs until stopped. */
  async start(): Promise<void> {
    if (this.#started) return;
    this.#started = true;
    await this.#sync.start();
    if (this.#events) {
      this.#unsubscribe.push(this.#sync.followEvents(this.#events));
    }
    if (this.#expireIntervalMs > 0) {
      this.#updates.expireEvery(this.#expireIntervalMs, this.#logger);
    }
  }

  async stop(): Promise<void> {
    if (!this.#started) return;
    this.#started = false;
    for (const unsubscribe of this.#unsubscribe.splice(0)) unsubscribe();
    await this.#updates.stopExpiring();
    await this.#sync.stop();
  }

  /** Applies every change written so far (by any replica) to the view. */
  async refresh(): Promise<void> {
    await this.#sync.pollNow();
  }

  /**
   * Which of these instances this replica's data planes route to now (in
   * the view, ready, not expired): a deployment moves traffic to instances
   * only once they are, so a switch never lands on a subset that has none.
   */
  routableOf(instanceIds: readonly string[]): string[] {
    return instanceIds.filter(id => this.#view.entry(id)?.routable === true);
  }

  /**
   * Registers an instance of a service, or replaces the registration with
   * the same `serviceId`. Throws an `InputError` for bad input. Without
   * `options` the call is trusted with every tenant (code in this backend);
   * the registration goes to its `tenant`, else its plugin's, else the
   * default tenant.
   */
  registerService(
    input: unknown,
    options: { scope: TenantScope } = IN_PROCESS,
  ): Promise<ServiceRegistration> {
    return this.#registry.registerOne(input, options.scope);
  }

  /**
   * Registers many services at once (at most {@link MAX_BULK}), all or none:
   * one transaction and one update of the view, for a fleet that registers
   * its instances together. A bad entry is a 400 naming its index.
   */
  registerServices(
    inputs: unknown,
    options: { scope: TenantScope } = IN_PROCESS,
  ): Promise<ServiceRegistration[]> {
    return this.#registry.registerMany(inputs, options.scope);
  }

  /** Removes a registered service; a plugin instance goes with its plugin. */
  deregisterService(
    serviceId: string,
    options: { scope: TenantScope } = IN_PROCESS,
  ): Promise<void> {
    return this.#registry.deregister(serviceId, options.scope);
  }

  /** Records a heartbeat; an expired service takes traffic again. */
  heartbeat(
    serviceId: string,
    options: { scope: TenantScope } = IN_PROCESS,
  ): Promise<{ serviceId: string; expiresAt?: string }> {
    return this.#registry.heartbeat(serviceId, options.scope);
  }

  /**
   * Heartbeats of many registered services at once (at most
   * {@link MAX_BULK}); ids the caller cannot see, or that are unknown, come
   * back in `unknown`.
   */
  heartbeats(
    serviceIds: unknown,
    options: { scope: TenantScope } = IN_PROCESS,
  ): Promise<{ renewed: number; unknown: string[] }> {
    return this.#registry.heartbeats(serviceIds, options.scope);
  }

  /**
   * Changes the weight or connection limit of a registered service or of a
   * plugin instance, live on every replica.
   */
  updateService(
    serviceId: string,
    input: unknown,
    options: { scope: TenantScope } = IN_PROCESS,
  ): Promise<ServiceRegistration> {
    return this.#updates.update(serviceId, input, options.scope);
  }

  /**
   * The instances the caller may see, by name and tenant when given, ordered
   * by name, tenant and id: all of them, or `limit` after `after` (the
   * last of the page before) with the key of the next page.
   */
  async listServices(
    options: ServiceListOptions,
  ): Promise<ServiceRegistration[]>;
  async listServices(
    options: ServiceListOptions & { limit: number },
    paged: true,
  ): Promise<ServiceListPage>;
  async listServices(
    options: ServiceListOptions,
    paged?: true,
  ): Promise<ServiceRegistration[] | ServiceListPage> {
    await this.refresh();
    const page = listServices(this.#view, options);
    return paged ? page : page.items;
  }

  /**
   * The registered services that name a health check, in every tenant, for
   * the health monitor: read from the view without building the API's
   * answer for every other service.
   */
  async listHealthChecked(): Promise<HealthCheckedService[]> {
    await this.refresh();
    return listHealthChecked(this.#view, this.#reservedNames);
  }

  /**
   * Picks the instance for one request. Throws `NotFoundError` for a name
   * the caller cannot see, `InputError` for an unknown strategy or a name
   * in several of the caller's tenants without `tenant`, and
   * `ServiceUnavailableError` (503) naming the service when no instance
   * can take the request. `strategy` is a value or a key name of
   * `LoadBalancingStrategy` (default: the service's, else the configured
   * default); without `options` the call sees every tenant.
   */
  async getLoadBalancedService(
    serviceName: string,
    clientInfo: ClientInfo = {},
    strategy?: string,
    options: DiscoveryCallOptions & Pick<PickOptions, 'headers'> = IN_PROCESS,
  ): Promise<ResolvedService> {
    return this.pickInstance(serviceName, clientInfo, {
      ...options,
      strategy,
    });
  }

  /** {@link ServiceDiscovery.getLoadBalancedService} without the promise, for the proxy. */
  pickInstance(
    serviceName: string,
    client: ClientInfo,
    options: PickOptions,
  ): ResolvedService {
    return this.#picker.pick(serviceName, client, options);
  }

  /**
   * Splits a service's traffic by version subsets: `weights` maps a subset
   * key (`track/version`, such as `stable/1.0.0` or `canary/1.1.0`; `track`
   * alone for instances without a version; an instance's track is its
   * plugin instance track, or a registration's `metadata.track`, default
   * `stable`) to a whole-number share. Subsets it does not name get 0 (no
   * traffic); a request whose subset has no instance that can take it goes
   * to another subset of weight above 0. `{}` ends the split: every
   * instance shares the traffic again.
   *
   * Readiness, connection limits, ejection and panic routing hold within
   * each subset (the balancer holds each as a pool of its own).
   *
   * Kept in this replica's memory only: not stored, not seen by other
   * replicas, gone at restart. While set, it wins over the stored split
   * ({@link ServiceDiscovery.setTrafficSplit}) on this replica, until `{}`
   * or a `setTrafficSplit` here.
   */
  setSubsetWeights(
    serviceName: string,
    weights: unknown,
    options: DiscoveryCallOptions,
  ): ServiceSubsets {
    const parsed = parseSubsetWeights(weights);
    const pool = this.#picker.poolFor(
      serviceName,
      options.scope,
      options.tenant,
    );
    this.#view.setSubsetWeights(pool.key, parsed);
    // The view rebuilt the pool: answer from the new one.
    return this.getSubsets(pool.serviceName, {
      scope: options.scope,
      tenant: pool.tenant,
    });
  }

  /**
   * Splits a service's traffic between its version subsets, for every
   * replica: requests that carry `split.match`'s header or cookie with its
   * exact value go to `match.subset`, all others to a subset by
   * `split.weights` (subset key, `track/version`, to a whole-number share;
   * at least one above 0; subsets not named get nothing). `undefined` ends
   * the split. A subset may be named before it has an instance: its weight
   * is kept, and until then its requests go to another subset of weight
   * above 0 (a match's by weight), as when a subset's instances cannot take
   * a request.
   *
   * Stored (`traffic_splits`) and applied to this replica's view before
   * the promise resolves, so this replica's data planes (the Node proxy at
   * once, nginx after its reload) and picks follow it. Other replicas
   * apply it on their next sync: at once on PostgreSQL (NOTIFY, a few ms),
   * within `pollIntervalMs` (default 1 s) otherwise, and at the latest at
   * the next full reload (`resyncIntervalMs`); a backend started later
   * loads it with its view. Requests in flight keep their instance.
   * Throws an `InputError` for a bad split and `NotFoundError` for a name
   * the caller cannot see.
   */
  async setTrafficSplit(
    serviceName: string,
    split: TrafficSplit | undefined,
    options: DiscoveryCallOptions,
  ): Promise<ServiceSubsets> {
    const parsed = split === undefined ? undefined : parseTrafficSplit(split);
    const pool = this.#picker.poolFor(
      serviceName,
      options.scope,
      options.tenant,
    );
    await this.#splits.write(pool.tenant, pool.serviceName, parsed);
    return this.getSubsets(pool.serviceName, {
      scope: options.scope,
      tenant: pool.tenant,
    });
  }

  /**
   * Counters of one version of a service through this replica's data
   * planes (the Node proxy and the nginx access log) since it started,
   * summed over the version's instances, for canary analysis: take two
   * snapshots and compare. Without `tenant`: the tenant of the only pool of
   * that name, else the default tenant. Undefined before its first request
   * (or without `metrics` in the options).
   */
  versionStats(
    serviceName: string,
    version: string,
    options: { tenant?: string } = {},
  ): VersionRequestStats | undefined {
    let tenant = options.tenant;
    if (tenant === undefined) {
      const pools = this.#view.poolsNamed(serviceName);
      tenant = pools?.size === 1 ? [...pools.keys()][0] : this.#defaultTenant;
    }
    return this.#metrics?.version(serviceName, version, tenant);
  }

  /** Counters of one instance through this replica's data planes; see {@link ServiceDiscovery.versionStats}. */
  instanceStats(serviceId: string): InstanceRequestStats | undefined {
    return this.#metrics?.instance(serviceId);
  }

  /** Counters of every (tenant, service, version) through this replica's data planes. */
  proxyVersions(): VersionRequestStats[] {
    return this.#metrics?.snapshot().versions ?? [];
  }

  /** A service's version subsets, their weights and instance counts. */
  getSubsets(
    serviceName: string,
    options: DiscoveryCallOptions,
  ): ServiceSubsets {
    return subsetsOf(
      this.#picker.poolFor(serviceName, options.scope, options.tenant),
    );
  }

  /** What a data plane of its own routes, per service and tenant in `scope`. */
  routingTable(scope: TenantScope): RoutingTable {
    return buildRoutingTable(this.#view, scope, {
      now: this.#now(),
      panicThreshold: this.#panicThreshold,
      defaultStrategy: this.#defaultStrategy,
      whyUnavailable: (pool, now) => this.#picker.whyUnavailable(pool, now),
    });
  }

  /**
   * Calls `listener` whenever what {@link ServiceDiscovery.routingTable}
   * returns may have changed (the view was rebuilt). Returns the function
   * that stops it.
   */
  onRoutingChange(listener: () => void): () => void {
    return this.#view.onChange(listener);
  }

  /** The proxy opened a request to the instance. */
  connectionOpened(serviceId: string): void {
    this.#view.countConnection(serviceId, 1);
  }

  /** The proxy's request to the instance ended. */
  connectionClosed(serviceId: string): void {
    this.#view.countConnection(serviceId, -1);
  }

  /**
   * Passive outlier detection from what the proxy saw: enough consecutive
   * failures eject the instance for a time that doubles with each ejection.
   */
  reportOutcome(serviceId: string, outcome: ProxyOutcome): void {
    const ejection = this.#outliers.report(serviceId, outcome, this.#now());
    if (!ejection) return;
    this.#view.ejected(serviceId, ejection.ejectedUntil);
    const entry = this.#view.entry(serviceId);
    this.#logger.warn(
      `Ejected instance '${serviceId}' of service '${
        entry?.registration.serviceName ?? '?'
      }' for ${ejection.durationMs} ms after ${
        this.#outliers.settings.consecutiveFailures
      } consecutive failures (ejection ${ejection.ejections})`,
    );
    this.#events?.publish('serviceDiscovery', 'instanceEjected', {
      serviceId,
      serviceName: entry?.registration.serviceName,
      tenant: entry?.registration.tenant,
      ejectedUntil: new Date(ejection.ejectedUntil).toISOString(),
      ejections: ejection.ejections,
    });
  }

  /**
   * The health monitor's verdict on a registered service or a plugin
   * instance. Written through to the database (other replicas follow) when
   * it differs from what the view holds.
   */
  setInstanceHealth(
    serviceId: string,
    health: { ready?: boolean; healthScore?: number },
  ): Promise<void> {
    return this.#updates.setHealth(serviceId, health);
  }

  /**
   * Marks services past their TTL as expired and removes those past their
   * deregistration deadline; now and then also prunes the change log and
   * the overrides of instances that ended. Runs on a timer unless
   * `expireIntervalMs` is 0.
   */
  expire(): Promise<{ expired: string[]; deregistered: string[] }> {
    return this.#updates.expire();
  }

  /**
   * Whether the proxy may pass a caller's `Authorization` to this target:
   * only to a plugin instance a runtime started on this host, or an
   * endpoint of an external plugin the operator configured. A
   * registration's `pluginId`, or an endpoint named in an install request,
   * is the caller's word.
   */
  forwardsAuthorization(serviceId: string): boolean {
    const instance = this.#view.sources.running.get(serviceId);
    if (!instance) return false;
    return (
      instance.runtime !== 'external' ||
      this.#trustedExternal.has(instance.pluginId)
    );
  }
}
