import { LoggerService } from '@backstage/backend-plugin-api';
import {
  ConflictError,
  InputError,
  NotAllowedError,
  NotFoundError,
} from '@backstage/errors';
import {
  InstallRequest,
  LIFECYCLE_ACTIONS,
  LIFECYCLE_STATES,
  LifecycleAction,
  LifecycleState,
  Operation,
  OperationAccepted,
  PluginDetails,
  PluginSummary,
  StateTransition,
  availableActions,
  canPerformAction,
  installRequestSchema,
  isTransitional,
  pluginIdSchema,
} from '@internal/plugin-lifecycle-common';
import { RuntimeInstanceExit } from '@internal/plugin-lifecycle-node';
import { Knex } from 'knex';
import { PluginLifecycleConfig, configuredArtifact } from '../config';
import { InstanceStore } from '../database/InstanceStore';
import { OperationStore } from '../database/OperationStore';
import { PluginRecord, PluginStore } from '../database/PluginStore';
import { LifecycleActions } from '../engines/lifecycle/LifecycleActions';
import { LifecycleStateMachine } from '../engines/lifecycle/LifecycleStateMachine';
import { Orchestrator } from '../engines/orchestrator/Orchestrator';
import { RuntimeRegistry } from '../engines/runtime/RuntimeRegistry';
import { SystemEvents } from './SystemEvents';
import { zodMessage } from './zodMessage';

/** Who asks for an action, and why. @public */
export interface ActionOptions {
  userId?: string;
  reason?: string;
}

/** Options of {@link PluginLifecycleOrchestrationSystem.installPlugin}. @public */
export type InstallPluginOptions = Omit<InstallRequest, 'version'> &
  ActionOptions;

/** @public */
export interface SystemMetrics {
  plugins: { total: number; byState: Record<LifecycleState, number> };
  instances: { running: number };
  operations: { inFlight: number };
}

/**
 * The facade of the orchestration system: the API the router, the `-node`
 * service and embedding scripts use. Names follow the original design
 * (`installPlugin(id, version, options)`, `on('systemEvent', ...)`).
 */
export class PluginLifecycleOrchestrationSystem {
  readonly #logger: LoggerService;
  readonly #config: PluginLifecycleConfig;
  readonly #plugins: PluginStore;
  readonly #instances: InstanceStore;
  readonly #operations: OperationStore;
  readonly #runtimes: RuntimeRegistry;
  readonly #events = new SystemEvents();
  readonly #orchestrator: Orchestrator;
  readonly #stateMachine: LifecycleStateMachine;
  readonly #unsubscribe: Array<() => void> = [];

