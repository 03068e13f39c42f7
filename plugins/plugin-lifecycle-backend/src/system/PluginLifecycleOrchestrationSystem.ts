import { randomUUID } from 'node:crypto';
import { AuditorService, LoggerService } from '@backstage/backend-plugin-api';
import {
  ConflictError,
  InputError,
  NotAllowedError,
  NotFoundError,
} from '@backstage/errors';
import {
  ActionRequest,
  BatchAccepted,
  BatchRequest,
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
  actionRequestSchema,
  availableActions,
  batchRequestSchema,
  canPerformAction,
  installRequestSchema,
  updateRequestSchema,
  updateRollbackRequestSchema,
  UpdateRequest,
  pluginIdSchema,
  Artifact,
  validationMessage,
} from '@internal/plugin-lifecycle-common';
import { RuntimeInstanceExit } from '@internal/plugin-lifecycle-node';
import { Knex } from 'knex';
import {
  PluginLifecycleConfig,
  configuredArtifact,
  execProbePolicyOf,
} from '../config';
import { ExecProbePolicy } from '../engines/health/execProbePolicy';
import { InstanceStore } from '../database/InstanceStore';
import {
  NewOperation,
  OperationStore,
  QueuedOperation,
} from '../database/OperationStore';
import { PluginRecord, PluginStore } from '../database/PluginStore';
import {
  INITIAL_BREAKER_STATE,
  breakerAllows,
  breakerRecord,
  planBatch,
  withinTenantDependencies,
} from '../domain/orchestration';
import { LifecycleActions } from '../engines/lifecycle/LifecycleActions';
import { LifecycleStateMachine } from '../engines/lifecycle/LifecycleStateMachine';
import { Orchestrator } from '../engines/orchestrator/Orchestrator';
import { Reconciler } from '../engines/orchestrator/Reconciler';
import { CrashRestarter } from '../engines/lifecycle/CrashRestarter';
import { RuntimeRegistry } from '../engines/runtime/RuntimeRegistry';
import {
  ConfigChanged,
  ConfigurationManager,
} from '../engines/configuration/ConfigurationManager';
import { SecretKeyRing } from '../engines/configuration/SecretKeyRing';
import { ConfigMaintenance } from '../engines/configuration/ConfigMaintenance';
import { HealthMonitor } from '../engines/health/HealthMonitor';
import { ServiceDiscovery } from '../engines/discovery/ServiceDiscovery';
import { SystemEvents } from '../events/SystemEvents';
import { SystemEventListeners } from '../events/eventMap';
import { MAX_OPERATION_POLL_MS, pauseForOperation } from './operationWait';
import { ALL_TENANTS, inTenantScope, TenantScope } from '../domain/tenancy';
import { Tenancy } from '../engines/tenancy/Tenancy';
import { parseNpmSpec } from '../engines/runtime/artifactInstall';
import { DiscoveryCommands } from './commands/discoveryCommands';
import { HealthQueries } from './commands/healthQueries';
import { ConfigBackupCommands } from './commands/configBackupCommands';

/**
 * An npm artifact in a request names a package of the registry: its name
 * follows npm's rules (400 otherwise) and its spec is a version, range or
 * tag. A file:, git or URL spec would fetch from the backend's machine or
 * network, and run a git dependency's build, so only configured plugins
 * may use one (403), as with tarball and command artifacts.
 */
function assertRequestNpmSpec(artifact: Artifact, version: string) {
  if (artifact.type !== 'npm') return;
  const spec = parseNpmSpec(artifact.package, artifact.version ?? version);
  if (!spec.registry) {
    throw new NotAllowedError(
      `artifact.version '${spec.rawSpec}' is a ${spec.type} spec; requests may only name registry versions, ranges or tags: configure the plugin under pluginLifecycle.plugins`,
    );
  }
}

/** Who asks for an action, for which tenants, and how to queue it. @public */
export interface ActionOptions extends Omit<ActionRequest, 'reason'> {
  userId?: string;
  reason?: string;
  /** The tenants the caller may act on; all when not given. */
  scope?: TenantScope;
}

/** Options of {@link PluginLifecycleOrchestrationSystem.installPlugin}. @public */
export type InstallPluginOptions = Omit<InstallRequest, 'version'> & {
  userId?: string;
  scope?: TenantScope;
};

/** @public */
export interface SystemMetrics {
  plugins: { total: number; byState: Record<LifecycleState, number> };
  instances: { running: number };
  operations: { byStatus: Record<string, number>; runningHere: number };
}

/**
 * The facade of the orchestration system: the API the router, the `-node`
 * service and embedding scripts use. Names follow the original design
 * (`installPlugin(id, version, options)`, `on('systemEvent', ...)`).
 */
export class PluginLifecycleOrchestrationSystem {
  readonly #config: PluginLifecycleConfig;
  readonly #execProbes: ExecProbePolicy;
  readonly #plugins: PluginStore;
  readonly #instances: InstanceStore;
  readonly #operations: OperationStore;
  readonly #runtimes: RuntimeRegistry;
  readonly #events: SystemEvents;
  readonly #orchestrator: Orchestrator;
  readonly #stateMachine: LifecycleStateMachine;
  readonly #crashRestarter: CrashRestarter;
  readonly #reconciler: Reconciler;
  readonly #tenancy: Tenancy;
  readonly #unsubscribe: Array<() => void> = [];
  #configuration!: ConfigurationManager;
  #configMaintenance!: ConfigMaintenance;
  readonly #logger: LoggerService;
  readonly #health?: HealthMonitor;
  readonly #discovery?: ServiceDiscovery;

