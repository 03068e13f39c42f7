import { ResponseError } from '@backstage/errors';
import { LifecycleState } from '../lifecycle/states';
import {
  ActionRequest,
  BatchRequest,
  InstallRequest,
  MAX_PAGE_SIZE,
  Page,
  ProbeDefinition,
  UpdateRequest,
  UpdateRollbackRequest,
} from '../api/schemas';
import {
  ConfigDiff,
  ConfigRollbackRequest,
  ConfigVersion,
  ConfigVersionSummary,
  ConfigWatchResult,
  ConfigWritePreview,
  ConfigWriteResult,
  PatchConfigurationRequest,
  EffectiveConfiguration,
  SetConfigurationRequest,
} from '../api/configuration';
import {
  BatchAccepted,
  Operation,
  OperationAccepted,
  PluginDetails,
  PluginSummary,
  StateTransition,
} from '../api/types';
import { PluginHealth, PluginHealthQuery } from '../api/health';
import { AvailableVersions } from '../api/versions';
import { SystemMetrics } from '../api/systemMetrics';
import { PluginCatalogSync } from '../api/catalogSync';
import {
  PluginVersionMetrics,
  PluginVersionMetricsQuery,
} from '../api/versionMetrics';
import {
  Deployment,
  DeploymentAction,
  DeploymentActionRequest,
  DeploymentPhase,
} from '../api/deployments';
import { DeploymentActionResult } from '../routes/deploymentRoutes';
import {
  EventStreamQuery,
  PluginLifecycleStreamEvent,
  readServerSentEvents,
} from '../api/events';
import {
  RegisterServiceRequest,
  UpdateServiceRequest,
  ResolvedService,
  ServiceLoadBalancingStrategy,
  ServiceRegistration,
} from '../api/discovery';
import { z } from 'zod';
import { ConfigEnvironments } from '../routes/configRoutes';
import { RouteSpec, routePath } from '../routes/route';
import { pluginLifecycleRoutes as routes } from '../routes';

/**
 * The annotation that links a catalog entity to a managed plugin.
 *
 * @public
 */
export const PLUGIN_ID_ANNOTATION = 'plugin-lifecycle.backstage.io/plugin-id';

/**
 * A command on a plugin, queued as an operation of its name: `start`,
 * `stop`, `restart`, `uninstall`, `maintenance-on`, `maintenance-off`
 * (out of rotation with automation suspended, and back) and `configure`
 * (re-apply the effective configuration).
 *
 * @public
 */
export type LifecycleCommand =
  | 'start'
  | 'stop'
  | 'restart'
  | 'uninstall'
  | 'maintenance-on'
  | 'maintenance-off'
  | 'configure';

/** The routes of {@link LifecycleCommand}s. */
const commandRoutes = {
  start: routes.startPlugin,
  stop: routes.stopPlugin,
  restart: routes.restartPlugin,
  uninstall: routes.uninstallPlugin,
  'maintenance-on': routes.enterMaintenance,
  'maintenance-off': routes.exitMaintenance,
  configure: routes.configurePlugin,
} satisfies Record<LifecycleCommand, unknown>;

/**
 * The typed HTTP client of the plugin-lifecycle backend, usable in the browser
 * and in Node.
 *
 * @public
 */
export class PluginLifecycleClient {
  readonly #discoveryApi: { getBaseUrl(pluginId: string): Promise<string> };
  readonly #fetchApi: { fetch: typeof fetch };

  constructor(options: {
    discoveryApi: { getBaseUrl(pluginId: string): Promise<string> };
    fetchApi?: { fetch: typeof fetch };
  }) {
    this.#discoveryApi = options.discoveryApi;
    this.#fetchApi = options.fetchApi ?? { fetch: (...a) => fetch(...a) };
  }

