import { ExecProbePolicy } from '../health/execProbePolicy';
import { randomUUID } from 'node:crypto';
import { LoggerService } from '@backstage/backend-plugin-api';
import {
  ConflictError,
  InputError,
  NotAllowedError,
  NotFoundError,
  ServiceUnavailableError,
} from '@backstage/errors';
import {
  ResolvedService,
  SERVICE_LOAD_BALANCING_STRATEGIES,
  ServiceLoadBalancingStrategy,
  ServiceRegistration,
  registerServiceRequestSchema,
  updateServiceRequestSchema,
  validationMessage,
} from '@internal/plugin-lifecycle-common';
import { Knex } from 'knex';
import { z } from 'zod';
import {
  InstanceOverride,
  RunningInstance,
  SERVICES_NOTIFY_CHANNEL,
  ServiceChange,
  ServiceStore,
  StoredService,
} from '../../database/ServiceStore';
import {
  BalancedInstance,
  ClientInfo,
  LOAD_BALANCING_STRATEGIES,
  LoadBalancer,
  LoadBalancingStrategy,
  hasCapacity,
  isEjected,
  isEligible,
  routableInstances,
} from '../../domain/loadBalancing';
import { SystemEvents } from '../../events/SystemEvents';
import {
  ComponentEvent,
  PayloadOf,
  StateChange,
  SystemEventEnvelope,
} from '../../events/eventMap';
import { inTenantScope, TenantScope } from '../../domain/tenancy';
import { RevisionFeed } from '../RevisionFeed';
import {
  Entry,
  instanceEntry,
  poolKey,
  serviceEntry,
  splitPoolKey,
} from './discoveryEntries';
import { ReservedServiceNames } from './ReservedServiceNames';
import { TargetPolicy } from './TargetPolicy';
import { checkRegistrations } from './registrationGuard';

export { ServiceUnavailableError };

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

const bulkRegistrationSchema = z
  .array(registerServiceRequestSchema)
  .min(1, 'at least one service')
  .max(MAX_BULK, `at most ${MAX_BULK} services at once`);

const bulkHeartbeatSchema = z
  .array(z.string().min(1).max(255))
  .min(1, 'at least one service id')
  .max(MAX_BULK, `at most ${MAX_BULK} service ids at once`);

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
  instances: Array<{
    resolved: Omit<ResolvedService, 'strategy' | 'panic'>;
    weight: number;
    maxConnections?: number;
    healthScore: number;
  }>;
  /** Why no instance is routable, when none is. */
  unavailable?: string;
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

interface Pool {
  key: string;
  tenant: string;
  serviceName: string;
  ids: string[];
  routableCount: number;
  strategy?: LoadBalancingStrategy;
}

interface Outlier {
  consecutiveFailures: number;
  ejections: number;
  ejectedUntil?: number;
  lastEjectedAt?: number;
}

const KNOWN_STRATEGIES: ReadonlySet<string> = new Set<LoadBalancingStrategy>(
  // The common package lists the strategies for the HTTP schemas; these
  // two checks keep its list and the balancer's the same.
  SERVICE_LOAD_BALANCING_STRATEGIES satisfies readonly LoadBalancingStrategy[],
);
const STRATEGY_NAMES = (
  LOAD_BALANCING_STRATEGIES satisfies readonly ServiceLoadBalancingStrategy[]
).join(', ');

const DEFAULT_EJECTION: Required<OutlierEjectionOptions> = {
  consecutiveFailures: 5,
  baseEjectionMs: 30_000,
  maxEjectionMs: 300_000,
};

function unavailable(message: string) {
  return new ServiceUnavailableError(message);
}

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
 * @public
 */
export class ServiceDiscovery {
  readonly #store: ServiceStore;
  readonly #logger: LoggerService;
  readonly #events?: SystemEvents;
  readonly #now: () => number;
  readonly #balancer: LoadBalancer;
  readonly #feed: RevisionFeed<ServiceChange>;
  readonly #defaultStrategy: LoadBalancingStrategy;
  readonly #defaultTenant: string;
  readonly #expireIntervalMs: number;
  readonly #resyncIntervalMs: number;
  readonly #changeRetentionMs: number;
  readonly #ejection: Required<OutlierEjectionOptions>;
  readonly #panicThreshold: number | undefined;
  readonly #routingListeners = new Set<() => void>();

  // The sources of the view; only ever replaced by newer data.
  #registered = new Map<string, StoredService>();
  #running = new Map<string, RunningInstance>();
  #plugins = new Map<string, string>();
  readonly #overrides = new Map<string, InstanceOverride>();
  /** Revisions of deletions, so a stale read does not bring a service back. */
  readonly #deleted = new Map<string, number>();

  /** Pool key → the registered services in it. */
  readonly #registeredByPool = new Map<string, Set<string>>();
  /** Pool key → the running instances in it. */
  readonly #runningByPool = new Map<string, Set<string>>();
  /** How many plugins there were at the last look (plugins are never deleted). */
  #pluginCount = 0;

  // The view derived from them.
  #entries = new Map<string, Entry>();
  #pools = new Map<string, Pool>();
  /** Service name → tenant → pool. */
  #byName = new Map<string, Map<string, Pool>>();
  /** The pools the balancer holds. */
  #balancerKeys = new Set<string>();

  // This replica's own live state.
  readonly #active = new Map<string, number>();
  readonly #outliers = new Map<string, Outlier>();

  #lastResync = 0;
  #lastPrune = 0;
  #expireTimer?: NodeJS.Timeout;
  #expiring?: Promise<unknown>;
  #started = false;
  readonly #execProbes: ExecProbePolicy;
  readonly #reservedNames: ReservedServiceNames;
  readonly #trustedExternal: ReadonlySet<string>;
  readonly #targets: TargetPolicy | undefined;
  readonly #unsubscribe: Array<() => void> = [];

  static create(options: ServiceDiscoveryOptions): ServiceDiscovery {
    return new ServiceDiscovery(options);
  }