  private constructor(options: SystemOptions) {
    const { config, db } = options;
    this.#config = config;
    this.#logger = options.logger;
    this.#runtimes = options.runtimes;
    this.#events = options.events ?? new SystemEvents();
    this.#health = options.health;
    this.#discovery = options.discovery;
    this.#plugins = PluginStore.create({ db });
    this.#instances = InstanceStore.create({ db });
    this.#operations = OperationStore.create({ db });
    this.#tenancy = new Tenancy({
      config,
      plugins: this.#plugins,
      instances: this.#instances,
    });
    this.#execProbes = execProbePolicyOf(config);
    this.#stateMachine = LifecycleStateMachine.create({
      store: this.#plugins,
      events: this.#events,
    });
    const actions = LifecycleActions.create({
      logger: options.logger,
      plugins: this.#plugins,
      instances: this.#instances,
      stateMachine: this.#stateMachine,
      runtimes: options.runtimes,
      replicaId: options.replicaId,
      configuredArtifact: id => configuredArtifact(config, id),
      execProbes: this.#execProbes,
      readyTimeoutMs: config.runtime.process.readyTimeout,
      stopGracePeriodMs: config.runtime.process.stopGracePeriod,
      checkQuota: (tenant, request, pluginId) =>
        this.#tenancy.checkQuota(tenant, request, pluginId),
      resourcesOf: (pluginId, requested) =>
        this.#tenancy.resourcesOf(pluginId, requested),
      dependencyView: () => this.#dependencyView(),
      configuration: {
        resolve: plugin =>
          this.#configuration.resolve(plugin.id, this.#environmentOf(plugin)),
        resolveAtRevision: (plugin, revision) =>
          this.#configuration.resolveAtRevision(
            plugin.id,
            this.#environmentOf(plugin),
            revision,
          ),
        revertLayer: (plugin, layer, toVersion, reason, revertOptions) =>
          this.#configuration.revertLayer(
            plugin,
            layer,
            toVersion,
            reason,
            revertOptions,
          ),
        restoreAtRevision: (plugin, revision, meta) =>
          this.#configuration.restoreAtRevision(
            plugin,
            this.#environmentOf(plugin),
            revision,
            meta,
          ),
      },
    });
    const o = config.orchestrator;
    this.#orchestrator = Orchestrator.create({
      logger: options.logger,
      operations: this.#operations,
      events: this.#events,
      auditor: options.auditor,
      handlers: { ...actions.handlers(), ...options.extraHandlers },
      replicaId: options.replicaId,
      maxConcurrentOperations: o.maxConcurrentOperations,
      leaseMs: o.leaseDuration,
      pollIntervalMs: o.pollInterval,
      retry: { baseMs: o.retryBaseDelay, maxMs: o.retryMaxDelay },
      onOperationFinished: (op, succeeded) =>
        this.#recordBreaker(op, succeeded),
    });
    this.#crashRestarter = CrashRestarter.create({
      logger: options.logger,
      plugins: this.#plugins,
      instances: this.#instances,
      stateMachine: this.#stateMachine,
      events: this.#events,
      policyFor: pluginId => {
        const policy = {
          ...config.runtime.restartPolicy,
          ...config.plugins[pluginId]?.restartPolicy,
        };
        return {
          backoffBaseMs: policy.backoffBase,
          backoffMaxMs: policy.backoffMax,
          maxRestarts: policy.maxRestarts,
          windowMs: policy.window,
        };
      },
      replace: (plugin, instanceId, reason) =>
        this.#orchestrator.enqueue([
          this.#newOperation({
            pluginId: plugin.id,
            tenant: plugin.tenant,
            type: 'restart',
            actor: 'plugin-lifecycle:restart-policy',
            params: { instanceId, reason },
          }),
        ]),
    });
    this.#reconciler = new Reconciler({
      logger: options.logger,
      plugins: this.#plugins,
      instances: this.#instances,
      operations: this.#operations,
      stateMachine: this.#stateMachine,
      runtimes: options.runtimes,
      replicaId: options.replicaId,
      autoRecovery: o.enableAutoRecovery,
      restart: (pluginId, tenant) =>
        this.#orchestrator.enqueue([
          this.#newOperation({
            pluginId,
            tenant,
            type: 'start',
            actor: 'plugin-lifecycle:auto-recovery',
          }),
        ]),
    });
  }

  /**
   * Creates the system, reconciles what earlier runs left behind and starts
   * the workers. Call `reconcile()` periodically (the plugin schedules it).
   */
  static async create(
    options: SystemOptions,
  ): Promise<PluginLifecycleOrchestrationSystem> {
    const system = new PluginLifecycleOrchestrationSystem(options);
    const c = options.config.configuration;
    system.#configuration = await ConfigurationManager.create({
      db: options.db,
      logger: options.logger.child({ engine: 'configuration' }),
      keyRing:
        options.keyRing ??
        SecretKeyRing.create({
          keys: c.encryption.keys,
          activeKeyId: c.encryption.activeKeyId,
        }),
      events: system.#events,
      environments: c.environments,
      defaultEnvironment: options.config.defaultEnvironment,
      maxVersionHistory: c.maxVersionHistory,
      pollIntervalMs: c.watchPollInterval,
      getPlugin: (id, scope) => system.#getPlugin(id, scope),
      getSchema: async plugin => {
        const version =
          plugin.currentVersion &&
          (await system.#plugins.getVersion(plugin.id, plugin.currentVersion));
        return version ? version.manifest.configSchema : undefined;
      },
      onChanged: change => system.#onConfigurationChanged(change),
    });
    system.#configMaintenance = new ConfigMaintenance({
      store: system.#configuration.store,
      keyRing: system.#configuration.keyRing,
      events: system.#events,
      logger: options.logger,
    });
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
    // The instances a gone backend left running are adopted before an
    // operation it left unfinished resumes, so that the operation counts
    // them as serving and removes none it has not replaced.
    await system.#reconciler.reconcileInstances();
    system.#orchestrator.start();
    await system.reconcile();
    return system;
  }

  /**
   * Listens to an event of the system: `<component>:<event>` with its typed
   * payload (see {@link SystemEventMap}) or `systemEvent` for all of them.
   */
  on<K extends keyof SystemEventListeners>(
    event: K,
    listener: SystemEventListeners[K],
  ): this {
    this.#events.on(event, listener);
    return this;
  }

  off<K extends keyof SystemEventListeners>(
    event: K,
    listener: SystemEventListeners[K],
  ): this {
    this.#events.off(event, listener);
    return this;
  }

  /**
   * The configuration manager: versioned configuration per plugin and
   * environment (`setPluginConfiguration`, `watchConfiguration`, ...).
   */
  getPluginConfigurationManager(): ConfigurationManager {
    return this.#configuration;
  }

  /**
   * The health monitor: probes per plugin (`registerPluginProbes`), health
   * per instance and probe (`getPluginHealth`).
   */
  getPluginHealthMonitor(): HealthMonitor {
    if (!this.#health) {
      throw new Error('The health monitor is not part of this system');
    }
    return this.#health;
  }

  /**
   * Service discovery: registrations, load-balanced lookups
   * (`getLoadBalancedService`), instance health for routing.
   */
  getPluginServiceDiscovery(): ServiceDiscovery {
    if (!this.#discovery) {
      throw new Error('Service discovery is not part of this system');
    }
    return this.#discovery;
  }

  // The router's discovery, health and configuration backup routes, as thin
  // delegations to their command modules (kept together for merging).
  get discoveryCommands(): DiscoveryCommands {
    return DiscoveryCommands.create({
      discovery: this.getPluginServiceDiscovery(),
    });
  }

  get healthQueries(): HealthQueries {
    return HealthQueries.create({ health: this.getPluginHealthMonitor() });
  }

  get configBackupCommands(): ConfigBackupCommands {
    return ConfigBackupCommands.create({
      configuration: this.#configuration,
      plugins: this,
    });
  }

  /**
   * Puts a running plugin in `error` for a reason found outside an
   * operation (the health monitor's `mark-error` remediation). A plugin in
   * any other state is left alone: something else is already acting on it.
   *
   * @returns whether the plugin moved to `error`.
   */
  async markPluginError(
    pluginId: string,
    options: { reason: string; actor?: string },
  ): Promise<boolean> {
    const plugin = await this.#plugins.get(pluginId);
    if (plugin?.state !== 'running') return false;
    try {
      await this.#stateMachine.transition(plugin, 'error', {
        action: 'health',
        actor: options.actor,
        reason: options.reason,
        patch: { lastError: options.reason },
      });
      return true;
    } catch (error) {
      // Another replica or an operation moved it first: theirs stands.
      if ((error as Error).name === 'ConflictError') return false;
      throw error;
    }
  }

  /** The stored plugin, whatever its tenant (callers check the scope). */
  findPluginRecord(pluginId: string): Promise<PluginRecord | undefined> {
    return this.#plugins.get(pluginId);
  }

  /** The tenants a user with these ownership refs may see and manage. */
  scopeForUser(ownershipEntityRefs: string[]): TenantScope {
    return this.#tenancy.scopeForUser(ownershipEntityRefs);
  }

  async installPlugin(
    pluginId: string,
    version: string,
    options: InstallPluginOptions = {},
  ): Promise<OperationAccepted> {
    const id = this.#parsePluginId(pluginId);
    const { userId, scope = ALL_TENANTS, ...rest } = options;
    const parsed = installRequestSchema.safeParse({ ...rest, version });
    if (!parsed.success) {
      throw new InputError(
        `Invalid install request: ${validationMessage(parsed.error)}`,
      );
    }
    const request = parsed.data;
    const existing = await this.#plugins.get(id);
    if (existing && !inTenantScope(scope, existing.tenant)) {
      // Another tenant's plugin is not there for this caller.
      throw new ConflictError(`Plugin id '${id}' is taken`);
    }
    const tenant =
      existing?.tenant ??
      this.#tenancy.tenantForNewPlugin(
        scope,
        request.tenant ?? this.#config.plugins[id]?.tenant,
      );
    const replay = await this.#replay(
      tenant,
      request.idempotencyKey,
      id,
      'install',
    );
    if (replay) return replay;
    this.#validateInstall(id, request);
    const quota = await this.#tenancy.checkQuota(tenant, { plugins: 1 }, id);
    if (quota.length > 0) {
      throw new NotAllowedError(`Cannot install '${id}': ${quota.join('; ')}`);
    }
    const plugin =
      existing ??
      (await this.#plugins.create({
        id,
        tenant,
        runtime: this.#runtimeFor(id, request),
        entityRef: request.entityRef,
        replicas: request.replicas,
      }));
    await this.#assertCanQueue(plugin, 'install');
    if (existing) {
      await this.#plugins.update(id, {
        runtime: this.#runtimeFor(id, request, existing.runtime),
        ...(request.entityRef ? { entityRef: request.entityRef } : {}),
      });
    }
    await this.#writeInstallConfiguration(plugin, request, userId);
    const {
      tenant: _t,
      runtime: _r,
      entityRef: _e,
      priority,
      idempotencyKey,
      timeoutMs,
      configuration: _c,
      ...params
    } = request;
    return this.#enqueueOne(
      this.#newOperation({
        pluginId: id,
        tenant,
        type: 'install',
        actor: userId,
        priority,
        idempotencyKey,
        timeoutMs,
        params: {
          ...params,
          environment: request.environment ?? this.#config.defaultEnvironment,
        },
      }),
    );
  }

  /**
   * Moves a plugin to another version: rolled one instance at a time when it
   * runs, restored to the version it had when the update fails.
   */
  async updatePlugin(
    pluginId: string,
    version: string,
    options: Omit<UpdateRequest, 'version'> & {
      userId?: string;
      scope?: TenantScope;
    } = {},
  ): Promise<OperationAccepted> {
    const { userId, scope = ALL_TENANTS, ...rest } = options;
    const parsed = updateRequestSchema.safeParse({ ...rest, version });
    if (!parsed.success) {
      throw new InputError(
        `Invalid update request: ${validationMessage(parsed.error)}`,
      );
    }
    const { priority, idempotencyKey, timeoutMs, reason, ...params } =
      parsed.data;
    const plugin = await this.#getPlugin(pluginId, scope);
    const replay = await this.#replay(
      plugin.tenant,
      idempotencyKey,
      plugin.id,
      'update',
    );
    if (replay) return replay;
    if (
      params.artifact &&
      !this.#config.requestArtifactTypes.includes(params.artifact.type)
    ) {
      throw new NotAllowedError(
        `Artifacts of type '${
          params.artifact.type
        }' are not allowed in update requests (allowed: ${
          this.#config.requestArtifactTypes.join(', ') || 'none'
        })`,
      );
    }
    if (params.artifact) assertRequestNpmSpec(params.artifact, version);
    this.#execProbes.assertAllowed(
      [...(params.healthProbes ?? []), ...(params.manifest?.probes ?? [])],
      { kind: 'plugin', pluginId: plugin.id, origin: 'the update request' },
    );
    await this.#assertCanQueue(plugin, 'update');
    await this.#assertBreakerAllows(plugin, 'update');
    return this.#enqueueOne(
      this.#newOperation({
        pluginId: plugin.id,
        tenant: plugin.tenant,
        type: 'update',
        actor: userId,
        priority,
        idempotencyKey,
        timeoutMs,
        params: { ...params, ...(reason ? { reason } : {}) },
      }),
    );
  }

  /**
   * Rolls a succeeded update back: queues an update to the version it
   * replaced which, before new instances start, restores the configuration
   * that version ran with (`base` and the plugin's environment, as new
   * versions; no separate configure operation). Only the plugin's latest
   * deployment can be rolled back: the update's version must be the one
   * that runs now.
   */
  async rollbackUpdate(
    pluginId: string,
    operationId: string,
    options: ActionOptions = {},
  ): Promise<OperationAccepted> {
    const { userId, scope = ALL_TENANTS, ...rest } = options;
    const parsed = updateRollbackRequestSchema.safeParse(rest);
    if (!parsed.success) {
      throw new InputError(
        `Invalid rollback request: ${validationMessage(parsed.error)}`,
      );
    }
    const { priority, idempotencyKey, timeoutMs, reason } = parsed.data;
    const plugin = await this.#getPlugin(pluginId, scope);
    const update = await this.getOperation(operationId, scope);
    if (update.pluginId !== plugin.id) {
      throw new NotFoundError(
        `No operation with id '${operationId}' for plugin '${plugin.id}'`,
      );
    }
    const replay = await this.#replay(
      plugin.tenant,
      idempotencyKey,
      plugin.id,
      'update',
    );
    if (replay) return replay;
    if (update.type !== 'update') {
      throw new InputError(
        `Operation '${operationId}' (${update.type}) is not an update; only an update can be rolled back`,
      );
    }
    if (update.status !== 'succeeded') {
      throw new ConflictError(
        `Update '${operationId}' is ${update.status}; only a succeeded update can be rolled back`,
      );
    }
    const result = update.result ?? {};
    const fromVersion = result.fromVersion as string | undefined;
    const toVersion = result.toVersion as string | undefined;
    const fromConfigRevision = result.fromConfigRevision as number | undefined;
    if (!fromVersion || !toVersion || fromConfigRevision === undefined) {
      throw new ConflictError(
        `Update '${operationId}' recorded no configuration revision (it ran before deployments recorded one); update to the version you want instead`,
      );
    }
    if (plugin.currentVersion !== toVersion) {
      throw new ConflictError(
        `Cannot roll back update '${operationId}' of '${
          plugin.id
        }' (${fromVersion} -> ${toVersion}): the plugin runs ${
          plugin.currentVersion ?? 'no version'
        } now`,
      );
    }
    await this.#assertCanQueue(plugin, 'update');
    await this.#assertBreakerAllows(plugin, 'update');
    // The version being restored is reinstalled from what it was installed
    // from, not from the artifact of the version it replaces.
    const stored = await this.#plugins.getVersion(plugin.id, fromVersion);
    return this.#enqueueOne(
      this.#newOperation({
        pluginId: plugin.id,
        tenant: plugin.tenant,
        type: 'update',
        actor: userId,
        priority,
        idempotencyKey,
        timeoutMs,
        params: {
          version: fromVersion,
          ...(stored
            ? { artifact: stored.artifact, manifest: stored.manifest }
            : {}),
          rollbackOf: update.id,
          // Checked again when it runs: an operation queued before it may
          // have moved the plugin to another version meanwhile.
          expectedCurrentVersion: toVersion,
          restoreConfigRevision: fromConfigRevision,
          reason: reason ?? `rollback of update ${update.id}`,
        },
      }),
    );
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

  /**
   * Queues several operations over several plugins at once, ordered by the
   * plugins' declared dependencies (install and start dependencies first,
   * stop and uninstall dependents first), independent branches in parallel.
   */
  async submitBatch(
    body: unknown,
    options: { userId?: string; scope?: TenantScope } = {},
  ): Promise<BatchAccepted> {
    const parsed = batchRequestSchema.safeParse(body);
    if (!parsed.success) {
      throw new InputError(`Invalid batch: ${validationMessage(parsed.error)}`);
    }
    const batch: BatchRequest = parsed.data;
    const scope = options.scope ?? ALL_TENANTS;
    const items = batch.operations.map((item, index) => ({
      ...item,
      key: String(index),
    }));
    // Everything is checked before anything is stored: a refused batch
    // leaves no plugin behind. The batch's plugins come in one lookup.
    const plugins = await this.#plugins.getMany(items.map(i => i.pluginId));
    /** Plugins the batch creates: their tenant and first install. */
    const creating = new Map<
      string,
      { tenant: string; install: NonNullable<(typeof items)[0]['install']> }
    >();
    for (const item of items) {
      const plugin = plugins.get(item.pluginId);
      if (plugin && !inTenantScope(scope, plugin.tenant)) {
        throw new NotFoundError(
          `No plugin with id '${item.pluginId}' (operation ${item.key})`,
        );
      }
      // A plugin the batch installs may take further actions after that install.
      if (
        !plugin &&
        item.action !== 'install' &&
        !creating.has(item.pluginId)
      ) {
        throw new NotFoundError(
          `No plugin with id '${item.pluginId}' (operation ${item.key})`,
        );
      }
      if (item.action === 'install') {
        this.#validateInstall(item.pluginId, item.install!);
        if (!plugin && !creating.has(item.pluginId)) {
          creating.set(item.pluginId, {
            tenant: this.#tenancy.tenantForNewPlugin(
              scope,
              item.install!.tenant,
            ),
            install: item.install!,
          });
        }
      }
    }
    const tenantOf = (pluginId: string) =>
      plugins.get(pluginId)?.tenant ?? creating.get(pluginId)!.tenant;
    const declared = await this.#declaredDependencies(items);
    const plan = planBatch(
      items.map(i => ({ key: i.key, pluginId: i.pluginId, action: i.action })),
      pluginId => declared.get(pluginId) ?? [],
    );
    // The key is kept on the first operation to run (see below).
    if (batch.idempotencyKey) {
      const first = items[Number(plan.order[0])];
      const earlier = await this.#operationsForKey(
        tenantOf(first.pluginId),
        batch.idempotencyKey,
      );
      if (earlier) return batchReplay(earlier, items);
    }
    // Installs of plugins that do not count yet (new or inactive) count
    // against their tenant's plugin quota, as single installs do.
    const counted = new Map<string, Set<string>>();
    for (const item of items) {
      if (item.action !== 'install') continue;
      const existing = plugins.get(item.pluginId);
      if (existing && existing.state !== 'inactive') continue;
      const tenant = tenantOf(item.pluginId);
      const ids = counted.get(tenant) ?? new Set<string>();
      counted.set(tenant, ids.add(item.pluginId));
    }
    for (const [tenant, ids] of counted) {
      const quota = await this.#tenancy.checkQuota(tenant, {
        plugins: ids.size,
      });
      if (quota.length > 0) {
        throw new NotAllowedError(
          `Cannot install ${[...ids]
            .map(id => `'${id}'`)
            .join(', ')}: ${quota.join('; ')}`,
        );
      }
    }
    const batchId = randomUUID();
    const ids = new Map(items.map(i => [i.key, randomUUID()]));
    // The new plugins together (one statement per few hundred): all of them,
    // or none when another request created one of them meanwhile.
    const created = await this.#plugins.createMany(
      [...creating].map(([id, { tenant, install }]) => ({
        id,
        tenant,
        runtime: this.#runtimeFor(id, install),
        entityRef: install.entityRef,
        replicas: install.replicas,
      })),
    );
    for (const plugin of created) plugins.set(plugin.id, plugin);
    const operations: NewOperation[] = [];
    for (const key of plan.order) {
      const item = items[Number(key)];
      const plugin = plugins.get(item.pluginId)!;
      if (item.action === 'install') {
        await this.#writeInstallConfiguration(
          plugin,
          item.install!,
          options.userId,
        );
      }
      const {
        tenant: _t,
        runtime: _r,
        entityRef: _e,
        configuration: _c,
        ...installParams
      } = item.install ?? {};
      operations.push(
        this.#newOperation({
          id: ids.get(key)!,
          pluginId: item.pluginId,
          tenant: plugin.tenant,
          type: item.action,
          actor: options.userId,
          priority: batch.priority,
          timeoutMs: batch.timeoutMs,
          idempotencyKey:
            operations.length === 0 ? batch.idempotencyKey : undefined,
          batchId,
          dependsOn: plan.dependsOn[key].map(k => ids.get(k)!),
          params:
            item.action === 'install'
              ? {
                  ...installParams,
                  environment:
                    item.install?.environment ??
                    this.#config.defaultEnvironment,
                }
              : {
                  ...(item.reason ? { reason: item.reason } : {}),
                  cascade: true,
                },
        }),
      );
    }
    const stored = await this.#orchestrator.enqueue(operations);
    if (!stored.created) return batchReplay(stored.operations, items);
    const byId = new Map(stored.operations.map(o => [o.id, o]));
    return {
      batchId,
      operations: items.map(i => accepted(byId.get(ids.get(i.key)!)!)),
    };
  }

  async cancelOperation(
    operationId: string,
    options: { userId?: string; scope?: TenantScope } = {},
  ) {
    await this.getOperation(operationId, options.scope);
    return this.#orchestrator.cancel(operationId, options.userId);
  }

  /**
   * Plugins by id, in the caller's tenants; with `page`, at most `limit`
   * after the id `after`.
   */
  async listPlugins(
    filter: {
      state?: LifecycleState;
      tenant?: string;
      entityRef?: string;
    } = {},
    scope: TenantScope = ALL_TENANTS,
    page: { limit?: number; after?: string } = {},
  ): Promise<PluginSummary[]> {
    return (
      await this.#plugins.list({
        ...filter,
        ...page,
        // In the query, so a page is full whatever the other tenants hold.
        ...(scope.all === true ? {} : { tenants: scope.tenants }),
      })
    ).map(toSummary);
  }

  async getPlugin(
    pluginId: string,
    scope: TenantScope = ALL_TENANTS,
  ): Promise<PluginDetails> {
    const plugin = await this.#getPlugin(pluginId, scope);
    const [versions, instances, ended, busy] = await Promise.all([
      this.#plugins.listVersions(plugin.id),
      this.#instances.listForPlugin(plugin.id, { activeOnly: true }),
      this.#instances.listForPlugin(plugin.id, { endedOnly: true, limit: 10 }),
      this.#operations.hasUnfinished(plugin.id),
    ]);
    return {
      ...toSummary(plugin),
      versions: versions.map(({ location: _l, ...v }) => v),
      instances,
      endedInstances: ended,
      availableActions: busy ? [] : availableActions(plugin.state),
      restarts: await this.#crashRestarter.status(plugin.id),
    };
  }

  /** The plugin's state transitions, oldest first; 500 unless `page.limit`, after the id `page.afterId`. */
  async getHistory(
    pluginId: string,
    scope: TenantScope = ALL_TENANTS,
    page: { limit?: number; afterId?: number } = {},
  ): Promise<StateTransition[]> {
    const plugin = await this.#getPlugin(pluginId, scope);
    return this.#plugins.history(plugin.id, page);
  }

  /**
   * The plugin's operations, newest first (queued and running ones
   * included); 50 unless `page.limit`, before the sequence number
   * `page.beforeSeq`.
   */
  async listOperations(
    pluginId: string,
    scope: TenantScope = ALL_TENANTS,
    page: { limit?: number; beforeSeq?: number } = {},
  ): Promise<QueuedOperation[]> {
    const plugin = await this.#getPlugin(pluginId, scope);
    return this.#operations.listForPlugin(plugin.id, page);
  }

  async getOperation(
    operationId: string,
    scope: TenantScope = ALL_TENANTS,
  ): Promise<Operation> {
    const operation = await this.#operations.get(operationId);
    if (!inTenantScope(scope, operation.tenant)) {
      throw new NotFoundError(`No operation with id '${operationId}'`);
    }
    return operation;
  }

  /**
   * Resolves when the operation has finished (or the wait times out, or the
   * signal aborts it: then with the operation as it is).
   */
  async waitForOperation(
    operationId: string,
    options: {
      timeoutMs?: number;
      scope?: TenantScope;
      /**
       * The first pause before the operation is read again (25 ms unless
       * set); each pause doubles, up to a second, and this replica's own
       * end of the operation cuts it short.
       */
      intervalMs?: number;
      signal?: AbortSignal;
    } = {},
  ): Promise<Operation> {
    const deadline = Date.now() + (options.timeoutMs ?? 60_000);
    let delayMs = options.intervalMs ?? 25;
    for (;;) {
      const operation = await this.getOperation(operationId, options.scope);
      if (
        !['queued', 'running'].includes(operation.status) ||
        Date.now() >= deadline ||
        options.signal?.aborted
      ) {
        return operation;
      }
      await pauseForOperation({
        events: this.#events,
        operationId,
        delayMs,
        deadline,
        signal: options.signal,
      });
      delayMs = Math.min(delayMs * 2, MAX_OPERATION_POLL_MS);
    }
  }

  async getSystemMetrics(
    scope: TenantScope = ALL_TENANTS,
  ): Promise<SystemMetrics> {
    const plugins = (await this.#plugins.list()).filter(p =>
      inTenantScope(scope, p.tenant),
    );
    const byState = Object.fromEntries(
      LIFECYCLE_STATES.map(s => [s, 0]),
    ) as Record<LifecycleState, number>;
    plugins.forEach(p => byState[p.state]++);
    const ids = new Set(plugins.map(p => p.id));
    const active = (await this.#instances.listActive()).filter(i =>
      ids.has(i.pluginId),
    );
    return {
      plugins: { total: plugins.length, byState },
      instances: { running: active.filter(i => i.status === 'running').length },
      operations: {
        byStatus: await this.#operations.countByStatus(),
        runningHere: this.#orchestrator.runningCount(),
      },
    };
  }

  /**
   * Re-seals secrets still sealed with a retired-to-be key and announces
   * secrets due for rotation (the plugin schedules it on one replica).
   */
  async runConfigurationMaintenance(now = new Date()) {
    const result = await this.#configMaintenance.run(now);
    if (result.resealed > 0) {
      this.#logger.info(
        `re-sealed the secrets of ${
          result.resealed
        } configuration version(s) with key '${
          this.#configuration.keyRing.activeKeyId
        }'`,
      );
    }
    return result;
  }

  /** Brings recorded state in line with what runs (see {@link Reconciler}). */
  reconcile(): Promise<void> {
    return this.#reconciler.reconcile();
  }

  /**
   * Stops taking work, lets running operations end, then stops every
   * instance, or (`pluginLifecycle.shutdown.stopInstances: false`, the
   * default) leaves them running for the next backend to adopt.
   */
  async shutdown(options: { graceMs?: number } = {}): Promise<void> {
    this.#crashRestarter.stop();
    // Running operations get what is left of the shutdown's grace period.
    await this.#orchestrator.shutdown(options.graceMs);
    await this.#configuration.shutdown();
    this.#unsubscribe.forEach(u => u());
    const grace = this.#config.runtime.process.stopGracePeriod;
    const leaveRunning = !this.#config.shutdown.stopInstances;
    await Promise.all(
      this.#runtimes
        .all()
        .map(r => r.shutdown({ gracePeriodMs: grace, leaveRunning })),
    );
  }

  async #command(
    pluginId: string,
    action: LifecycleAction,
    options: ActionOptions,
  ) {
    const { userId, scope = ALL_TENANTS, ...rest } = options;
    const parsed = actionRequestSchema.safeParse(rest);
    if (!parsed.success) {
      throw new InputError(
        `Invalid ${action} request: ${validationMessage(parsed.error)}`,
      );
    }
    const { reason, cascade, priority, idempotencyKey, timeoutMs, instanceId } =
      parsed.data;
    if (instanceId !== undefined && action !== 'restart') {
      throw new InputError(
        `Invalid ${action} request: instanceId is for restart only`,
      );
    }
    const plugin = await this.#getPlugin(pluginId, scope);
    if (instanceId !== undefined) {
      const instance = await this.#instances.get(instanceId);
      if (instance?.pluginId !== plugin.id) {
        throw new NotFoundError(
          `Plugin '${plugin.id}' has no instance '${instanceId}'`,
        );
      }
      if (!['running', 'starting', 'crashed'].includes(instance.status)) {
        throw new ConflictError(
          `Instance '${instanceId}' of plugin '${plugin.id}' is ${instance.status}: there is nothing to replace`,
        );
      }
    }
    const replay = await this.#replay(
      plugin.tenant,
      idempotencyKey,
      plugin.id,
      action,
    );
    if (replay) return replay;
    await this.#assertCanQueue(plugin, action);
    await this.#assertBreakerAllows(plugin, action);
    const base = { tenant: plugin.tenant, actor: userId, priority, timeoutMs };
    if (cascade && (action === 'stop' || action === 'uninstall')) {
      return this.#cascade(plugin, action, {
        ...base,
        reason,
        idempotencyKey,
        scope,
      });
    }
    if (action === 'start') {
      const quota = await this.#tenancy.checkQuota(
        plugin.tenant,
        { instances: plugin.replicas },
        plugin.id,
      );
      if (quota.length > 0) {
        throw new NotAllowedError(
          `Cannot start '${plugin.id}': ${quota.join('; ')}`,
        );
      }
    }
    return this.#enqueueOne(
      this.#newOperation({
        ...base,
        pluginId: plugin.id,
        type: action,
        idempotencyKey,
        params: {
          ...(reason ? { reason } : {}),
          ...(instanceId ? { instanceId } : {}),
        },
      }),
    );
  }

  /** Stops (or uninstalls) a plugin after stopping the running plugins that depend on it. */
  async #cascade(
    plugin: PluginRecord,
    action: 'stop' | 'uninstall',
    base: {
      tenant: string;
      actor?: string;
      priority?: number;
      timeoutMs?: number;
      reason?: string;
      idempotencyKey?: string;
      scope: TenantScope;
    },
  ): Promise<OperationAccepted> {
    const view = await this.#dependencyView();
    const running = new Set(['running', 'starting', 'updating', 'maintenance']);
    const dependents = new Set<string>();
    const visit = (id: string) => {
      for (const p of view) {
        if (
          p.dependencies.includes(id) &&
          running.has(p.state) &&
          !dependents.has(p.id)
        ) {
          dependents.add(p.id);
          visit(p.id);
        }
      }
    };
    visit(plugin.id);
    const batch = await this.submitBatch(
      {
        operations: [
          ...[...dependents].map(id => ({
            pluginId: id,
            action: 'stop',
            reason: `cascade from ${action} of ${plugin.id}`,
          })),
          {
            pluginId: plugin.id,
            action,
            ...(base.reason ? { reason: base.reason } : {}),
          },
        ],
        priority: base.priority,
        timeoutMs: base.timeoutMs,
        idempotencyKey: base.idempotencyKey,
      },
      { userId: base.actor, scope: base.scope },
    );
    return batch.operations.find(o => o.pluginId === plugin.id)!;
  }

  #newOperation(input: {
    id?: string;
    pluginId: string;
    tenant: string;
    type: LifecycleAction;
    actor?: string;
    params?: Record<string, unknown>;
    priority?: number;
    timeoutMs?: number;
    idempotencyKey?: string;
    batchId?: string;
    dependsOn?: string[];
  }): NewOperation {
    return {
      ...input,
      id: input.id ?? randomUUID(),
      params: input.params ?? {},
      maxAttempts: this.#config.orchestrator.maxAttempts,
      timeoutMs: input.timeoutMs ?? this.#config.orchestrator.defaultTimeout,
    };
  }

  /**
   * The answer to an earlier request with this idempotency key, if the
   * tenant used it before. Looked up before the state, breaker and quota
   * checks: a retried request must get its first answer although that
   * operation may have changed the plugin since (after an install succeeded
   * a second install is a conflict). `OperationStore.enqueue` keeps its own
   * check in its transaction for requests that race each other.
   */
  async #replay(
    tenant: string,
    idempotencyKey: string | undefined,
    pluginId: string,
    type: LifecycleAction,
  ): Promise<OperationAccepted | undefined> {
    if (!idempotencyKey) return undefined;
    const earlier = await this.#operationsForKey(tenant, idempotencyKey);
    if (!earlier) return undefined;
    // A cascade keeps the key on the first operation of its batch (a stop
    // of a dependent): answer with the operation on the plugin asked about.
    const operation =
      earlier.find(o => o.pluginId === pluginId && o.type === type) ??
      earlier[0];
    return { ...accepted(operation), replayed: true };
  }

  /**
   * The operations queued by the request that used this idempotency key:
   * its batch (the key's operation first) or its single operation.
   */
  #operationsForKey(tenant: string, idempotencyKey: string) {
    return this.#operations.findByIdempotencyKey(tenant, idempotencyKey);
  }

  #environmentOf(plugin: PluginRecord): string {
    return plugin.environment ?? this.#config.defaultEnvironment;
  }

  /**
   * Configuration given with an install becomes a version of the
   * environment's layer before the operation is queued, so secrets are
   * sealed at once and never sit in the operation's parameters.
   */
  async #writeInstallConfiguration(
    plugin: PluginRecord,
    request: Pick<
      InstallRequest,
      'configuration' | 'environment' | 'manifest'
    > & {
      version: string;
    },
    userId?: string,
  ) {
    if (!request.configuration?.length) return;
    // The install's configuration is the layer's new start: it replaces
    // what an earlier install left, required keys included.
    await this.#configuration.replacePluginConfiguration(
      plugin.id,
      request.configuration,
      {
        environment: request.environment ?? this.#config.defaultEnvironment,
        userId,
        description: `given at install of ${request.version}`,
        schema: request.manifest?.configSchema,
        applyToInstances: false,
        allowDroppingRequired: true,
      },
    );
  }

  /**
   * A configuration change of a running plugin's environment (or of the
   * base layer) reaches its instances through a `configure` operation.
   */
  async #onConfigurationChanged(
    change: ConfigChanged,
  ): Promise<string | undefined> {
    const plugin = await this.#plugins.get(change.plugin.id);
    if (!plugin) return undefined;
    const env = this.#environmentOf(plugin);
    if (change.layer !== 'base' && change.layer !== env) return undefined;
    // Running, or on its way there: a change made meanwhile must not be
    // lost; the configure operation itself skips a plugin that is not running.
    const live = ['running', 'configuring', 'starting', 'updating'];
    if (!live.includes(plugin.state)) return undefined;
    const queued = await this.#enqueueOne(
      this.#newOperation({
        pluginId: plugin.id,
        tenant: plugin.tenant,
        type: 'configure',
        actor: change.actor,
        params: {
          layer: change.layer,
          version: change.version.version,
          revision: change.version.revision,
        },
      }),
    );
    return queued.operationId;
  }

  async #enqueueOne(operation: NewOperation): Promise<OperationAccepted> {
    const stored = await this.#orchestrator.enqueue([operation]);
    return {
      ...accepted(stored.operations[0]),
      ...(stored.created ? {} : { replayed: true }),
    };
  }

  #validateInstall(
    id: string,
    request: Omit<InstallRequest, 'version'> & { version: string },
  ) {
    this.#parsePluginId(id);
    const environment = request.environment ?? this.#config.defaultEnvironment;
    if (!this.#config.configuration.environments.includes(environment)) {
      throw new InputError(
        `Unknown environment '${environment}'; known: ${this.#config.configuration.environments.join(
          ', ',
        )}`,
      );
    }
    this.#configuration.assertStorable(
      id,
      request.configuration ?? [],
      request.manifest?.configSchema,
    );
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
    if (request.artifact) {
      assertRequestNpmSpec(request.artifact, request.version);
    }
    this.#execProbes.assertAllowed(
      [...(request.healthProbes ?? []), ...(request.manifest?.probes ?? [])],
      { kind: 'plugin', pluginId: id, origin: 'the install request' },
    );
    if (request.runtime && !this.#runtimes.has(request.runtime)) {
      throw new InputError(`Unknown runtime '${request.runtime}'`);
    }
    if (!request.artifact && !configuredArtifact(this.#config, id)) {
      throw new InputError(
        `No artifact for plugin '${id}': give "artifact" in the request or configure pluginLifecycle.plugins.${id}.artifact`,
      );
    }
  }

  #runtimeFor(
    id: string,
    request: { runtime?: string; artifact?: { type: string } },
    current?: string,
  ) {
    return (
      request.runtime ??
      (request.artifact?.type === 'external' ? 'external' : undefined) ??
      this.#config.plugins[id]?.runtime ??
      current ??
      this.#config.defaultRuntime
    );
  }

  /**
   * An action may be queued when the plugin's state allows it now, or when
   * operations are already queued for the plugin (the state is checked again
   * when the action runs, after them).
   */
  async #assertCanQueue(plugin: PluginRecord, action: LifecycleAction) {
    if (await this.#operations.hasUnfinished(plugin.id)) return;
    if (!canPerformAction(plugin.state, action)) {
      const allowed = LIFECYCLE_ACTIONS[action].from.join(', ');
      throw new ConflictError(
        `Cannot ${action} plugin '${plugin.id}': it is ${plugin.state} (${action} is possible from ${allowed})`,
      );
    }
  }

  #breakerOptions() {
    const { circuitBreaker } = this.#config.orchestrator;
    return {
      failureThreshold: circuitBreaker.failureThreshold,
      coolDownMs: circuitBreaker.coolDown,
    };
  }

  /**
   * Refuses the action while the plugin's breaker is open; after the
   * cool-down one trial goes through (and is recorded as in flight).
   */
  async #assertBreakerAllows(plugin: PluginRecord, action: LifecycleAction) {
    const before = plugin.breaker ?? INITIAL_BREAKER_STATE;
    const verdict = breakerAllows(before, Date.now(), this.#breakerOptions());
    if (!verdict.allowed) {
      throw new ConflictError(
        `Cannot ${action} plugin '${plugin.id}': ${verdict.reason}`,
      );
    }
    if (JSON.stringify(verdict.state) !== JSON.stringify(before)) {
      await this.#plugins.update(plugin.id, { breaker: verdict.state });
    }
  }

  async #recordBreaker(op: QueuedOperation, succeeded: boolean) {
    const plugin = await this.#plugins.get(op.pluginId);
    if (!plugin) return;
    const before = plugin.breaker ?? INITIAL_BREAKER_STATE;
    if (
      succeeded &&
      before.status === 'closed' &&
      before.consecutiveFailures === 0
    ) {
      return; // the common case: nothing changes
    }
    const after = breakerRecord(
      before,
      succeeded ? 'success' : 'failure',
      Date.now(),
      this.#breakerOptions(),
    );
    await this.#plugins.update(plugin.id, { breaker: after });
    if (after.status === 'open' && before.status !== 'open') {
      this.#events.publish('orchestrator', 'circuitOpened', {
        pluginId: plugin.id,
        consecutiveFailures: after.consecutiveFailures,
      });
    }
  }

  async #dependencyView() {
    return withinTenantDependencies(await this.#plugins.dependencyView());
  }

  /** Dependencies by plugin id: from the install request's manifest, else the installed version's. */
  async #declaredDependencies(
    items: Array<{
      pluginId: string;
      install?: { manifest?: { dependencies?: Array<{ pluginId: string }> } };
    }>,
  ) {
    const declared = new Map<string, string[]>();
    for (const p of await this.#dependencyView())
      declared.set(p.id, p.dependencies);
    for (const item of items) {
      const deps = item.install?.manifest?.dependencies;
      if (deps)
        declared.set(
          item.pluginId,
          deps.map(d => d.pluginId),
        );
    }
    return declared;
  }

  #parsePluginId(pluginId: string): string {
    const parsed = pluginIdSchema.safeParse(pluginId);
    if (!parsed.success) {
      throw new InputError(
        `Invalid plugin id '${pluginId}': ${validationMessage(parsed.error)}`,
      );
    }
    return parsed.data;
  }

  async #getPlugin(
    pluginId: string,
    scope: TenantScope,
  ): Promise<PluginRecord> {
    const plugin = await this.#plugins.get(this.#parsePluginId(pluginId));
    if (!plugin || !inTenantScope(scope, plugin.tenant)) {
      throw new NotFoundError(`No plugin with id '${pluginId}'`);
    }
    return plugin;
  }

  /** An instance ended: told to everyone; one that was not asked to goes to the restart policy. */
  async #onInstanceExit(exit: RuntimeInstanceExit) {
    this.#events.publish('runtime', 'instanceExited', exit);
    if (exit.expected) return;
    await this.#crashRestarter.onUnexpectedExit(exit);
  }
}

