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
import { PluginLifecycleStreamEvent } from '../api/events';
import {
  RegisterServiceRequest,
  UpdateServiceRequest,
  ResolvedService,
  ServiceLoadBalancingStrategy,
  ServiceRegistration,
} from '../api/discovery';
import { ConfigEnvironments } from '../routes/configRoutes';
import { RequestCore } from './requestCore';
import { PluginCalls } from './pluginCalls';
import { LifecycleCommand, OperationCalls } from './operationCalls';
import { DeploymentCalls } from './deploymentCalls';
import { ConfigurationCalls } from './configurationCalls';
import { DiscoveryCalls } from './discoveryCalls';
import { streamEvents } from './eventStream';

export type { LifecycleCommand } from './operationCalls';

/**
 * The typed HTTP client of the plugin-lifecycle backend, usable in the browser
 * and in Node.
 *
 * (This class is what callers see, so each method's documentation is here;
 * the requests behind them are made per API area, in `pluginCalls`,
 * `operationCalls`, `deploymentCalls`, `configurationCalls`,
 * `discoveryCalls` and `eventStream`, over one `RequestCore`.)
 *
 * @public
 */
export class PluginLifecycleClient {
  readonly #core: RequestCore;
  readonly #plugins: PluginCalls;
  readonly #operations: OperationCalls;
  readonly #deployments: DeploymentCalls;
  readonly #configuration: ConfigurationCalls;
  readonly #discovery: DiscoveryCalls;

  constructor(options: {
    discoveryApi: { getBaseUrl(pluginId: string): Promise<string> };
    fetchApi?: { fetch: typeof fetch };
  }) {
    this.#core = new RequestCore(options);
    this.#plugins = new PluginCalls(this.#core);
    this.#operations = new OperationCalls(this.#core);
    this.#deployments = new DeploymentCalls(this.#core);
    this.#configuration = new ConfigurationCalls(this.#core);
    this.#discovery = new DiscoveryCalls(this.#core);
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
    return this.#core.allPages(cursor =>
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
    return this.#plugins.listPluginsPage(filter);
  }

  async getPlugin(pluginId: string): Promise<PluginDetails> {
    return this.#plugins.getPlugin(pluginId);
  }

  /**
   * The versions the plugin's artifact source offers (configured list,
   * tarball directory or npm registry), newest first, the current one marked.
   */
  async listVersions(pluginId: string): Promise<AvailableVersions> {
    return this.#plugins.listVersions(pluginId);
  }

