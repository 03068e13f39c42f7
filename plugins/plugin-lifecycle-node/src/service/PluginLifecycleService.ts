import {
  AuthService,
  BackstageCredentials,
  DiscoveryService,
  LoggerService,
  coreServices,
  createServiceFactory,
  createServiceRef,
} from '@backstage/backend-plugin-api';
import {
  Deployment,
  DeploymentAction,
  DeploymentActionRequest,
  DeploymentActionResult,
  DeploymentPhase,
  InstallRequest,
  LifecycleCommand,
  LifecycleState,
  Operation,
  OperationAccepted,
  PluginDetails,
  PluginLifecycleClient,
  PluginSummary,
  SystemMetrics,
  UpdateRequest,
} from '@internal/plugin-lifecycle-common';
import {
  EventStream,
  PluginLifecycleEventEnvelope,
  PluginLifecycleEventListener,
} from './EventStream';
import {
  PluginHealthMonitorClient,
  createHealthMonitorClient,
} from './healthMonitorClient';
import {
  PluginConfigurationManagerClient,
  createConfigurationManagerClient,
} from './configurationManagerClient';
import {
  PluginServiceDiscoveryClient,
  createServiceDiscoveryClient,
} from './serviceDiscoveryClient';

export type {
  PluginLifecycleEventEnvelope,
  PluginLifecycleEventListener,
} from './EventStream';
export type { PluginHealthMonitorClient } from './healthMonitorClient';
export type { PluginConfigurationManagerClient } from './configurationManagerClient';
export type { PluginServiceDiscoveryClient } from './serviceDiscoveryClient';

/**
 * On whose behalf a call is made; without credentials the calling plugin
 * acts as itself.
 *
 * @public
 */
export interface PluginLifecycleRequestOptions {
  credentials?: BackstageCredentials;
}

/**
 * The options of the original design's `installPlugin(id, version,
 * options)`: the install request without `version`. `userId` is accepted
 * for the design's code and not sent: who acts is who the token says (the
 * calling plugin, or the user of `credentials` / {@link PluginLifecycleService.withCredentials}).
 *
 * @public
 */
export type DesignInstallOptions = Omit<InstallRequest, 'version'> & {
  userId?: string;
} & PluginLifecycleRequestOptions;

/**
 * The options of `updatePlugin(id, version, options)`, as the design writes
 * them (`deploymentStrategy`, `deploymentConfig`, `environment`, `userId`:
 * not sent, see {@link DesignInstallOptions}).
 *
 * @public
 */
export type DesignUpdateOptions = Omit<UpdateRequest, 'version'> & {
  userId?: string;
};

/** Options of the lifecycle commands (start, stop, restart, uninstall). @public */
export type CommandOptions = PluginLifecycleRequestOptions & {
  reason?: string;
  userId?: string;
};

/**
 * The plugin-lifecycle API for other backend plugins: the original design's
 * orchestration system (`installPlugin`, `updatePlugin`,
 * `getPluginHealthMonitor()`, `getPluginConfigurationManager()`,
 * `getPluginServiceDiscovery()`, `on('systemEvent', ...)`) over the
 * backend's HTTP API. Each call acts as the calling plugin, or as the user
 * of `options.credentials` / {@link PluginLifecycleService.withCredentials},
 * with that principal's permissions and tenants.
 *
 * @public
 */