  private constructor(options: {
    logger: LoggerService;
    db: Knex;
    config: PluginLifecycleConfig;
    runtimes: RuntimeRegistry;
    replicaId: string;
  }) {
    this.#logger = options.logger;
    this.#config = options.config;
    this.#runtimes = options.runtimes;
    this.#plugins = PluginStore.create({ db: options.db });
    this.#instances = InstanceStore.create({ db: options.db });
    this.#operations = OperationStore.create({ db: options.db });
    this.#stateMachine = LifecycleStateMachine.create({
      store: this.#plugins,
      events: this.#events,
    });
    const processConfig = options.config.runtime.process;
    const actions = LifecycleActions.create({
      logger: options.logger,
      plugins: this.#plugins,
      instances: this.#instances,
      stateMachine: this.#stateMachine,
      runtimes: options.runtimes,
      replicaId: options.replicaId,
      configuredArtifact: id => configuredArtifact(options.config, id),
      readyTimeoutMs: processConfig.readyTimeout,
      stopGracePeriodMs: processConfig.stopGracePeriod,
    });
    this.#orchestrator = Orchestrator.create({
      logger: options.logger,
      operations: this.#operations,
      events: this.#events,
      handlers: actions.handlers(),
      maxConcurrentOperations:
        options.config.orchestrator.maxConcurrentOperations,
      defaultTimeoutMs: options.config.orchestrator.defaultTimeout,
    });
  }

  /**
   * Creates the system and reconciles what a previous run left behind:
   * operations cut off by a restart and instances that no longer run.
   */
  static async create(options: {
    logger: LoggerService;
    db: Knex;
    config: PluginLifecycleConfig;
    runtimes: RuntimeRegistry;
    replicaId: string;
  }): Promise<PluginLifecycleOrchestrationSystem> {
    const system = new PluginLifecycleOrchestrationSystem(options);
    for (const runtime of options.runtimes.all()) {
      system.#unsubscribe.push(
        runtime.onInstanceExit(exit => {
          system
            .#onInstanceExit(exit)
            .catch(error =>
              options.logger.error(
                `handling the exit of ${exit.instanceId} failed: ${error}`,
              ),
            );
        }),
      );
    }
    await system.#recover();
    return system;
  }

  on(event: string, listener: (...args: any[]) => void): this {
    this.#events.on(event, listener);
    return this;
  }

  off(event: string, listener: (...args: any[]) => void): this {
    this.#events.off(event, listener);
    return this;
  }

  async installPlugin(
    pluginId: string,
    version: string,
    options: InstallPluginOptions = {},
  ): Promise<OperationAccepted> {
    const id = this.#parsePluginId(pluginId);
    const { userId, reason: _reason, ...rest } = options;
    const parsed = installRequestSchema.safeParse({ ...rest, version });
    if (!parsed.success) {
      throw new InputError(
        `Invalid install request: ${zodMessage(parsed.error)}`,
      );
    }
    const request = parsed.data;
    if (request.configuration?.some(e => e.type === 'secret')) {
      throw new InputError(
        'Secret configuration entries need the configuration manager with encryption keys, which this backend does not have yet; pass non-secret entries only',
      );
    }
    if (
      request.artifact &&
      !this.#config.requestArtifactTypes.includes(request.artifact.type)
    ) {
      throw new NotAllowedError(
        `Artifacts of type '${
          request.artifact.type
        }' are not allowed in install requests (allowed: ${
          this.#config.requestArtifactTypes.join(', ') || 'none'
        }); configure the plugin under pluginLifecycle.plugins or extend pluginLifecycle.requestArtifactTypes`,
      );
    }
    if (request.runtime && !this.#runtimes.has(request.runtime)) {
      throw new InputError(`Unknown runtime '${request.runtime}'`);
    }
    if (!request.artifact && !configuredArtifact(this.#config, id)) {
      throw new InputError(
        `No artifact for plugin '${id}': give "artifact" in the request or configure pluginLifecycle.plugins.${id}.artifact`,
      );
    }
    let plugin = await this.#plugins.get(id);
    const configured = this.#config.plugins[id];
    const runtime =
      request.runtime ??
      (request.artifact?.type === 'external' ? 'external' : undefined) ??
      configured?.runtime ??
      plugin?.runtime ??
      this.#config.defaultRuntime;
    const tenant =
      request.tenant ??
      plugin?.tenant ??
      configured?.tenant ??
      this.#config.defaultTenant;
    if (!plugin) {
      plugin = await this.#plugins.create({
        id,
        tenant,
        runtime,
        entityRef: request.entityRef,
        replicas: request.replicas,
      });
    } else {
      this.#assertCanPerform(plugin, 'install');
      await this.#plugins.update(id, {
        runtime,
        tenant,
        ...(request.entityRef ? { entityRef: request.entityRef } : {}),
      });
    }
    const { tenant: _t, runtime: _r, entityRef: _e, ...params } = request;
    return this.#orchestrator.enqueue({
      pluginId: id,
      tenant,
      type: 'install',
      actor: userId,
      params: {
        ...params,
        environment: request.environment ?? this.#config.defaultEnvironment,
      },
    });
  }

  startPlugin(pluginId: string, options: ActionOptions = {}) {
    return this.#command(pluginId, 'start', options);
  }

  stopPlugin(pluginId: string, options: ActionOptions = {}) {
    return this.#command(pluginId, 'stop', options);
  }

  restartPlugin(pluginId: string, options: ActionOptions = {}) {
    return this.#command(pluginId, 'restart', options);
  }

  uninstallPlugin(pluginId: string, options: ActionOptions = {}) {
    return this.#command(pluginId, 'uninstall', options);
  }

  async listPlugins(
    filter: {
      state?: LifecycleState;
      tenant?: string;
      entityRef?: string;
    } = {},
  ): Promise<PluginSummary[]> {
    return (await this.#plugins.list(filter)).map(toSummary);
  }

  async getPlugin(pluginId: string): Promise<PluginDetails> {
    const plugin = await this.#getPlugin(pluginId);
    const [versions, instances] = await Promise.all([
      this.#plugins.listVersions(plugin.id),
      this.#instances.listForPlugin(plugin.id, { limit: 20 }),
    ]);
    return {
      ...toSummary(plugin),
      versions: versions.map(({ location: _l, ...v }) => v),
      instances,
      availableActions: this.#orchestrator.isBusy(plugin.id)
        ? []
        : availableActions(plugin.state),
    };
  }

  async getHistory(pluginId: string): Promise<StateTransition[]> {
    const plugin = await this.#getPlugin(pluginId);
    return this.#plugins.history(plugin.id);
  }

  getOperation(operationId: string): Promise<Operation> {
    return this.#operations.get(operationId);
  }

  /** Resolves when the operation has finished (or the wait times out). */
  async waitForOperation(
    operationId: string,
    options: { timeoutMs?: number } = {},
  ): Promise<Operation> {
    const deadline = Date.now() + (options.timeoutMs ?? 60_000);
    for (;;) {
      const operation = await this.#operations.get(operationId);
      if (
        !['queued', 'running'].includes(operation.status) ||
        Date.now() > deadline
      ) {
        return operation;
      }
      await new Promise(r => setTimeout(r, 50));
    }
  }

  async getSystemMetrics(): Promise<SystemMetrics> {
    const plugins = await this.#plugins.list();
    const byState = Object.fromEntries(
      LIFECYCLE_STATES.map(s => [s, 0]),
    ) as Record<LifecycleState, number>;
    plugins.forEach(p => byState[p.state]++);
    const active = await this.#instances.listActive();
    return {
      plugins: { total: plugins.length, byState },
      instances: { running: active.filter(i => i.status === 'running').length },
      operations: {
        inFlight: plugins.filter(p => this.#orchestrator.isBusy(p.id)).length,
      },
    };
  }

  /** Stops taking work, lets running operations end, stops every instance. */
  async shutdown(): Promise<void> {
    await this.#orchestrator.shutdown();
    this.#unsubscribe.forEach(u => u());
    const grace = this.#config.runtime.process.stopGracePeriod;
    await Promise.all(
      this.#runtimes.all().map(r => r.shutdown({ gracePeriodMs: grace })),
    );
  }

  async #command(
    pluginId: string,
    action: LifecycleAction,
    options: ActionOptions,
  ) {
    const plugin = await this.#getPlugin(pluginId);
    this.#assertCanPerform(plugin, action);
    return this.#orchestrator.enqueue({
      pluginId: plugin.id,
      tenant: plugin.tenant,
      type: action,
      actor: options.userId,
      params: options.reason ? { reason: options.reason } : {},
    });
  }

  #assertCanPerform(plugin: PluginRecord, action: LifecycleAction) {
    if (this.#orchestrator.isBusy(plugin.id)) {
      throw new ConflictError(
        `Plugin '${plugin.id}' is ${plugin.state} with an operation in progress; wait for it before asking to ${action}`,
      );
    }
    if (!canPerformAction(plugin.state, action)) {
      const allowed = LIFECYCLE_ACTIONS[action].from.join(', ');
      throw new ConflictError(
        `Cannot ${action} plugin '${plugin.id}': it is ${plugin.state} (${action} is possible from ${allowed})`,
      );
    }
  }

  #parsePluginId(pluginId: string): string {
    const parsed = pluginIdSchema.safeParse(pluginId);
    if (!parsed.success) {
      throw new InputError(
        `Invalid plugin id '${pluginId}': ${zodMessage(parsed.error)}`,
      );
    }
    return parsed.data;
  }

  async #getPlugin(pluginId: string): Promise<PluginRecord> {
    const plugin = await this.#plugins.get(this.#parsePluginId(pluginId));
    if (!plugin) {
      throw new NotFoundError(`No plugin with id '${pluginId}'`);
    }
    return plugin;
  }

  /** An instance ended without being asked to: record it, and if the plugin was running, it is now in error. */
  async #onInstanceExit(exit: RuntimeInstanceExit) {
    this.#events.publish('runtime', 'instanceExited', exit);
    if (exit.expected) return;
    const instance = await this.#instances.get(exit.instanceId);
    if (
      !instance ||
      instance.status === 'stopped' ||
      instance.status === 'crashed'
    )
      return;
    const message = `instance ${
      exit.instanceId
    } exited unexpectedly with code ${exit.exitCode}${
      exit.signal ? ` (signal ${exit.signal})` : ''
    }${exit.output ? `: ${exit.output.slice(-300)}` : ''}`;
    await this.#instances.setStatus(exit.instanceId, 'crashed', {
      exitCode: exit.exitCode,
      lastError: message,
    });
    const plugin = await this.#plugins.get(exit.pluginId);
    if (plugin?.state === 'running') {
      await this.#stateMachine.transition(plugin, 'error', {
        action: 'crash',
        reason: message,
        patch: { lastError: message },
      });
    }
  }

  /**
   * After a restart: operations that were cut off are failed (their plugins
   * move to error), instances whose process is gone are marked stopped, and
   * plugins whose desired state is running are started again.
   */
  async #recover() {
    for (const op of await this.#operations.listUnfinished()) {
      await this.#operations.markFinished(op.id, {
        status: 'failed',
        error: 'interrupted by a backend restart',
      });
    }
    for (const instance of await this.#instances.listActive()) {
      const runtime = this.#runtimes.has(instance.runtime)
        ? this.#runtimes.get(instance.runtime)
        : undefined;
      if (!runtime || !(await runtime.isAlive(instance.id))) {
        await this.#instances.setStatus(instance.id, 'stopped', {
          lastError: 'gone after a backend restart',
        });
      }
    }
    for (const plugin of await this.#plugins.list()) {
      const interrupted = isTransitional(plugin.state);
      const lost =
        plugin.state === 'running' &&
        (await this.#instances.listForPlugin(plugin.id, { activeOnly: true }))
          .length === 0;
      if (!interrupted && !lost) continue;
      const reason = interrupted
        ? `${plugin.state} was interrupted by a backend restart`
        : 'its instances were gone after a backend restart';
      const updated = await this.#stateMachine.transition(plugin, 'error', {
        action: 'recover',
        reason,
        patch: { lastError: reason },
      });
      if (
        this.#config.orchestrator.enableAutoRecovery &&
        updated.desiredState === 'running'
      ) {
        this.#logger.info(`restarting plugin ${plugin.id}: ${reason}`);
        await this.#orchestrator.enqueue({
          pluginId: plugin.id,
          tenant: plugin.tenant,
          type: 'start',
          actor: 'plugin-lifecycle:auto-recovery',
        });
      }
    }
  }
}

function toSummary(plugin: PluginRecord): PluginSummary {
  const { configuration: _c, probes: _p, environment: _e, ...summary } = plugin;
  return summary;
}
