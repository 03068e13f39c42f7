import { LoggerService } from '@backstage/backend-plugin-api';
import { stringifyError } from '@backstage/errors';
import {
  Artifact,
  LifecycleState,
  Operation,
} from '@internal/plugin-lifecycle-common';
import {
  DeploymentRecord,
  DeploymentStore,
} from '../../database/DeploymentStore';
import { InstanceStore } from '../../database/InstanceStore';
import { PluginRecord, PluginStore } from '../../database/PluginStore';
import {
  ResourceAmounts,
  Usage,
  classifyFailure,
} from '../../domain/orchestration';
import type {
  ResolvedConfiguration,
  RestoredLayer,
} from '../configuration/ConfigurationManager';
import { ExecProbePolicy } from '../health/execProbePolicy';
import { RuntimeRegistry } from '../runtime/RuntimeRegistry';
import { InstanceManager } from './InstanceManager';
import { LifecycleStateMachine } from './LifecycleStateMachine';

/** Options of {@link LifecycleActions} (and of the steps its actions share). */
export interface LifecycleActionsOptions {
  logger: LoggerService;
  plugins: PluginStore;
  instances: InstanceStore;
  stateMachine: LifecycleStateMachine;
  runtimes: RuntimeRegistry;
  /** This backend replica, recorded as the owner of the instances it starts. */
  replicaId: string;
  /** Artifacts configured in app-config, by plugin id. */
  configuredArtifact: (pluginId: string) => Artifact | undefined;
  /**
   * The runtime that runs a plugin's own (not external) artifacts:
   * `plugins.<id>.runtime` or `defaultRuntime`, unless that is `external`.
   * Default: `process`.
   */
  managedRuntime?: (pluginId: string) => string;
  /**
   * The commands exec probes may run; a manifest (the package's or the
   * request's) with another exec probe fails the install. Default: none.
   */
  execProbes?: ExecProbePolicy;
  readyTimeoutMs: number;
  stopGracePeriodMs: number;
  /**
   * What one instance of a plugin counts against its tenant's quota, given
   * its manifest's request; default: the request.
   */
  resourcesOf?: (
    pluginId: string,
    requested?: ResourceAmounts,
  ) => { cpuMillicores: number; memoryMiB: number };
  /** Quota problems of a tenant for a request, if any. */
  checkQuota?: (
    tenant: string,
    request: Partial<Usage>,
    pluginId: string,
  ) => Promise<string[]>;
  /** Every plugin with the plugins it depends on and its state. */
  dependencyView: () => Promise<
    Array<{ id: string; state: string; dependencies: string[] }>
  >;
  /**
   * Deployments: an update that carries a `deploymentId` hands the running
   * instances to the deployment controller through this store;
   * `handedOver` hears each hand-over (events, waking the controller).
   */
  deployments?: {
    store: DeploymentStore;
    handedOver: (before: DeploymentRecord, after: DeploymentRecord) => void;
  };
  /** The plugin's effective configuration (plaintext), from the configuration manager. */
  configuration: {
    resolve: (plugin: PluginRecord) => Promise<ResolvedConfiguration>;
    resolveAtRevision: (
      plugin: PluginRecord,
      revision: number,
    ) => Promise<ResolvedConfiguration>;
    /** Writes a layer's earlier content back, without applying it again. */
    revertLayer: (
      plugin: PluginRecord,
      layer: string,
      toVersion: number,
      reason: string,
      options?: { author?: string },
    ) => Promise<{ revision: number; version: number }>;
    /**
     * Writes the plugin's layers back to their content as of a revision,
     * without a configure operation (the caller starts instances with it).
     */
    restoreAtRevision: (
      plugin: PluginRecord,
      revision: number,
      meta: { author?: string; description: string },
    ) => Promise<RestoredLayer[]>;
  };
}

/** What the steps need to know of the operation they carry out. */
export type ActionOperation = Pick<
  Operation,
  'id' | 'pluginId' | 'type' | 'actor' | 'attempts'
>;

/**
 * What every lifecycle action uses: the stores, runtimes and configuration,
 * the instances ({@link InstanceManager}), and the steps that move a plugin
 * through its states (enter the action's state or resume in it, record a
 * failure after compensation).
 */