export interface PluginLifecycleService {
  /** The design's form: `installPlugin('my-plugin', '1.0.0', { configuration, healthProbes, ... })`. */
  installPlugin(
    pluginId: string,
    version: string,
    options?: DesignInstallOptions,
  ): Promise<OperationAccepted>;
  /** The request body of `POST /plugins/{id}/install`. */
  installPlugin(
    pluginId: string,
    request: InstallRequest,
    options?: PluginLifecycleRequestOptions,
  ): Promise<OperationAccepted>;
  /**
   * Moves a plugin to another version with a deployment strategy (the
   * original design's shape): `{ deploymentStrategy, deploymentConfig,
   * environment, ... }`. Answers the queued operation and the deployment
   * that rolls it out (`getDeployment` follows it).
   */
  updatePlugin(
    pluginId: string,
    version: string,
    request?: DesignUpdateOptions,
    options?: PluginLifecycleRequestOptions,
  ): Promise<OperationAccepted & { deploymentId?: string }>;
  runCommand(
    pluginId: string,
    command: LifecycleCommand,
    options?: PluginLifecycleRequestOptions & { reason?: string },
  ): Promise<OperationAccepted>;
  startPlugin(
    pluginId: string,
    options?: CommandOptions,
  ): Promise<OperationAccepted>;
  stopPlugin(
    pluginId: string,
    options?: CommandOptions,
  ): Promise<OperationAccepted>;
  restartPlugin(
    pluginId: string,
    options?: CommandOptions,
  ): Promise<OperationAccepted>;
  uninstallPlugin(
    pluginId: string,
    options?: CommandOptions,
  ): Promise<OperationAccepted>;
  getPlugin(
    pluginId: string,
    options?: PluginLifecycleRequestOptions,
  ): Promise<PluginDetails>;
  /** Every plugin the caller may read (following the pages). */
  listPlugins(
    filter?: { state?: LifecycleState; tenant?: string; entityRef?: string },
    options?: PluginLifecycleRequestOptions,
  ): Promise<PluginSummary[]>;
  getOperation(
    operationId: string,
    options?: PluginLifecycleRequestOptions,
  ): Promise<Operation>;
  /**
   * The operation once it has ended (succeeded, failed, cancelled), or as
   * it is after `timeoutMs` (default 60 s).
   */
  waitForOperation(
    operationId: string,
    options?: PluginLifecycleRequestOptions & { timeoutMs?: number },
  ): Promise<Operation>;
  getDeployment(
    deploymentId: string,
    options?: PluginLifecycleRequestOptions,
  ): Promise<Deployment>;
  /** Deployments, newest first; `pluginId` for one plugin's. */
  listDeployments(
    filter?: {
      pluginId?: string;
      phase?: DeploymentPhase;
      active?: boolean;
      limit?: number;
    },
    options?: PluginLifecycleRequestOptions,
  ): Promise<Deployment[]>;
  /**
   * `approve`, `reject` (the `deployment.approve` permission), `promote`,
   * `pause`, `resume`, `abort`, `retry`, `rollback` (deploy).
   */
  deploymentAction(
    deploymentId: string,
    action: DeploymentAction,
    request?: DeploymentActionRequest,
    options?: PluginLifecycleRequestOptions,
  ): Promise<DeploymentActionResult>;
  /** `GET /metrics/system`, within the caller's tenants. */
  getSystemMetrics(
    options?: PluginLifecycleRequestOptions,
  ): Promise<SystemMetrics>;
  getPluginHealthMonitor(): PluginHealthMonitorClient;
  getPluginConfigurationManager(): PluginConfigurationManagerClient;
  getPluginServiceDiscovery(): PluginServiceDiscoveryClient;
  /**
   * Listens to the system's events by the design's names
   * (`orchestrator:operationCompleted`, `healthMonitor:healthCheckFailed`,
   * `deploymentManager:deploymentCompleted`, ...) or to all of them as
   * `systemEvent`. Streams `GET /events`, so a listener hears only events
   * about plugins its principal may read; the stream opens with the first
   * listener (see {@link PluginLifecycleService.whenListening}).
   */
  on(
    event: 'systemEvent',
    listener: (event: PluginLifecycleEventEnvelope) => void,
  ): this;
  on(event: string, listener: PluginLifecycleEventListener): this;
  off(event: string, listener: PluginLifecycleEventListener): this;
  /** Resolves once the event stream of `on()` is open. */
  whenListening(): Promise<void>;
  /**
   * The same API acting on behalf of a user (credentials from the request
   * being served): their permissions and tenants, for calls and events.
   */
  withCredentials(credentials: BackstageCredentials): PluginLifecycleService;
}