  /** A plugin's whole state history, oldest first, following the pages. */
  async getHistory(pluginId: string): Promise<StateTransition[]> {
    return this.#core.allPages(cursor =>
      this.getHistoryPage(pluginId, { limit: MAX_PAGE_SIZE, cursor }),
    );
  }

  /** Catalog sync of a plugin: whether it follows its entity, and what the last pass did and why. */
  async getPluginCatalogSync(pluginId: string): Promise<PluginCatalogSync> {
    return this.#plugins.getPluginCatalogSync(pluginId);
  }

  /** One page of a plugin's state history, oldest first. */
  async getHistoryPage(
    pluginId: string,
    page?: { limit?: number; cursor?: string },
  ): Promise<Page<StateTransition>> {
    return this.#plugins.getHistoryPage(pluginId, page);
  }

  /**
   * The health of a plugin's instances and of each of their probes: status,
   * latency, trend and verdict, with `recent` sampled results per probe.
   */
  async getPluginHealth(
    pluginId: string,
    options?: PluginHealthQuery,
  ): Promise<PluginHealth> {
    return this.#plugins.getPluginHealth(pluginId, options);
  }

  /** Replaces a plugin's probe definitions; answers them as stored. */
  async setPluginProbes(
    pluginId: string,
    probes: ProbeDefinition[],
  ): Promise<{ pluginId: string; probes: ProbeDefinition[] }> {
    return this.#plugins.setPluginProbes(pluginId, probes);
  }

  /**
   * Request rate, error rate and latency per version of a plugin over the
   * last minutes, as the backend replica that answers sampled them.
   */
  async getPluginVersionMetrics(
    pluginId: string,
    options?: PluginVersionMetricsQuery,
  ): Promise<PluginVersionMetrics> {
    return this.#plugins.getPluginVersionMetrics(pluginId, options);
  }

  /**
   * The system's counts in the caller's tenants: plugins by state and
   * health, deployments (active, success rate), operations, and the
   * answering replica's proxied traffic (`serviceDiscovery`).
   */
  async getSystemMetrics(): Promise<SystemMetrics> {
    return this.#plugins.getSystemMetrics();
  }

  async installPlugin(
    pluginId: string,
    request: InstallRequest,
  ): Promise<OperationAccepted> {
    return this.#operations.installPlugin(pluginId, request);
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
    return this.#operations.updatePlugin(pluginId, request);
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
    return this.#operations.rollbackUpdate(pluginId, operationId, request);
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
    return this.#operations.runCommand(pluginId, command, options);
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
    return this.#operations.listOperationsPage(pluginId, page);
  }

  async cancelOperation(operationId: string): Promise<Operation> {
    return this.#operations.cancelOperation(operationId);
  }

  async submitBatch(batch: BatchRequest): Promise<BatchAccepted> {
    return this.#operations.submitBatch(batch);
  }

  /**
   * An operation; with `waitSeconds`, as it is once it has ended or that many
   * seconds (at most 60) passed.
   */
  async getOperation(
    operationId: string,
    options: { waitSeconds?: number } = {},
  ): Promise<Operation> {
    return this.#operations.getOperation(operationId, options);
  }

  /** A deployment: phase, steps, traffic per version, analysis and approvals. */
  async getDeployment(deploymentId: string): Promise<Deployment> {
    return this.#deployments.getDeployment(deploymentId);
  }

  /** Deployments the caller may read, newest first (50 unless `limit`). */
  async listDeployments(filter?: {
    pluginId?: string;
    phase?: DeploymentPhase;
    active?: boolean;
    limit?: number;
  }): Promise<Deployment[]> {
    return this.#deployments.listDeployments(filter);
  }

  /** A plugin's deployments, newest first (50 unless `limit`). */
  async listPluginDeployments(
    pluginId: string,
    filter?: { phase?: DeploymentPhase; active?: boolean; limit?: number },
  ): Promise<Deployment[]> {
    return this.#deployments.listPluginDeployments(pluginId, filter);
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
    return this.#deployments.deploymentAction(deploymentId, action, request);
  }

  /** The environments configuration may target, and the default one. */
  async getConfigEnvironments(): Promise<ConfigEnvironments> {
    return this.#configuration.getConfigEnvironments();
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
    return this.#configuration.getConfiguration(pluginId, environment, options);
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
    return this.#configuration.setConfiguration(pluginId, layer, request);
  }

  /** Sets and removes keys of one layer, leaving its other keys alone. */
  async patchConfiguration(
    pluginId: string,
    layer: string,
    request: Omit<PatchConfigurationRequest, 'dryRun'>,
  ): Promise<ConfigWriteResult> {
    return this.#configuration.patchConfiguration(pluginId, layer, request);
  }

  /** What a PUT (`replace`) or PATCH (`merge`) would do; nothing is stored. */
  async previewConfiguration(
    pluginId: string,
    layer: string,
    mode: 'replace' | 'merge',
    request: SetConfigurationRequest | PatchConfigurationRequest,
  ): Promise<ConfigWritePreview> {
    return this.#configuration.previewConfiguration(
      pluginId,
      layer,
      mode,
      request,
    );
  }

  async listConfigVersions(
    pluginId: string,
    layer: string,
  ): Promise<ConfigVersionSummary[]> {
    return this.#configuration.listConfigVersions(pluginId, layer);
  }

  async getConfigVersion(
    pluginId: string,
    layer: string,
    version: number,
  ): Promise<ConfigVersion> {
    return this.#configuration.getConfigVersion(pluginId, layer, version);
  }

  async diffConfigVersions(
    pluginId: string,
    layer: string,
    from: number,
    to: number,
  ): Promise<ConfigDiff> {
    return this.#configuration.diffConfigVersions(pluginId, layer, from, to);
  }

  /** Writes the content of an earlier version as a new version. */
  async rollbackConfiguration(
    pluginId: string,
    layer: string,
    request: ConfigRollbackRequest,
  ): Promise<ConfigWriteResult> {
    return this.#configuration.rollbackConfiguration(pluginId, layer, request);
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
    return this.#configuration.watchConfiguration(
      pluginId,
      environment,
      options,
    );
  }

  /** Registers (or replaces) an instance of a service. */
  async registerService(
    registration: RegisterServiceRequest,
  ): Promise<ServiceRegistration> {
    return this.#discovery.registerService(registration);
  }

  async deregisterService(serviceId: string): Promise<void> {
    return this.#discovery.deregisterService(serviceId);
  }

  /** Registers (or replaces) many instances at once (at most 1,000), all or none. */
  async registerServices(
    registrations: RegisterServiceRequest[],
  ): Promise<ServiceRegistration[]> {
    return this.#discovery.registerServices(registrations);
  }

  /** Heartbeats of many registrations at once (at most 1,000). */
  async heartbeats(
    serviceIds: string[],
  ): Promise<{ renewed: number; unknown: string[] }> {
    return this.#discovery.heartbeats(serviceIds);
  }

  /** Changes an instance's weight or maxConnections (`null`: no limit) live. */
  async updateService(
    serviceId: string,
    patch: UpdateServiceRequest,
  ): Promise<ServiceRegistration> {
    return this.#discovery.updateService(serviceId, patch);
  }

  /** Proxied requests per instance and per version, as the answering replica counted them. */
  async getServiceMetrics(): Promise<{
    instances: unknown[];
    versions: unknown[];
  }> {
    return this.#discovery.getServiceMetrics();
  }

  /** A signed export of all configuration (secrets stay sealed). */
  async exportConfiguration(): Promise<unknown> {
    return this.#configuration.exportConfiguration();
  }

  /** Restores an export; refused when it does not verify. */
  async importConfiguration(exported: unknown): Promise<unknown> {
    return this.#configuration.importConfiguration(exported);
  }

  /** Keeps a registration with a TTL alive. */
  async heartbeat(serviceId: string): Promise<ServiceRegistration> {
    return this.#discovery.heartbeat(serviceId);
  }

  /** Every instance of services the caller may see, following the pages. */
  async listServices(filter?: {
    name?: string;
    tenant?: string;
  }): Promise<ServiceRegistration[]> {
    return this.#discovery.listServices(filter);
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
    return this.#discovery.resolveService(serviceName, options);
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
    yield* streamEvents(this.#core, options);
  }
}
