import {
  AuthService,
  BackstageCredentials,
  DiscoveryService,
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
  Operation,
  OperationAccepted,
  PluginDetails,
  PluginLifecycleClient,
  UpdateRequest,
} from '@internal/plugin-lifecycle-common';

/**
 * The plugin-lifecycle API for other backend plugins.
 *
 * @public
 */
export interface PluginLifecycleService {
  installPlugin(
    pluginId: string,
    request: InstallRequest,
    options?: PluginLifecycleRequestOptions,
  ): Promise<OperationAccepted>;
  runCommand(
    pluginId: string,
    command: LifecycleCommand,
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
    request?: Omit<UpdateRequest, 'version'>,
    options?: PluginLifecycleRequestOptions,
  ): Promise<OperationAccepted & { deploymentId?: string }>;
  getPlugin(
    pluginId: string,
    options?: PluginLifecycleRequestOptions,
  ): Promise<PluginDetails>;
  getOperation(
    operationId: string,
    options?: PluginLifecycleRequestOptions,
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
}

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
 * Calls the plugin-lifecycle backend over HTTP with a plugin-to-plugin token,
 * so it works whether or not that backend runs in the same process.
 */
class DefaultPluginLifecycleService implements PluginLifecycleService {
  readonly #auth: AuthService;
  readonly #discovery: DiscoveryService;

  constructor(options: { auth: AuthService; discovery: DiscoveryService }) {
    this.#auth = options.auth;
    this.#discovery = options.discovery;
  }

  installPlugin(
    pluginId: string,
    request: InstallRequest,
    options?: PluginLifecycleRequestOptions,
  ) {
    return this.#client(options).installPlugin(pluginId, request);
  }
  runCommand(
    pluginId: string,
    command: LifecycleCommand,
    options?: PluginLifecycleRequestOptions,
  ) {
    return this.#client(options).runCommand(pluginId, command);
  }
  updatePlugin(
    pluginId: string,
    version: string,
    request: Omit<UpdateRequest, 'version'> = {},
    options?: PluginLifecycleRequestOptions,
  ) {
    return this.#client(options).updatePlugin(pluginId, {
      ...request,
      version,
    });
  }
  getPlugin(pluginId: string, options?: PluginLifecycleRequestOptions) {
    return this.#client(options).getPlugin(pluginId);
  }
  getOperation(operationId: string, options?: PluginLifecycleRequestOptions) {
    return this.#client(options).getOperation(operationId);
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

  #client(options?: PluginLifecycleRequestOptions) {
    return new PluginLifecycleClient({
      discoveryApi: this.#discovery,
      fetchApi: {
        fetch: async (input, init) => {
          const { token } = await this.#auth.getPluginRequestToken({
            onBehalfOf:
              options?.credentials ??
              (await this.#auth.getOwnServiceCredentials()),
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
        deps: { auth: coreServices.auth, discovery: coreServices.discovery },
        factory: deps => new DefaultPluginLifecycleService(deps),
      }),
  });