const TERMINAL = new Set(['succeeded', 'failed', 'cancelled']);

/**
 * Calls the plugin-lifecycle backend over HTTP with a plugin-to-plugin
 * token (as the plugin, or on behalf of a user), so it works whether or not
 * that backend runs in the same process.
 */
class DefaultPluginLifecycleService implements PluginLifecycleService {
  readonly #auth: AuthService;
  readonly #discovery: DiscoveryService;
  readonly #logger: LoggerService;
  readonly #credentials?: BackstageCredentials;
  readonly #streams: Set<EventStream>;
  #events?: EventStream;

  constructor(options: {
    auth: AuthService;
    discovery: DiscoveryService;
    logger: LoggerService;
    credentials?: BackstageCredentials;
    /** Every stream of this plugin's service, closed at shutdown. */
    streams?: Set<EventStream>;
  }) {
    this.#auth = options.auth;
    this.#discovery = options.discovery;
    this.#logger = options.logger;
    this.#credentials = options.credentials;
    this.#streams = options.streams ?? new Set();
  }

  /** Ends every event stream (the plugin shuts down). */
  close() {
    for (const stream of this.#streams) stream.close();
  }

  installPlugin(
    pluginId: string,
    versionOrRequest: string | InstallRequest,
    options?: DesignInstallOptions | PluginLifecycleRequestOptions,
  ): Promise<OperationAccepted> {
    if (typeof versionOrRequest === 'string') {
      const { credentials, userId, ...rest } = (options ??
        {}) as DesignInstallOptions;
      return this.#client({ credentials }).installPlugin(pluginId, {
        ...rest,
        version: versionOrRequest,
      });
    }
    return this.#client(options).installPlugin(pluginId, versionOrRequest);
  }

  updatePlugin(
    pluginId: string,
    version: string,
    request: DesignUpdateOptions = {},
    options?: PluginLifecycleRequestOptions,
  ) {
    const { userId, ...rest } = request;
    return this.#client(options).updatePlugin(pluginId, { ...rest, version });
  }

  runCommand(
    pluginId: string,
    command: LifecycleCommand,
    options?: PluginLifecycleRequestOptions & { reason?: string },
  ) {
    return this.#client(options).runCommand(
      pluginId,
      command,
      options?.reason ? { reason: options.reason } : undefined,
    );
  }
  startPlugin(pluginId: string, options?: CommandOptions) {
    return this.runCommand(pluginId, 'start', options);
  }
  stopPlugin(pluginId: string, options?: CommandOptions) {
    return this.runCommand(pluginId, 'stop', options);
  }
  restartPlugin(pluginId: string, options?: CommandOptions) {
    return this.runCommand(pluginId, 'restart', options);
  }
  uninstallPlugin(pluginId: string, options?: CommandOptions) {
    return this.runCommand(pluginId, 'uninstall', options);
  }

  getPlugin(pluginId: string, options?: PluginLifecycleRequestOptions) {
    return this.#client(options).getPlugin(pluginId);
  }
  listPlugins(
    filter?: { state?: LifecycleState; tenant?: string; entityRef?: string },
    options?: PluginLifecycleRequestOptions,
  ) {
    return this.#client(options).listPlugins(filter);
  }
  getOperation(operationId: string, options?: PluginLifecycleRequestOptions) {
    return this.#client(options).getOperation(operationId);
  }

  async waitForOperation(
    operationId: string,
    options: PluginLifecycleRequestOptions & { timeoutMs?: number } = {},
  ): Promise<Operation> {
    const deadline = Date.now() + (options.timeoutMs ?? 60_000);
    const client = this.#client(options);
    for (;;) {
      // The server holds the answer until the operation ends (at most 60 s).
      const waitSeconds = Math.max(
        0,
        Math.min(60, Math.floor((deadline - Date.now()) / 1000)),
      );
      const operation = await client.getOperation(operationId, {
        waitSeconds,
      });
      if (TERMINAL.has(operation.status) || Date.now() >= deadline) {
        return operation;
      }
      if (waitSeconds === 0) await new Promise(r => setTimeout(r, 100));
    }
  }

  getDeployment(deploymentId: string, options?: PluginLifecycleRequestOptions) {
    return this.#client(options).getDeployment(deploymentId);
  }
  listDeployments(
    filter?: Parameters<PluginLifecycleClient['listDeployments']>[0],
    options?: PluginLifecycleRequestOptions,
  ) {
    return this.#client(options).listDeployments(filter);
  }
  deploymentAction(
    deploymentId: string,
    action: DeploymentAction,
    request?: DeploymentActionRequest,
    options?: PluginLifecycleRequestOptions,
  ) {
    return this.#client(options).deploymentAction(
      deploymentId,
      action,
      request,
    );
  }
  getSystemMetrics(options?: PluginLifecycleRequestOptions) {
    return this.#client(options).getSystemMetrics();
  }

  getPluginHealthMonitor(): PluginHealthMonitorClient {
    return createHealthMonitorClient(() => this.#client());
  }

  getPluginConfigurationManager(): PluginConfigurationManagerClient {
    return createConfigurationManagerClient({
      client: () => this.#client(),
      logger: this.#logger,
    });
  }

  getPluginServiceDiscovery(): PluginServiceDiscoveryClient {
    return createServiceDiscoveryClient(() => this.#client());
  }

  on(event: string, listener: (payload: any) => void): this {
    // Made with the first listener and kept for shutdown while it listens:
    // a view made per request (withCredentials) costs nothing until then.
    if (!this.#events) {
      this.#events = new EventStream({
        client: () => this.#client(),
        logger: this.#logger,
      });
    }
    this.#streams.add(this.#events);
    this.#events.on(event, listener);
    return this;
  }

  off(event: string, listener: PluginLifecycleEventListener): this {
    const events = this.#events;
    events?.off(event, listener);
    if (events && !events.listening) this.#streams.delete(events);
    return this;
  }

  whenListening(): Promise<void> {
    return this.#events?.whenOpen() ?? Promise.resolve();
  }

  withCredentials(credentials: BackstageCredentials): PluginLifecycleService {
    return new DefaultPluginLifecycleService({
      auth: this.#auth,
      discovery: this.#discovery,
      logger: this.#logger,
      credentials,
      streams: this.#streams,
    });
  }

  #client(options?: PluginLifecycleRequestOptions) {
    const onBehalfOf = options?.credentials ?? this.#credentials;
    return new PluginLifecycleClient({
      discoveryApi: this.#discovery,
      fetchApi: {
        fetch: async (input, init) => {
          const { token } = await this.#auth.getPluginRequestToken({
            onBehalfOf:
              onBehalfOf ?? (await this.#auth.getOwnServiceCredentials()),
            targetPluginId: 'plugin-lifecycle',
          });
          const headers = new Headers(init?.headers);
          headers.set('Authorization', `Bearer ${token}`);
          return fetch(input, { ...init, headers });
        },
      },
    });
  }
}

/**
 * Service ref for {@link PluginLifecycleService}, with a default factory.
 *
 * @public
 */
export const pluginLifecycleServiceRef =
  createServiceRef<PluginLifecycleService>({
    id: 'plugin-lifecycle.service',
    defaultFactory: async service =>
      createServiceFactory({
        service,
        deps: {
          auth: coreServices.auth,
          discovery: coreServices.discovery,
          logger: coreServices.logger,
          lifecycle: coreServices.lifecycle,
        },
        factory: ({ auth, discovery, logger, lifecycle }) => {
          const instance = new DefaultPluginLifecycleService({
            auth,
            discovery,
            logger,
          });
          // Event streams would hold the process open and reconnect to a
          // backend that is going away.
          lifecycle.addShutdownHook(() => instance.close());
          return instance;
        },
      }),
  });