  private constructor(options: ServiceDiscoveryOptions) {
    this.#store = ServiceStore.create({ db: options.db });
    this.#logger = options.logger;
    this.#events = options.events;
    this.#now = options.clock ?? Date.now;
    this.#panicThreshold = options.panicThreshold;
    this.#balancer = LoadBalancer.create({
      panicThreshold: options.panicThreshold,
    });
    this.#defaultStrategy = this.#checkStrategy(
      options.defaultStrategy ?? 'round-robin',
    );
    this.#defaultTenant = options.defaultTenant ?? 'default';
    this.#execProbes = options.execProbes ?? ExecProbePolicy.create();
    this.#reservedNames =
      options.reservedNames ??
      ReservedServiceNames.create({ backstagePlugins: [] });
    this.#trustedExternal = new Set(options.trustedExternalPlugins ?? []);
    this.#targets = options.targets;
    this.#expireIntervalMs = options.expireIntervalMs ?? 1_000;
    this.#resyncIntervalMs = options.resyncIntervalMs ?? 60_000;
    this.#changeRetentionMs = options.changeRetentionMs ?? 3_600_000;
    this.#ejection = { ...DEFAULT_EJECTION, ...options.ejection };
    const { consecutiveFailures, baseEjectionMs, maxEjectionMs } =
      this.#ejection;
    if (
      !Number.isInteger(consecutiveFailures) ||
      consecutiveFailures < 1 ||
      !(baseEjectionMs > 0) ||
      !(maxEjectionMs >= baseEjectionMs)
    ) {
      throw new InputError(
        'Outlier ejection needs consecutiveFailures of at least 1 and 0 < baseEjectionMs <= maxEjectionMs',
      );
    }
    this.#feed = new RevisionFeed<ServiceChange>({
      db: options.db,
      log: this.#store,
      channel: SERVICES_NOTIFY_CHANNEL,
      what: 'service',
      logger: options.logger,
      pollIntervalMs: options.pollIntervalMs ?? 1_000,
      clock: this.#now,
      onChanges: changes => this.#applyChanges(changes),
      onTick: () => this.#tick(),
    });
  }

  /** Loads the view, then follows changes and checks TTLs until stopped. */
  async start(): Promise<void> {
    if (this.#started) return;
    this.#started = true;
    const revision = await this.#store.maxRevision();
    await this.#loadAll();
    await this.#feed.start(revision);
    this.#subscribe();
    if (this.#expireIntervalMs > 0) this.#scheduleExpire();
  }

  async stop(): Promise<void> {
    if (!this.#started) return;
    this.#started = false;
    clearTimeout(this.#expireTimer);
    for (const unsubscribe of this.#unsubscribe.splice(0)) unsubscribe();
    await this.#expiring;
    await this.#feed.stop();
  }

  /** Applies every change written so far (by any replica) to the view. */
  async refresh(): Promise<void> {
    await this.#feed.pollNow();
  }

  /**
   * Registers an instance of a service, or replaces the registration with
   * the same `serviceId`. Throws an `InputError` for bad input.
   */
  async registerService(
    input: unknown,
    options: { scope: TenantScope },
  ): Promise<ServiceRegistration> {
    const parsed = registerServiceRequestSchema.safeParse(input ?? {});
    if (!parsed.success) {
      throw new InputError(
        `Invalid service registration: ${validationMessage(parsed.error)}`,
      );
    }
    const [registration] = await this.#register([parsed.data], options.scope);
    return registration;
  }

  /**
   * Registers many services at once (at most {@link MAX_BULK}), all or none:
   * one transaction and one update of the view, for a fleet that registers
   * its instances together. A bad entry is a 400 naming its index.
   */
  async registerServices(
    inputs: unknown,
    options: { scope: TenantScope },
  ): Promise<ServiceRegistration[]> {
    const parsed = bulkRegistrationSchema.safeParse(inputs);
    if (!parsed.success) {
      throw new InputError(
        `Invalid service registrations: ${validationMessage(parsed.error)}`,
      );
    }
    const requests = parsed.data;
    const seen = new Set<string>();
    requests.forEach((request, index) => {
      if (request.serviceId === undefined) return;
      if (seen.has(request.serviceId)) {
        throw new InputError(
          `Invalid service registrations: ${index}.serviceId: '${request.serviceId}' appears twice`,
        );
      }
      seen.add(request.serviceId);
    });
    return this.#register(requests, options.scope);
  }

  async #register(
    requests: Array<z.infer<typeof registerServiceRequestSchema>>,
    scope: TenantScope,
  ): Promise<ServiceRegistration[]> {
    // A health check runs on this backend's host: an exec one only with a
    // command the operator allowed, checked before anything is stored.
    for (const request of requests) {
      this.#execProbes.assertAllowed(
        request.healthCheck ? [request.healthCheck] : [],
        { kind: 'service', serviceName: request.serviceName },
      );
    }
    // Neither a managed plugin's name (hijack) nor a target outside
    // allowedTargets (SSRF), before anything is stored.
    await checkRegistrations(requests, {
      reservedNames: this.#reservedNames,
      managedPlugins: names => this.#managedPlugins(names),
      targets: this.#targets,
    });
    const inputs = requests.map(r => ({
      ...r,
      serviceId: r.serviceId ?? randomUUID(),
    }));
    const ids = inputs.map(r => r.serviceId);
    const taken = ids.filter(id => this.#running.has(id));
    if (taken.length === 0) {
      taken.push(...(await this.#store.instanceIds(ids)));
    }
    if (taken.length > 0) {
      throw new ConflictError(
        `'${taken[0]}' is the id of a plugin instance; register the service under another id`,
      );
    }
    const pluginTenants = new Map<string, string | undefined>();
    for (const { pluginId } of inputs) {
      if (pluginId && !pluginTenants.has(pluginId)) {
        pluginTenants.set(pluginId, await this.#store.pluginTenant(pluginId));
      }
    }
    const stored = inputs.map(request => {
      const pluginTenant = request.pluginId
        ? pluginTenants.get(request.pluginId)
        : undefined;
      const tenant =
        request.tenant ??
        pluginTenant ??
        (scope.all !== true && scope.tenants.length === 1
          ? scope.tenants[0]
          : this.#defaultTenant);
      if (pluginTenant !== undefined && tenant !== pluginTenant) {
        // Another tenant's plugin: say no more than that it is not in this one.
        throw new InputError(
          inTenantScope(scope, pluginTenant)
            ? `Invalid service registration: plugin '${request.pluginId}' belongs to tenant '${pluginTenant}', not '${tenant}'`
            : `Invalid service registration: plugin '${request.pluginId}' is not in tenant '${tenant}'`,
        );
      }
      if (!inTenantScope(scope, tenant)) {
        throw new NotAllowedError(
          `You may not register services in tenant '${tenant}'`,
        );
      }
      return {
        serviceId: request.serviceId,
        tenant,
        pluginId: request.pluginId,
        serviceName: request.serviceName,
        serviceType: request.serviceType,
        version: request.version,
        host: request.host,
        port: request.port,
        protocol: request.protocol ?? request.serviceType,
        weight: request.loadBalancing?.weight ?? 100,
        maxConnections: request.loadBalancing?.maxConnections,
        strategy: request.loadBalancing?.strategy,
        tags: request.tags ?? [],
        metadata: request.metadata ?? {},
        healthCheck: request.healthCheck,
        ttlMs: request.ttlMs,
        deregisterAfterMs: request.deregisterAfterMs,
      };
    });
    const now = new Date(this.#now());
    const results =
      stored.length === 1
        ? [await this.#store.register(stored[0], now)]
        : await this.#store.registerMany(stored, now);
    const dirty = new Set<string>();
    for (const { service } of results) {
      for (const key of this.#applyService(service)) dirty.add(key);
    }
    this.#rebuild(dirty);
    for (const { service } of results) {
      this.#publish('serviceRegistered', {
        serviceId: service.serviceId,
        serviceName: service.serviceName,
        tenant: service.tenant,
      });
    }
    return results.map(({ service }) =>
      this.#registrationOf(this.#entries.get(service.serviceId)!),
    );
  }

  /** Removes a registered service; a plugin instance goes with its plugin. */
  async deregisterService(
    serviceId: string,
    options: { scope: TenantScope },
  ): Promise<void> {
    await this.#registeredInScope(serviceId, options.scope);
    const removed = await this.#store.deregister(
      serviceId,
      new Date(this.#now()),
    );
    if (!removed) throw new NotFoundError(`No service '${serviceId}'`);
    this.#rebuild(this.#forget(serviceId, removed.revision));
    this.#publish('serviceDeregistered', {
      serviceId,
      serviceName: removed.serviceName,
      tenant: removed.tenant,
    });
  }

  /** Records a heartbeat; an expired service takes traffic again. */
  async heartbeat(
    serviceId: string,
    options: { scope: TenantScope },
  ): Promise<{ serviceId: string; expiresAt?: string }> {
    await this.#registeredInScope(serviceId, options.scope);
    await this.#assertNotReserved([serviceId]);
    const result = await this.#store.heartbeat(
      serviceId,
      new Date(this.#now()),
    );
    if (!result) throw new NotFoundError(`No service '${serviceId}'`);
    if (result.revived) this.#rebuild(this.#applyService(result.service));
    return {
      serviceId,
      ...(result.service.expiresAt
        ? { expiresAt: result.service.expiresAt }
        : {}),
    };
  }

  /**
   * Heartbeats of many registered services at once (at most
   * {@link MAX_BULK}); ids the caller cannot see, or that are unknown, come
   * back in `unknown`.
   */
  async heartbeats(
    serviceIds: unknown,
    options: { scope: TenantScope },
  ): Promise<{ renewed: number; unknown: string[] }> {
    const parsed = bulkHeartbeatSchema.safeParse(serviceIds);
    if (!parsed.success) {
      throw new InputError(
        `Invalid heartbeats: ${validationMessage(parsed.error)}`,
      );
    }
    const visible: string[] = [];
    const unknown: string[] = [];
    for (const id of new Set(parsed.data)) {
      const tenant = this.#registered.get(id)?.tenant;
      // Not in this replica's view yet (just registered elsewhere): the
      // store decides below; its tenant is checked there.
      if (tenant === undefined || inTenantScope(options.scope, tenant)) {
        visible.push(id);
      } else unknown.push(id);
    }
    await this.#assertNotReserved(visible);
    const result = await this.#store.heartbeatMany(
      visible,
      new Date(this.#now()),
    );
    const dirty = new Set<string>();
    let renewed = 0;
    for (const { service, revived } of result.renewed) {
      if (!inTenantScope(options.scope, service.tenant)) {
        unknown.push(service.serviceId); // renewed, but not the caller's to know
        continue;
      }
      renewed++;
      if (revived) {
        for (const key of this.#applyService(service)) dirty.add(key);
      }
    }
    this.#rebuild(dirty);
    return { renewed, unknown: [...unknown, ...result.unknown].sort() };
  }

  /**
   * Changes the weight or connection limit of a registered service or of a
   * plugin instance, live on every replica.
   */
  async updateService(
    serviceId: string,
    input: unknown,
    options: { scope: TenantScope },
  ): Promise<ServiceRegistration> {
    const parsed = updateServiceRequestSchema.safeParse(input ?? {});
    if (!parsed.success) {
      throw new InputError(
        `Invalid service update: ${validationMessage(parsed.error)}`,
      );
    }
    const patch = parsed.data;
    const target = await this.#findInScope(serviceId, options.scope);
    if (target === 'registered') {
      const service = await this.#store.update(
        serviceId,
        patch,
        new Date(this.#now()),
      );
      if (!service) throw new NotFoundError(`No service '${serviceId}'`);
      this.#rebuild(this.#applyService(service));
    } else {
      this.#rebuild(
        this.#applyOverride(
          await this.#store.setInstanceOverride(
            serviceId,
            patch,
            new Date(this.#now()),
          ),
        ),
      );
    }
    const entry = this.#entries.get(serviceId);
    if (!entry) throw new NotFoundError(`No service '${serviceId}'`);
    return this.#registrationOf(entry);
  }

  /**
   * The instances the caller may see, by name and tenant when given, ordered
   * by name, tenant and id: all of them, or `limit` after `after` (the
   * last of the page before) with the key of the next page.
   */
  async listServices(options: {
    scope: TenantScope;
    name?: string;
    tenant?: string;
    limit?: number;
    after?: ServiceListKey;
  }): Promise<ServiceRegistration[]>;
  async listServices(
    options: {
      scope: TenantScope;
      name?: string;
      tenant?: string;
      limit: number;
      after?: ServiceListKey;
    },
    paged: true,
  ): Promise<{ items: ServiceRegistration[]; next?: ServiceListKey }>;
  async listServices(
    options: {
      scope: TenantScope;
      name?: string;
      tenant?: string;
      limit?: number;
      after?: ServiceListKey;
    },
    paged?: true,
  ): Promise<
    | ServiceRegistration[]
    | { items: ServiceRegistration[]; next?: ServiceListKey }
  > {
    await this.refresh();
    const keyOf = (e: Entry): ServiceListKey => [
      e.registration.serviceName,
      e.registration.tenant,
      e.id,
    ];
    const after = options.after;
    const compare = (a: ServiceListKey, b: ServiceListKey) =>
      a[0].localeCompare(b[0]) ||
      a[1].localeCompare(b[1]) ||
      a[2].localeCompare(b[2]);
    const entries: Entry[] = [];
    for (const pool of this.#pools.values()) {
      if (options.name !== undefined && pool.serviceName !== options.name)
        continue;
      if (options.tenant !== undefined && pool.tenant !== options.tenant)
        continue;
      if (!inTenantScope(options.scope, pool.tenant)) continue;
      for (const id of pool.ids) {
        const entry = this.#entries.get(id)!;
        if (after && compare(keyOf(entry), after) <= 0) continue;
        entries.push(entry);
      }
    }
    entries.sort((a, b) => compare(keyOf(a), keyOf(b)));
    const limit = options.limit ?? entries.length;
    const page = entries.slice(0, limit);
    const items = page.map(e => this.#registrationOf(e));
    if (!paged) return items;
    return entries.length > limit
      ? { items, next: keyOf(page[page.length - 1]) }
      : { items };
  }

  /**
   * The registered services that name a health check, in every tenant, for
   * the health monitor: read from the view without building the API's
   * answer for every other service.
   */
  async listHealthChecked(): Promise<HealthCheckedService[]> {
    await this.refresh();
    const found = [];
    const reserved = (name: string) =>
      this.#reservedNames.isReserved(name, id => this.#plugins.has(id));
    for (const service of this.#registered.values()) {
      // Out of every pool (a reserved name): nothing to probe for.
      if (!service.healthCheck || reserved(service.serviceName)) continue;
      found.push({
        source: 'registered' as const,
        healthCheck: service.healthCheck,
        serviceId: service.serviceId,
        serviceName: service.serviceName,
        host: service.host,
        port: service.port,
        ...(service.pluginId ? { pluginId: service.pluginId } : {}),
      });
    }
    return found;
  }

  /**
   * Picks the instance for one request. Throws `NotFoundError` for a name
   * the caller cannot see, `InputError` for an unknown strategy or a name
   * in several of the caller's tenants without `tenant`, and
   * `ServiceUnavailableError` (503) naming the service when no instance
   * can take the request.
   */
  async getLoadBalancedService(
    serviceName: string,
    clientInfo: ClientInfo,
    strategy: string | undefined,
    options: DiscoveryCallOptions,
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
    const pool = this.#poolFor(serviceName, options.scope, options.tenant);
    const strategy =
      options.strategy === undefined
        ? pool.strategy ?? this.#defaultStrategy
        : this.#checkStrategy(options.strategy);
    if (pool.ids.length === 0 || pool.routableCount === 0) {
      throw unavailable(this.#whyUnavailable(pool, this.#now()));
    }
    const now = this.#now();
    let result = this.#balancer.pick(pool.key, strategy, client, now);
    const exclude = options.exclude;
    if (result && exclude && exclude.has(result.instance.id)) {
      result = this.#pickExcluding(pool, strategy, client, now, exclude);
    }
    if (!result) throw unavailable(this.#whyNone(pool, now, exclude));
    const entry = this.#entries.get(result.instance.id)!;
    return { ...entry.resolved, strategy, panic: result.panic };
  }

  /** What a data plane of its own routes, per service and tenant in `scope`. */
  routingTable(scope: TenantScope): RoutingTable {
    const now = this.#now();
    const pools: RoutingPool[] = [];
    for (const pool of this.#pools.values()) {
      if (!inTenantScope(scope, pool.tenant)) continue;
      // Neither this replica's live counts nor its ejections: see RoutingPool.
      const balanced = this.#balancer.getInstances(pool.key).map(i => ({
        ...i,
        activeConnections: 0,
        ejectedUntil: undefined,
      }));
      const routable = routableInstances(balanced, now, this.#panicThreshold);
      pools.push({
        tenant: pool.tenant,
        serviceName: pool.serviceName,
        strategy: pool.strategy ?? this.#defaultStrategy,
        instances: (routable?.instances ?? []).map(i => {
          const entry = this.#entries.get(i.id)!;
          return {
            resolved: entry.resolved,
            weight: entry.weight,
            healthScore: entry.healthScore,
            ...(entry.maxConnections !== undefined
              ? { maxConnections: entry.maxConnections }
              : {}),
          };
        }),
        ...(routable ? {} : { unavailable: this.#whyUnavailable(pool, now) }),
      });
    }
    return { pools };
  }

  /**
   * Calls `listener` whenever what {@link ServiceDiscovery.routingTable}
   * returns may have changed (the view was rebuilt). Returns the function
   * that stops it.
   */
  onRoutingChange(listener: () => void): () => void {
    this.#routingListeners.add(listener);
    return () => this.#routingListeners.delete(listener);
  }

  #routingChanged() {
    for (const listener of this.#routingListeners) {
      try {
        listener();
      } catch (error) {
        this.#logger.warn(`A routing listener failed: ${error}`);
      }
    }
  }

  /** The proxy opened a request to the instance. */
  connectionOpened(serviceId: string): void {
    const count = (this.#active.get(serviceId) ?? 0) + 1;
    this.#active.set(serviceId, count);
    const key = this.#entries.get(serviceId)?.key;
    if (key) {
      this.#balancer.updateInstance(key, serviceId, {
        activeConnections: count,
      });
    }
  }

  /** The proxy's request to the instance ended. */
  connectionClosed(serviceId: string): void {
    const count = Math.max(0, (this.#active.get(serviceId) ?? 0) - 1);
    if (count === 0) this.#active.delete(serviceId);
    else this.#active.set(serviceId, count);
    const key = this.#entries.get(serviceId)?.key;
    if (key) {
      this.#balancer.updateInstance(key, serviceId, {
        activeConnections: count,
      });
    }
  }

  /**
   * Passive outlier detection from what the proxy saw: enough consecutive
   * failures eject the instance for a time that doubles with each ejection.
   */
  reportOutcome(serviceId: string, outcome: ProxyOutcome): void {
    const now = this.#now();
    let outlier = this.#outliers.get(serviceId);
    if (outcome.ok) {
      if (!outlier) return;
      outlier.consecutiveFailures = 0;
      if (
        outlier.ejections > 0 &&
        !(outlier.ejectedUntil !== undefined && outlier.ejectedUntil > now) &&
        now - (outlier.lastEjectedAt ?? 0) >= this.#ejection.maxEjectionMs
      ) {
        this.#outliers.delete(serviceId);
      }
      return;
    }
    if (!outlier) {
      outlier = { consecutiveFailures: 0, ejections: 0 };
      this.#outliers.set(serviceId, outlier);
    }
    if (outlier.ejectedUntil !== undefined && outlier.ejectedUntil > now) {
      return; // requests in flight when it was ejected
    }
    outlier.consecutiveFailures++;
    if (outlier.consecutiveFailures < this.#ejection.consecutiveFailures) {
      return;
    }
    outlier.consecutiveFailures = 0;
    outlier.ejections++;
    const { baseEjectionMs, maxEjectionMs } = this.#ejection;
    const duration = Math.min(
      baseEjectionMs * 2 ** (outlier.ejections - 1),
      maxEjectionMs,
    );
    outlier.ejectedUntil = now + duration;
    outlier.lastEjectedAt = now;
    const entry = this.#entries.get(serviceId);
    if (entry) {
      this.#balancer.updateInstance(entry.key, serviceId, {
        ejectedUntil: outlier.ejectedUntil,
      });
    }
    this.#logger.warn(
      `Ejected instance '${serviceId}' of service '${
        entry?.registration.serviceName ?? '?'
      }' for ${duration} ms after ${
        this.#ejection.consecutiveFailures
      } consecutive failures (ejection ${outlier.ejections})`,
    );
    this.#publish('instanceEjected', {
      serviceId,
      serviceName: entry?.registration.serviceName,
      tenant: entry?.registration.tenant,
      ejectedUntil: new Date(outlier.ejectedUntil).toISOString(),
      ejections: outlier.ejections,
    });
  }

  /**
   * The health monitor's verdict on a registered service or a plugin
   * instance. Written through to the database (other replicas follow) when
   * it differs from what the view holds.
   */
  async setInstanceHealth(
    serviceId: string,
    health: { ready?: boolean; healthScore?: number },
  ): Promise<void> {
    const { ready, healthScore } = health;
    if (ready !== undefined && typeof ready !== 'boolean') {
      throw new InputError(`ready must be true or false, got ${ready}`);
    }
    if (
      healthScore !== undefined &&
      (typeof healthScore !== 'number' ||
        !(healthScore >= 0 && healthScore <= 1))
    ) {
      throw new InputError(
        `healthScore must be a number from 0 to 1, got ${healthScore}`,
      );
    }
    const current = this.#entries.get(serviceId)?.registration;
    if (
      current &&
      (ready === undefined || ready === current.ready) &&
      (healthScore === undefined || healthScore === current.healthScore)
    ) {
      return;
    }
    const now = new Date(this.#now());
    if (
      this.#registered.has(serviceId) ||
      (!current && (await this.#store.get(serviceId)))
    ) {
      const service = await this.#store.update(
        serviceId,
        { ready, healthScore },
        now,
      );
      if (!service) throw new NotFoundError(`No service '${serviceId}'`);
      this.#rebuild(this.#applyService(service));
    } else if (current || (await this.#store.isInstanceId(serviceId))) {
      this.#rebuild(
        this.#applyOverride(
          await this.#store.setInstanceOverride(
            serviceId,
            { ready, healthScore },
            now,
          ),
        ),
      );
    } else {
      throw new NotFoundError(`No service or instance '${serviceId}'`);
    }
  }

  /**
   * Marks services past their TTL as expired and removes those past their
   * deregistration deadline; now and then also prunes the change log and
   * the overrides of instances that ended. Runs on a timer unless
   * `expireIntervalMs` is 0.
   */
  async expire(): Promise<{ expired: string[]; deregistered: string[] }> {
    const now = this.#now();
    const result = await this.#store.expire(new Date(now));
    if (result.expired.length || result.deregistered.length) {
      await this.refresh();
      for (const serviceId of result.expired) {
        this.#publish('serviceExpired', { serviceId });
      }
      for (const serviceId of result.deregistered) {
        this.#publish('serviceDeregistered', { serviceId, reason: 'ttl' });
      }
    }
    if (now - this.#lastPrune >= 60_000) {
      this.#lastPrune = now;
      await this.#store.pruneChanges(new Date(now - this.#changeRetentionMs));
      await this.#store.pruneInstanceOverrides();
    }
    return result;
  }

  // --- the view ------------------------------------------------------------

  async #loadAll() {
    const [services, running, overrides] = await Promise.all([
      this.#store.list(),
      this.#store.listRunningInstances(),
      this.#store.listInstanceOverrides(),
    ]);
    const registered = new Map<string, StoredService>();
    for (const service of services) {
      const current = this.#registered.get(service.serviceId);
      const deleted = this.#deleted.get(service.serviceId);
      if (deleted !== undefined && deleted > service.revision) continue;
      registered.set(
        service.serviceId,
        current && current.revision > service.revision ? current : service,
      );
    }
    this.#registered = registered;
    this.#registeredByPool.clear();
    for (const service of registered.values()) {
      this.#index(
        service.serviceId,
        poolKey(service.tenant, service.serviceName),
      );
    }
    this.#deleted.clear();
    for (const override of overrides) this.#applyOverride(override);
    this.#setRunning(running);
    this.#lastResync = this.#now();
    this.#rebuild();
  }

  async #applyChanges(changes: ServiceChange[]) {
    const services = new Map<string, number>();
    const overrides = new Map<string, number>();
    const instances = new Set<string>();
    for (const change of changes) {
      if (change.kind === 'instance') {
        instances.add(change.serviceId);
        continue;
      }
      const target = change.kind === 'override' ? overrides : services;
      target.set(
        change.serviceId,
        Math.max(change.revision, target.get(change.serviceId) ?? 0),
      );
    }
    const dirty = new Set<string>();
    if (services.size > 0) {
      const rows = await this.#store.getMany([...services.keys()]);
      const found = new Set<string>();
      for (const row of rows) {
        found.add(row.serviceId);
        for (const key of this.#applyService(row)) dirty.add(key);
      }
      for (const [serviceId, revision] of services) {
        if (found.has(serviceId)) continue;
        for (const key of this.#forget(serviceId, revision)) dirty.add(key);
      }
    }
    if (instances.size > 0) {
      const running = new Map(
        (await this.#store.getRunningInstances([...instances])).map(i => [
          i.instanceId,
          i,
        ]),
      );
      for (const id of instances) {
        for (const key of this.#applyInstance(id, running.get(id))) {
          dirty.add(key);
        }
      }
    }
    if (overrides.size > 0) {
      for (const override of await this.#store.listInstanceOverrides([
        ...overrides.keys(),
      ])) {
        for (const key of this.#applyOverride(override)) dirty.add(key);
      }
    }
    this.#rebuild(dirty);
  }

  /**
   * Between full reloads, one cheap look: new plugins (their pools exist
   * before their first instance). Instances come through the change log.
   */
  async #tick() {
    if (this.#now() - this.#lastResync >= this.#resyncIntervalMs) {
      await this.#loadAll();
      return;
    }
    if ((await this.#store.countPlugins()) === this.#pluginCount) return;
    const plugins = await this.#store.listPlugins();
    const dirty: string[] = [];
    for (const { pluginId, tenant } of plugins) {
      if (this.#plugins.get(pluginId) === tenant) continue;
      this.#plugins.set(pluginId, tenant);
      dirty.push(poolKey(tenant, pluginId));
      // Registrations under its name, in any tenant, stop serving it.
      for (const other of this.#byName.get(pluginId)?.keys() ?? []) {
        dirty.push(poolKey(other, pluginId));
      }
    }
    this.#pluginCount = plugins.length;
    this.#rebuild(dirty);
  }

  /** Takes every running instance and plugin (a full reload). */
  #setRunning(
    running: Awaited<ReturnType<ServiceStore['listRunningInstances']>>,
  ) {
    this.#running = new Map(running.instances.map(i => [i.instanceId, i]));
    this.#plugins = new Map(running.plugins.map(p => [p.pluginId, p.tenant]));
    this.#pluginCount = running.plugins.length;
    this.#runningByPool.clear();
    for (const instance of running.instances) {
      this.#indexInstance(instance);
    }
  }

  /** An instance that changed: running (as given) or not; the pools it touched. */
  #applyInstance(
    instanceId: string,
    instance: RunningInstance | undefined,
  ): string[] {
    const touched: string[] = [];
    const before = this.#running.get(instanceId);
    if (before) {
      const key = poolKey(before.tenant, before.pluginId);
      const ids = this.#runningByPool.get(key);
      ids?.delete(instanceId);
      if (ids?.size === 0) this.#runningByPool.delete(key);
      this.#running.delete(instanceId);
      touched.push(key);
    }
    if (instance) {
      this.#running.set(instanceId, instance);
      if (!this.#plugins.has(instance.pluginId)) {
        for (const other of this.#byName.get(instance.pluginId)?.keys() ?? []) {
          touched.push(poolKey(other, instance.pluginId));
        }
      }
      this.#plugins.set(instance.pluginId, instance.tenant);
      touched.push(this.#indexInstance(instance));
    }
    return touched;
  }

  #indexInstance(instance: RunningInstance): string {
    const key = poolKey(instance.tenant, instance.pluginId);
    let ids = this.#runningByPool.get(key);
    if (!ids) {
      ids = new Set();
      this.#runningByPool.set(key, ids);
    }
    ids.add(instance.instanceId);
    return key;
  }

  /** Takes a newer row of a registered service; the pools it touched. */
  #applyService(service: StoredService): string[] {
    const current = this.#registered.get(service.serviceId);
    if (current && current.revision > service.revision) return [];
    const deleted = this.#deleted.get(service.serviceId);
    if (deleted !== undefined && deleted > service.revision) return [];
    this.#deleted.delete(service.serviceId);
    this.#registered.set(service.serviceId, service);
    const key = poolKey(service.tenant, service.serviceName);
    const before = current && poolKey(current.tenant, current.serviceName);
    if (before !== undefined && before !== key) {
      this.#unindex(service.serviceId, before);
    }
    this.#index(service.serviceId, key);
    return before !== undefined && before !== key ? [before, key] : [key];
  }

  /** Drops a deleted service unless the view holds a newer row; the pools it touched. */
  #forget(serviceId: string, revision: number): string[] {
    const current = this.#registered.get(serviceId);
    if (current && current.revision > revision) return [];
    this.#registered.delete(serviceId);
    this.#deleted.set(serviceId, revision);
    this.#outliers.delete(serviceId);
    if (!current) return [];
    const key = poolKey(current.tenant, current.serviceName);
    this.#unindex(serviceId, key);
    return [key];
  }

  /** Takes a newer override of an instance; the pool it touched. */
  #applyOverride(override: InstanceOverride): string[] {
    const current = this.#overrides.get(override.instanceId);
    if (current && current.revision > override.revision) return [];
    this.#overrides.set(override.instanceId, override);
    const instance = this.#running.get(override.instanceId);
    return instance ? [poolKey(instance.tenant, instance.pluginId)] : [];
  }

  #index(serviceId: string, key: string) {
    let ids = this.#registeredByPool.get(key);
    if (!ids) {
      ids = new Set();
      this.#registeredByPool.set(key, ids);
    }
    ids.add(serviceId);
  }

  #unindex(serviceId: string, key: string) {
    const ids = this.#registeredByPool.get(key);
    ids?.delete(serviceId);
    if (ids?.size === 0) this.#registeredByPool.delete(key);
  }

  /**
   * Derives the entries and pools from the sources and hands them to the
   * balancer: every pool, or only the `dirty` ones (a write touches one or
   * two pools; rebuilding all of them made each registration cost as much as
   * every other one together).
   */
  #rebuild(dirty?: Iterable<string>) {
    if (dirty === undefined) {
      this.#entries = new Map();
      this.#pools = new Map();
      this.#byName = new Map();
      const keys = new Set<string>([
        ...this.#registeredByPool.keys(),
        ...this.#runningByPool.keys(),
      ]);
      for (const [pluginId, tenant] of this.#plugins) {
        keys.add(poolKey(tenant, pluginId));
      }
      for (const key of keys) this.#rebuildPool(key);
      for (const key of this.#balancerKeys) {
        if (!this.#pools.has(key)) this.#balancer.removeService(key);
      }
      this.#balancerKeys = new Set(this.#pools.keys());
      for (const id of this.#outliers.keys()) {
        if (!this.#entries.has(id)) this.#outliers.delete(id);
      }
    } else {
      let changed = false;
      for (const key of dirty) {
        this.#rebuildPool(key);
        changed = true;
      }
      if (!changed) return;
    }
    this.#routingChanged();
  }

  /** Rebuilds one pool from the sources, in place. */
  #rebuildPool(key: string) {
    const previous = this.#pools.get(key);
    for (const id of previous?.ids ?? []) {
      if (this.#entries.get(id)?.key === key) this.#entries.delete(id);
    }
    const [tenant, serviceName] = splitPoolKey(key);
    const pool: Pool = { key, tenant, serviceName, ids: [], routableCount: 0 };
    const add = (entry: Entry) => {
      this.#entries.set(entry.id, entry);
      pool.ids.push(entry.id);
      if (entry.routable) pool.routableCount++;
    };
    // A managed plugin's (or Backstage's) name: only the runtime's instances
    // serve it, whatever was registered under it before the rule or before
    // the plugin was installed.
    const reserved = this.#reservedNames.isReserved(serviceName, id =>
      this.#plugins.has(id),
    );
    for (const id of reserved ? [] : this.#registeredByPool.get(key) ?? []) {
      const service = this.#registered.get(id)!;
      if (service.strategy && !pool.strategy) pool.strategy = service.strategy;
      add(serviceEntry(service, key));
    }
    for (const id of this.#runningByPool.get(key) ?? []) {
      if (this.#registered.has(id)) continue; // a registration won
      add(instanceEntry(this.#running.get(id)!, key, this.#overrides.get(id)));
    }
    for (const id of previous?.ids ?? []) {
      if (!this.#entries.has(id)) this.#outliers.delete(id);
    }

    const tenants = this.#byName.get(serviceName);
    if (pool.ids.length === 0 && this.#plugins.get(serviceName) !== tenant) {
      this.#pools.delete(key);
      tenants?.delete(tenant);
      if (tenants?.size === 0) this.#byName.delete(serviceName);
      if (this.#balancerKeys.delete(key)) this.#balancer.removeService(key);
      return;
    }
    pool.ids.sort();
    this.#pools.set(key, pool);
    if (tenants) tenants.set(tenant, pool);
    else this.#byName.set(serviceName, new Map([[tenant, pool]]));
    this.#balancer.setInstances(
      key,
      pool.ids.map(id => this.#balanced(this.#entries.get(id)!)),
    );
    this.#balancerKeys.add(key);
  }

  #balanced(entry: Entry): BalancedInstance {
    const outlier = this.#outliers.get(entry.id);
    return {
      id: entry.id,
      weight: entry.weight,
      activeConnections: this.#active.get(entry.id) ?? 0,
      maxConnections: entry.maxConnections,
      healthScore: entry.healthScore,
      ready: entry.routable,
      ejectedUntil: outlier?.ejectedUntil,
    };
  }

  #registrationOf(entry: Entry): ServiceRegistration {
    const ejectedUntil = this.#outliers.get(entry.id)?.ejectedUntil;
    return {
      ...entry.registration,
      ...(ejectedUntil !== undefined && ejectedUntil > this.#now()
        ? { ejectedUntil: new Date(ejectedUntil).toISOString() }
        : {}),
      activeConnections: this.#active.get(entry.id) ?? 0,
    };
  }

  // --- picking -------------------------------------------------------------

  #poolFor(serviceName: string, scope: TenantScope, tenant?: string): Pool {
    const tenants = this.#byName.get(serviceName);
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

  #checkStrategy(strategy: string): LoadBalancingStrategy {
    if (!KNOWN_STRATEGIES.has(strategy)) {
      throw new InputError(
        `Unknown load balancing strategy ${JSON.stringify(
          strategy,
        )}; expected one of ${STRATEGY_NAMES}`,
      );
    }
    return strategy as LoadBalancingStrategy;
  }

  /** Another pick when the first chose an instance already tried. */
  #pickExcluding(
    pool: Pool,
    strategy: LoadBalancingStrategy,
    client: ClientInfo,
    now: number,
    exclude: ReadonlySet<string>,
  ) {
    for (let i = 0; i < pool.ids.length; i++) {
      const result = this.#balancer.pick(pool.key, strategy, client, now);
      if (!result) return undefined;
      if (!exclude.has(result.instance.id)) return result;
    }
    // A strategy that keeps choosing the same instance (ip-hash): the first
    // other eligible one.
    for (const instance of this.#balancer.getInstances(pool.key)) {
      if (!exclude.has(instance.id) && isEligible(instance, now)) {
        return { instance, panic: false };
      }
    }
    return undefined;
  }

  #whyUnavailable(pool: Pool, now: number): string {
    const name = pool.serviceName;
    if (pool.ids.length === 0) return `Service '${name}' has no instances`;
    if (pool.routableCount === 0) {
      return `Service '${name}' has no ready instance (${pool.ids.length} known, none ready)`;
    }
    return this.#whyNone(pool, now);
  }

  #whyNone(pool: Pool, now: number, exclude?: ReadonlySet<string>): string {
    const name = pool.serviceName;
    const instances = this.#balancer
      .getInstances(pool.key)
      .filter(i => i.ready && i.weight > 0);
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

  // --- plumbing ------------------------------------------------------------

  /**
   * Which of `names` are installed plugins' ids: what this replica knows,
   * and the database for the others (installed on another replica since
   * its last look).
   */
  async #managedPlugins(names: string[]): Promise<ReadonlySet<string>> {
    const known = names.filter(name => this.#plugins.has(name));
    const unknown = names.filter(name => !this.#plugins.has(name));
    const found =
      unknown.length > 0
        ? await this.#store.existingPluginIds(unknown)
        : new Set<string>();
    for (const name of known) found.add(name);
    return found;
  }

  /**
   * A registration under a reserved name (stored before the rule, or before
   * its plugin was installed) may not be kept alive: 409 naming the rule.
   * From the view (a plugin installed elsewhere shows within a poll): a
   * heartbeat costs no query per service.
   */
  async #assertNotReserved(serviceIds: string[]) {
    const names = new Set<string>();
    for (const serviceId of serviceIds) {
      const name =
        this.#registered.get(serviceId)?.serviceName ??
        (serviceIds.length === 1
          ? (await this.#store.get(serviceId))?.serviceName
          : undefined);
      if (name !== undefined) names.add(name);
    }
    for (const name of names) {
      this.#reservedNames.assertFree(
        name,
        id => this.#plugins.has(id),
        'a heartbeat',
      );
    }
  }

  /**
   * Whether the proxy may pass a caller's `Authorization` to this target:
   * only to a plugin instance a runtime started on this host, or an
   * endpoint of an external plugin the operator configured. A
   * registration's `pluginId`, or an endpoint named in an install request,
   * is the caller's word.
   */
  forwardsAuthorization(serviceId: string): boolean {
    const instance = this.#running.get(serviceId);
    if (!instance) return false;
    return (
      instance.runtime !== 'external' ||
      this.#trustedExternal.has(instance.pluginId)
    );
  }

  /** Throws NotFound unless the id is a registered service the caller may see. */
  async #registeredInScope(serviceId: string, scope: TenantScope) {
    const tenant =
      this.#registered.get(serviceId)?.tenant ??
      (await this.#store.get(serviceId))?.tenant;
    if (tenant === undefined || !inTenantScope(scope, tenant)) {
      if (this.#entries.get(serviceId)?.source === 'instance') {
        throw new InputError(
          `'${serviceId}' is a plugin instance: it is registered while it runs; stop or scale the plugin instead`,
        );
      }
      throw new NotFoundError(`No service '${serviceId}'`);
    }
  }

  /** Whether the id is a registered service or a running plugin instance the caller may see. */
  async #findInScope(
    serviceId: string,
    scope: TenantScope,
  ): Promise<'registered' | 'instance'> {
    const service =
      this.#registered.get(serviceId) ?? (await this.#store.get(serviceId));
    if (service) {
      if (inTenantScope(scope, service.tenant)) return 'registered';
      throw new NotFoundError(`No service '${serviceId}'`);
    }
    let instance = this.#running.get(serviceId);
    if (!instance) {
      await this.refresh();
      instance = this.#running.get(serviceId);
    }
    if (instance && inTenantScope(scope, instance.tenant)) return 'instance';
    throw new NotFoundError(`No service '${serviceId}'`);
  }

  #subscribe() {
    const events = this.#events;
    if (!events) return;
    // Instances start and stop with lifecycle actions: look at once rather
    // than at the next poll. Only changes into or out of running matter; a
    // poll per state change would re-read every instance twice for each
    // operation the orchestrator runs. (Health verdicts reach discovery
    // through setInstanceHealth, from the plugin's wiring.)
    const onSystemEvent = (event: SystemEventEnvelope) => {
      if (event?.component === 'runtime') {
        this.#feed.pollNow();
        return;
      }
      if (
        event?.component === 'stateMachine' &&
        event.event === 'stateChanged'
      ) {
        const change = event.args[0] as StateChange | undefined;
        if (change?.from === 'running' || change?.to === 'running') {
          this.#feed.pollNow();
        }
      }
    };
    events.on('systemEvent', onSystemEvent);
    this.#unsubscribe.push(() => events.off('systemEvent', onSystemEvent));
  }

  #scheduleExpire() {
    if (!this.#started) return;
    this.#expireTimer = setTimeout(() => {
      this.#expiring = this.expire()
        .catch(error => this.#logger.warn(`expiring services failed: ${error}`))
        .finally(() => {
          this.#expiring = undefined;
          this.#scheduleExpire();
        });
    }, this.#expireIntervalMs);
    this.#expireTimer.unref();
  }

  #publish<E extends ComponentEvent<'discovery'>>(
    event: E,
    payload: PayloadOf<'discovery', E>,
  ) {
    this.#events?.publish('discovery', event, payload);
  }
}