  /**
   * Every plugin (matching the filter), following the pages of
   * `GET /plugins`; {@link PluginLifecycleClient.listPluginsPage} reads one.
   */
  async listPlugins(filter?: {
    state?: LifecycleState;
    tenant?: string;
    entityRef?: string;
  }): Promise<PluginSummary[]> {
    return this.#allPages(cursor =>
      this.listPluginsPage({ ...filter, limit: MAX_PAGE_SIZE, cursor }),
    );
  }

  /** One page of `GET /plugins`: plugins by id, `nextCursor` when more follow. */
  async listPluginsPage(filter?: {
    state?: LifecycleState;
    tenant?: string;
    entityRef?: string;
    limit?: number;
    cursor?: string;
  }): Promise<Page<PluginSummary>> {
    return this.#call(routes.listPlugins, { query: filter });
  }

  async getPlugin(pluginId: string): Promise<PluginDetails> {
    return this.#call(routes.getPlugin, { params: { pluginId } });
  }

  /**
   * The versions the plugin's artifact source offers (configured list,
   * tarball directory or npm registry), newest first, the current one marked.
   */
  async listVersions(pluginId: string): Promise<AvailableVersions> {
    return this.#call(routes.listAvailableVersions, { params: { pluginId } });
  }

  /** A plugin's whole state history, oldest first, following the pages. */
  async getHistory(pluginId: string): Promise<StateTransition[]> {
    return this.#allPages(cursor =>
      this.getHistoryPage(pluginId, { limit: MAX_PAGE_SIZE, cursor }),
    );
  }

  /** Catalog sync of a plugin: whether it follows its entity, and what the last pass did and why. */
  async getPluginCatalogSync(pluginId: string): Promise<PluginCatalogSync> {
    return this.#call(routes.getPluginCatalogSync, { params: { pluginId } });
  }

  /** One page of a plugin's state history, oldest first. */
  async getHistoryPage(
    pluginId: string,
    page?: { limit?: number; cursor?: string },
  ): Promise<Page<StateTransition>> {
    return this.#call(routes.getHistory, { params: { pluginId }, query: page });
  }

  /**
   * The health of a plugin's instances and of each of their probes: status,
   * latency, trend and verdict, with `recent` sampled results per probe.
   */
  async getPluginHealth(
    pluginId: string,
    options?: PluginHealthQuery,
  ): Promise<PluginHealth> {
    return this.#call(routes.getPluginHealth, {
      params: { pluginId },
      query: { recent: options?.recent },
    });
  }

  /** Replaces a plugin's probe definitions; answers them as stored. */
  async setPluginProbes(
    pluginId: string,
    probes: ProbeDefinition[],
  ): Promise<{ pluginId: string; probes: ProbeDefinition[] }> {
    return this.#call(routes.setPluginProbes, {
      params: { pluginId },
      body: { probes },
    });
  }

  /**
   * Request rate, error rate and latency per version of a plugin over the
   * last minutes, as the backend replica that answers sampled them.
   */
  async getPluginVersionMetrics(
    pluginId: string,
    options?: PluginVersionMetricsQuery,
  ): Promise<PluginVersionMetrics> {
    return this.#call(routes.getPluginVersionMetrics, {
      params: { pluginId },
      query: { since: options?.since },
    });
  }

  /**
   * The system's counts in the caller's tenants: plugins by state and
   * health, deployments (active, success rate), operations, and the
   * answering replica's proxied traffic (`serviceDiscovery`).
   */
  async getSystemMetrics(): Promise<SystemMetrics> {
    return this.#call(routes.getSystemMetrics, {});
  }

  async installPlugin(
    pluginId: string,
    request: InstallRequest,
  ): Promise<OperationAccepted> {
    return this.#call(routes.installPlugin, {
      params: { pluginId },
      body: request,
    });
  }

  /**
   * Moves an installed plugin to another version through a deployment
   * (`deploymentStrategy`, default rolling): answers the queued operation
   * and the `deploymentId` to follow with {@link PluginLifecycleClient.getDeployment}.
   */
  async updatePlugin(
    pluginId: string,
    request: UpdateRequest,
  ): Promise<OperationAccepted> {
    return this.#call(routes.updatePlugin, {
      params: { pluginId },
      body: request,
    });
  }

  /**
   * Rolls a succeeded update back: the version it replaced runs again, with
   * the configuration that version ran with.
   */
  async rollbackUpdate(
    pluginId: string,
    operationId: string,
    request: UpdateRollbackRequest = {},
  ): Promise<OperationAccepted> {
    return this.#call(routes.rollbackUpdate, {
      params: { pluginId, operationId },
      body: request,
    });
  }

  /**
   * Queues a {@link LifecycleCommand} (`POST /plugins/{pluginId}/{command}`);
   * {@link PluginLifecycleClient.getOperation} follows it.
   */
  async runCommand(
    pluginId: string,
    command: LifecycleCommand,
    options?: ActionRequest,
  ): Promise<OperationAccepted> {
    return this.#call(commandRoutes[command], {
      params: { pluginId },
      body: options ?? {},
    });
  }

  /**
   * Puts a plugin in maintenance: its instances keep running out of
   * rotation and no automation acts on it until
   * {@link PluginLifecycleClient.exitMaintenance}.
   */
  async enterMaintenance(
    pluginId: string,
    options?: { reason?: string },
  ): Promise<OperationAccepted> {
    return this.runCommand(pluginId, 'maintenance-on', options);
  }

  /** Ends maintenance: back to running (in rotation) or installed. */
  async exitMaintenance(
    pluginId: string,
    options?: { reason?: string },
  ): Promise<OperationAccepted> {
    return this.runCommand(pluginId, 'maintenance-off', options);
  }

  /**
   * Queues a `configure`: the effective configuration re-applied to the
   * running instances, which restart (or reload) only when a value changed.
   */
  async configurePlugin(
    pluginId: string,
    options?: { reason?: string },
  ): Promise<OperationAccepted> {
    return this.runCommand(pluginId, 'configure', options);
  }

  /**
   * A plugin's latest operations, newest first: the first page (50 unless
   * `page.limit`); pass its `nextCursor` to
   * {@link PluginLifecycleClient.listOperationsPage} for older ones.
   */
  async listOperations(
    pluginId: string,
    page?: { limit?: number },
  ): Promise<Operation[]> {
    return (await this.listOperationsPage(pluginId, page)).items;
  }

  /** One page of a plugin's operations, newest first. */
  async listOperationsPage(
    pluginId: string,
    page?: { limit?: number; cursor?: string },
  ): Promise<Page<Operation>> {
    return this.#call(routes.listPluginOperations, {
      params: { pluginId },
      query: page,
    });
  }

  async cancelOperation(operationId: string): Promise<Operation> {
    return this.#call(routes.cancelOperation, {
      params: { operationId },
      body: {},
    });
  }

  async submitBatch(batch: BatchRequest): Promise<BatchAccepted> {
    return this.#call(routes.submitBatch, { body: batch });
  }

  /**
   * An operation; with `waitSeconds`, as it is once it has ended or that many
   * seconds (at most 60) passed.
   */
  async getOperation(
    operationId: string,
    options: { waitSeconds?: number } = {},
  ): Promise<Operation> {
    return this.#call(routes.getOperation, {
      params: { operationId },
      query: { waitSeconds: options.waitSeconds },
    });
  }

  /** A deployment: phase, steps, traffic per version, analysis and approvals. */
  async getDeployment(deploymentId: string): Promise<Deployment> {
    return this.#call(routes.getDeployment, { params: { deploymentId } });
  }

  /** Deployments the caller may read, newest first (50 unless `limit`). */
  async listDeployments(filter?: {
    pluginId?: string;
    phase?: DeploymentPhase;
    active?: boolean;
    limit?: number;
  }): Promise<Deployment[]> {
    const body = await this.#call(routes.listDeployments, {
      query: {
        ...filter,
        active:
          filter?.active === undefined ? undefined : String(filter.active),
      },
    });
    return body.items;
  }

  /** A plugin's deployments, newest first (50 unless `limit`). */
  async listPluginDeployments(
    pluginId: string,
    filter?: { phase?: DeploymentPhase; active?: boolean; limit?: number },
  ): Promise<Deployment[]> {
    const body = await this.#call(routes.listPluginDeployments, {
      params: { pluginId },
      query: {
        ...filter,
        active:
          filter?.active === undefined ? undefined : String(filter.active),
      },
    });
    return body.items;
  }

  /**
   * An action on a deployment (`approve` and `reject` need the
   * `deployment.approve` permission, the others deploy): the deployment as
   * the action left it; the rollback of a succeeded deployment answers the
   * update operation that rolls it back.
   */
  async deploymentAction(
    deploymentId: string,
    action: DeploymentAction,
    request: DeploymentActionRequest = {},
  ): Promise<DeploymentActionResult> {
    return this.#call(routes.deploymentAction, {
      params: { deploymentId, action },
      body: request,
    });
  }

  /** The environments configuration may target, and the default one. */
  async getConfigEnvironments(): Promise<ConfigEnvironments> {
    return this.#call(routes.getConfigEnvironments, {});
  }

  /**
   * The effective configuration of a plugin in an environment, with the layer
   * each value comes from. Secrets are masked unless `reveal` is asked for and
   * allowed; `at` reads the configuration as it was at a past time.
   */
  async getConfiguration(
    pluginId: string,
    environment: string,
    options?: { reveal?: boolean; at?: string },
  ): Promise<EffectiveConfiguration> {
    return this.#call(routes.getConfiguration, {
      params: { pluginId, environment },
      query: {
        reveal: options?.reveal ? 'true' : undefined,
        at: options?.at || undefined,
      },
    });
  }

  /**
   * Replaces the content of one layer (`base` or an environment); refused
   * if it would drop a required key. `changed: false` when the content was
   * already that.
   */
  async setConfiguration(
    pluginId: string,
    layer: string,
    request: Omit<SetConfigurationRequest, 'dryRun'>,
  ): Promise<ConfigWriteResult> {
    return this.#call(routes.setConfiguration, {
      params: { pluginId, environment: layer },
      // A dry run answers a preview instead: see previewConfiguration.
      body: { ...request, dryRun: undefined },
    }) as Promise<ConfigWriteResult>;
  }

  /** Sets and removes keys of one layer, leaving its other keys alone. */
  async patchConfiguration(
    pluginId: string,
    layer: string,
    request: Omit<PatchConfigurationRequest, 'dryRun'>,
  ): Promise<ConfigWriteResult> {
    return this.#call(routes.patchConfiguration, {
      params: { pluginId, environment: layer },
      body: { ...request, dryRun: undefined },
    }) as Promise<ConfigWriteResult>;
  }

  /** What a PUT (`replace`) or PATCH (`merge`) would do; nothing is stored. */
  async previewConfiguration(
    pluginId: string,
    layer: string,
    mode: 'replace' | 'merge',
    request: SetConfigurationRequest | PatchConfigurationRequest,
  ): Promise<ConfigWritePreview> {
    return this.#call(
      mode === 'replace' ? routes.setConfiguration : routes.patchConfiguration,
      {
        params: { pluginId, environment: layer },
        body: { ...request, dryRun: true },
      },
    ) as Promise<ConfigWritePreview>;
  }

  async listConfigVersions(
    pluginId: string,
    layer: string,
  ): Promise<ConfigVersionSummary[]> {
    const body = await this.#call(routes.listConfigVersions, {
      params: { pluginId, layer },
    });
    return body.items;
  }

  async getConfigVersion(
    pluginId: string,
    layer: string,
    version: number,
  ): Promise<ConfigVersion> {
    return this.#call(routes.getConfigVersion, {
      params: { pluginId, layer, version },
    });
  }

  async diffConfigVersions(
    pluginId: string,
    layer: string,
    from: number,
    to: number,
  ): Promise<ConfigDiff> {
    return this.#call(routes.diffConfigVersions, {
      params: { pluginId, layer },
      query: { from, to },
    });
  }

  /** Writes the content of an earlier version as a new version. */
  async rollbackConfiguration(
    pluginId: string,
    layer: string,
    request: ConfigRollbackRequest,
  ): Promise<ConfigWriteResult> {
    return this.#call(routes.rollbackConfiguration, {
      params: { pluginId, layer },
      body: request,
    });
  }

  /** Long-polls until the effective configuration passes `afterRevision`. */
  async watchConfiguration(
    pluginId: string,
    environment: string,
    options: {
      afterRevision: number;
      key?: string;
      timeoutMs?: number;
      /** Ends the wait early (the promise rejects with the abort). */
      signal?: AbortSignal;
    },
  ): Promise<ConfigWatchResult> {
    return this.#call(routes.watchConfiguration, {
      params: { pluginId, environment },
      query: {
        afterRevision: options.afterRevision,
        key: options.key || undefined,
        timeoutMs: options.timeoutMs,
      },
      signal: options.signal,
    });
  }

  /** Registers (or replaces) an instance of a service. */
  async registerService(
    registration: RegisterServiceRequest,
  ): Promise<ServiceRegistration> {
    return this.#call(routes.registerService, { body: registration });
  }

  async deregisterService(serviceId: string): Promise<void> {
    await this.#call(routes.deregisterService, { params: { serviceId } });
  }

  /** Registers (or replaces) many instances at once (at most 1,000), all or none. */
  async registerServices(
    registrations: RegisterServiceRequest[],
  ): Promise<ServiceRegistration[]> {
    const body = await this.#call(routes.registerServices, {
      body: { services: registrations },
    });
    return body.items;
  }

  /** Heartbeats of many registrations at once (at most 1,000). */
  async heartbeats(
    serviceIds: string[],
  ): Promise<{ renewed: number; unknown: string[] }> {
    return this.#call(routes.heartbeats, { body: { serviceIds } });
  }

  /** Changes an instance's weight or maxConnections (`null`: no limit) live. */
  async updateService(
    serviceId: string,
    patch: UpdateServiceRequest,
  ): Promise<ServiceRegistration> {
    return this.#call(routes.updateService, {
      params: { serviceId },
      body: patch,
    });
  }

  /** Proxied requests per instance and per version, as the answering replica counted them. */
  async getServiceMetrics(): Promise<{
    instances: unknown[];
    versions: unknown[];
  }> {
    return this.#call(routes.getServiceMetrics, {});
  }

  /** A signed export of all configuration (secrets stay sealed). */
  async exportConfiguration(): Promise<unknown> {
    return this.#call(routes.exportConfiguration, {});
  }

  /** Restores an export; refused when it does not verify. */
  async importConfiguration(exported: unknown): Promise<unknown> {
    return this.#call(routes.importConfiguration, { body: exported });
  }

  /** Keeps a registration with a TTL alive. */
  async heartbeat(serviceId: string): Promise<ServiceRegistration> {
    return this.#call(routes.heartbeat, { params: { serviceId } });
  }

  /** Every instance of services the caller may see, following the pages. */
  async listServices(filter?: {
    name?: string;
    tenant?: string;
  }): Promise<ServiceRegistration[]> {
    return this.#allPages(cursor =>
      this.#call(routes.listServices, { query: { ...filter, cursor } }),
    );
  }

  /**
   * One instance of a service, as the load balancer picks it; `key` is
   * what ip-hash hashes (default: the caller's address).
   */
  async resolveService(
    serviceName: string,
    options?: {
      strategy?: ServiceLoadBalancingStrategy;
      tenant?: string;
      key?: string;
    },
  ): Promise<ResolvedService> {
    return this.#call(routes.resolveService, {
      params: { serviceName },
      query: options,
    });
  }

  /**
   * The system's events as they happen (`GET /events`), those the caller
   * may read, until `signal` aborts or the server ends the stream. A
   * stream that cannot be opened throws (403, 429, ...).
   */
  async *streamEvents(
    options: {
      events?: string[];
      timeoutMs?: number;
      signal?: AbortSignal;
      /** Called once the stream is open, before the first event. */
      onOpen?: () => void;
      /**
       * The id of the last event read before a reconnect: the replica
       * sends first what it still keeps of those that came after it.
       */
      lastEventId?: string;
    } = {},
  ): AsyncGenerator<PluginLifecycleStreamEvent> {
    const query: EventStreamQuery = {
      events: options.events?.length ? options.events.join(',') : undefined,
      timeoutMs:
        options.timeoutMs === undefined ? undefined : String(options.timeoutMs),
    };
    const baseUrl = await this.#discoveryApi.getBaseUrl('plugin-lifecycle');
    const response = await this.#fetchApi.fetch(
      `${baseUrl}${routes.streamEvents.path}${queryString(
        query as Record<string, string | undefined>,
      )}`,
      {
        headers: {
          Accept: 'text/event-stream',
          ...(options.lastEventId
            ? { 'Last-Event-ID': options.lastEventId }
            : {}),
        },
        signal: options.signal,
      },
    );
    if (!response.ok) {
      throw await ResponseError.fromResponse(response);
    }
    if (!response.body) return;
    options.onOpen?.();
    try {
      for await (const message of readServerSentEvents(response.body)) {
        yield JSON.parse(message.data) as PluginLifecycleStreamEvent;
      }
    } catch (error) {
      // Aborting is how a reader stops listening: not an error.
      if (options.signal?.aborted) return;
      throw error;
    }
  }

  async #allPages<T>(
    read: (cursor?: string) => Promise<Page<T>>,
  ): Promise<T[]> {
    const items: T[] = [];
    let cursor: string | undefined;
    do {
      const page = await read(cursor);
      items.push(...page.items);
      cursor = page.nextCursor;
    } while (cursor);
    return items;
  }

  /**
   * Calls a route of the registry: its method, its path with `params`
   * filled in, `query` (undefined values left out) and `body` as JSON.
   */
  async #call<R extends RouteSpec>(
    route: R,
    request: {
      params?: Record<string, string | number>;
      query?: Record<string, string | number | undefined>;
      body?: unknown;
      signal?: AbortSignal;
    },
  ): Promise<z.infer<R['response']>> {
    const baseUrl = await this.#discoveryApi.getBaseUrl('plugin-lifecycle');
    const path = `${routePath(route, request.params)}${queryString(
      request.query,
    )}`;
    const hasBody = 'body' in request;
    const response = await this.#fetchApi.fetch(`${baseUrl}${path}`, {
      method: route.method.toUpperCase(),
      headers: hasBody ? { 'Content-Type': 'application/json' } : undefined,
      body: hasBody ? JSON.stringify(request.body) : undefined,
      ...(request.signal ? { signal: request.signal } : {}),
    });
    if (!response.ok) {
      throw await ResponseError.fromResponse(response);
    }
    if (response.status === 204) return undefined as z.infer<R['response']>;
    return (await response.json()) as z.infer<R['response']>;
  }
}

/** `?a=1&b=2` of the defined values, or nothing. */
function queryString(
  params?: Record<string, string | number | undefined>,
): string {
  const query = new URLSearchParams(
    Object.entries(params ?? {})
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => [k, String(v)]),
  ).toString();
  return query ? `?${query}` : '';
}