export class ActionSteps {
  readonly options: LifecycleActionsOptions;
  readonly logger: LoggerService;
  readonly plugins: PluginStore;
  readonly instances: InstanceStore;
  readonly stateMachine: LifecycleStateMachine;
  readonly runtimes: RuntimeRegistry;
  readonly configuration: LifecycleActionsOptions['configuration'];
  /** Starts, watches and stops instances. */
  readonly fleet: InstanceManager;

  private constructor(options: LifecycleActionsOptions) {
    this.options = options;
    this.logger = options.logger;
    this.plugins = options.plugins;
    this.instances = options.instances;
    this.stateMachine = options.stateMachine;
    this.runtimes = options.runtimes;
    this.configuration = options.configuration;
    this.fleet = InstanceManager.create({
      instances: options.instances,
      runtimes: options.runtimes,
      replicaId: options.replicaId,
      resolveConfiguration: plugin => options.configuration.resolve(plugin),
      readyTimeoutMs: options.readyTimeoutMs,
      stopGracePeriodMs: options.stopGracePeriodMs,
      resourcesOf: options.resourcesOf,
    });
  }

  static create(options: LifecycleActionsOptions) {
    return new ActionSteps(options);
  }

  /**
   * The runtime that runs a plugin's version with this artifact. Versions
   * share their plugin's runtime, except across the line between instances
   * someone else runs (the `external` runtime) and instances we run: an
   * update from an external version to a packaged one (or back) moves the
   * plugin to the other runtime, so a service running elsewhere comes under
   * management with a deployment (docs/migration.md).
   */
  runtimeForVersion(
    plugin: Pick<PluginRecord, 'id' | 'runtime'>,
    artifact: Artifact | undefined,
  ): string {
    if (!artifact) return plugin.runtime;
    if (artifact.type === 'external') return 'external';
    if (plugin.runtime !== 'external') return plugin.runtime;
    return this.options.managedRuntime?.(plugin.id) ?? 'process';
  }

  /** The context of a transition made by an operation. */
  ctx(op: ActionOperation, reason?: string) {
    return { action: op.type, operationId: op.id, actor: op.actor, reason };
  }

  /** Whether the operation already entered this state (an attempt cut off). */
  resuming(plugin: PluginRecord, via: LifecycleState, op: ActionOperation) {
    return plugin.state === via && plugin.operationId === op.id;
  }

  /**
   * Enters the action's transitional state, or carries on in it when an
   * earlier attempt of the same operation entered it and was cut off (its
   * replica went away); every step after this one is safe to repeat.
   */
  async begin(
    plugin: PluginRecord,
    via: LifecycleState,
    op: ActionOperation,
    reason?: string,
  ) {
    if (this.resuming(plugin, via, op)) {
      this.logger.info(
        `operation ${op.id} resumes ${op.pluginId} in ${via} (attempt ${op.attempts})`,
      );
      return plugin;
    }
    return this.stateMachine.transition(plugin, via, this.ctx(op, reason));
  }

  /**
   * Records a failed action after its compensation ran: the plugin moves to
   * the state the compensation left it in, with the reason as its last error.
   * Returns the error for the operation to fail with.
   */
  async fail(
    op: ActionOperation,
    to: 'error' | 'inactive',
    message: string,
    cause: unknown,
  ) {
    await this.stateMachine.transitionLatest(op.pluginId, to, {
      ...this.ctx(op, message),
      patch: { lastError: message },
    });
    return failure(message, cause);
  }
}

/**
 * The error an action fails with after its compensation: the message says
 * what happened; whether a retry may help is the cause's (an unknown version
 * stays unknown, a new version failing its probes fails again, a busy
 * database may answer next time), and the classification travels with it.
 */
export function failure(message: string, cause: unknown): Error {
  const { retryable, kind, reason } = classifyFailure(cause);
  return Object.assign(new Error(message, { cause }), {
    retryable,
    retryKind: kind,
    retryReason: reason,
  });
}

/** An error's message, whatever was thrown. */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : stringifyError(error);
}