interface SystemOptions {
  logger: LoggerService;
  db: Knex;
  config: PluginLifecycleConfig;
  runtimes: RuntimeRegistry;
  replicaId: string;
  auditor?: AuditorService;
  events?: SystemEvents;
  /** Keys for secret configuration values; default: from the config. */
  keyRing?: SecretKeyRing;
  /** Served by `getPluginHealthMonitor()`; the plugin wires it. */
  health?: HealthMonitor;
  /** Served by `getPluginServiceDiscovery()`; the plugin wires it. */
  discovery?: ServiceDiscovery;
  /** Extra operation handlers, by type (tests and benchmarks). */
  extraHandlers?: Partial<
    Record<
      LifecycleAction,
      (op: Operation, signal: AbortSignal) => Promise<Record<string, unknown>>
    >
  >;
}

function accepted(
  op: QueuedOperation,
): OperationAccepted & { dependsOn: string[] } {
  return {
    operationId: op.id,
    pluginId: op.pluginId,
    type: op.type,
    status: op.status,
    dependsOn: op.dependsOn,
  };
}

/**
 * The answer to a batch request whose idempotency key was used before: the
 * earlier operations, in the order of this request's items where they
 * match one to one (by plugin and action), else in the order they run.
 */
function batchReplay(
  earlier: QueuedOperation[],
  items: Array<{ pluginId: string; action: LifecycleAction }>,
): BatchAccepted {
  const left = [...earlier];
  const matched = items.map(item => {
    const index = left.findIndex(
      o => o.pluginId === item.pluginId && o.type === item.action,
    );
    return index < 0 ? undefined : left.splice(index, 1)[0];
  });
  const ordered =
    left.length === 0 && matched.every(Boolean)
      ? (matched as QueuedOperation[])
      : [...earlier].sort((a, b) => a.seq - b.seq);
  return {
    batchId: earlier[0].batchId ?? earlier[0].id,
    replayed: true,
    operations: ordered.map(accepted),
  };
}

function toSummary(plugin: PluginRecord): PluginSummary {
  const {
    configuration: _c,
    probes: _p,
    environment: _e,
    operationId: _o,
    breaker: _b,
    ...summary
  } = plugin;
  return summary;
}
