import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import {
  ConflictError,
  InputError,
  NotAllowedError,
  NotFoundError,
} from '@backstage/errors';
import {
  ActionRequest,
  InstallRequest,
  installRequestSchema,
  OperationAccepted,
  UpdateParams,
  UpdateRequest,
  updateRequestSchema,
  updateResultSchema,
  updateRollbackRequestSchema,
  validationMessage,
} from '@internal/plugin-lifecycle-common';
import { PluginLifecycleConfig } from '../../config';
import {
  DeploymentRecord,
  DeploymentStore,
} from '../../database/DeploymentStore';
import { PluginRecord, PluginStore } from '../../database/PluginStore';
import { planDeployment } from '../../domain/deployments';
import { ExecProbePolicy } from '../../engines/health/execProbePolicy';
import { ALL_TENANTS, inTenantScope, TenantScope } from '../../domain/tenancy';
import { Tenancy } from '../../engines/tenancy/Tenancy';
import { PluginBreaker } from './breaker';
import { InstallRequests, assertRequestNpmSpec } from './installRequests';
import { OperationQueries } from './operationQueries';
import { OperationQueue } from './operationQueue';
import { PluginLookup, parsePluginId } from './pluginLookup';

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

/** Options of {@link InstallCommands.create}. */
export interface InstallCommandsOptions {
  config: PluginLifecycleConfig;
  plugins: PluginStore;
  tenancy: Tenancy;
  execProbes: ExecProbePolicy;
  lookup: PluginLookup;
  queue: OperationQueue;
  breaker: PluginBreaker;
  requests: InstallRequests;
  operations: OperationQueries;
  /** Where an update's deployment is created before its operation is queued. */
  deployments: DeploymentStore;
}

/** What a rollback reads from the update it rolls back. */
const rollbackFieldsSchema = updateResultSchema
  .pick({ fromVersion: true, toVersion: true, fromConfigRevision: true })
  .partial();

/** Install, update and the rollback of an update: checked, then queued as operations. */
export class InstallCommands {
  readonly #o: InstallCommandsOptions;

  static create(options: InstallCommandsOptions): InstallCommands {
    return new InstallCommands(options);
  }

  private constructor(options: InstallCommandsOptions) {
    this.#o = options;
  }

  /** Installs a version of a plugin (creating the plugin the first time), optionally starting it. */
  async installPlugin(
    pluginId: string,
    version: string,
    options: InstallPluginOptions = {},
  ): Promise<OperationAccepted> {
    const { config, plugins, tenancy, queue, requests } = this.#o;
    const id = parsePluginId(pluginId);
    const { userId, scope = ALL_TENANTS, ...rest } = options;
    const parsed = installRequestSchema.safeParse({ ...rest, version });
    if (!parsed.success) {
      throw new InputError(
        `Invalid install request: ${validationMessage(parsed.error)}`,
      );
    }
    const request = parsed.data;
    const existing = await plugins.get(id);
    if (existing && !inTenantScope(scope, existing.tenant)) {
      // Another tenant's plugin is not there for this caller.
      throw new ConflictError(`Plugin id '${id}' is taken`);
    }
    const tenant =
      existing?.tenant ??
      tenancy.tenantForNewPlugin(
        scope,
        request.tenant ?? config.plugins[id]?.tenant,
      );
    const replay = await queue.replay(
      tenant,
      request.idempotencyKey,
      id,
      'install',
    );
    if (replay) return replay;
    requests.validate(id, request);
    const quota = await tenancy.checkQuota(tenant, { plugins: 1 }, id);
    if (quota.length > 0) {
      throw new NotAllowedError(`Cannot install '${id}': ${quota.join('; ')}`);
    }
    const plugin =
      existing ??
      (await plugins.create({
        id,
        tenant,
        runtime: requests.runtimeFor(id, request),
        entityRef: request.entityRef,
        replicas: request.replicas,
      }));
    await queue.assertCanQueue(plugin, 'install');
    if (existing) {
      await plugins.change(id, current => ({
        runtime: requests.runtimeFor(id, request, current.runtime),
        ...(request.entityRef ? { entityRef: request.entityRef } : {}),
      }));
    }
    await requests.writeConfiguration(plugin, request, userId);
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
    return queue.enqueueOne(
      queue.newOperation({
        pluginId: id,
        tenant,
        type: 'install',
        actor: userId,
        priority,
        idempotencyKey,
        timeoutMs,
        params: {
          ...params,
          environment: request.environment ?? config.defaultEnvironment,
        },
      }),
    );
  }

  /**
   * Moves a plugin to another version with a deployment strategy (rolling
   * by default). The deployment is created (`pending`, planned from the
   * strategy's settings, so bad settings are a 400 and nothing is queued)
   * before its `update` operation is queued; the operation installs the
   * version and hands the running instances to the deployment controller,
   * which moves them step by step after the operation has ended.
   */
  async updatePlugin(
    pluginId: string,
    version: string,
    options: Omit<UpdateRequest, 'version'> & {
      userId?: string;
      scope?: TenantScope;
    } = {},
  ): Promise<OperationAccepted & { deploymentId?: string }> {
    const { config, queue } = this.#o;
    const { userId, scope = ALL_TENANTS, ...rest } = options;
    const parsed = updateRequestSchema.safeParse({ ...rest, version });
    if (!parsed.success) {
      throw new InputError(
        `Invalid update request: ${validationMessage(parsed.error)}`,
      );
    }
    const { priority, idempotencyKey, timeoutMs, reason, ...params } =
      parsed.data;
    const plugin = await this.#o.lookup.get(pluginId, scope);
    const replay = await queue.replay(
      plugin.tenant,
      idempotencyKey,
      plugin.id,
      'update',
    );
    if (replay) return replay;
    if (
      params.artifact &&
      !config.requestArtifactTypes.includes(params.artifact.type)
    ) {
      throw new NotAllowedError(
        `Artifacts of type '${
          params.artifact.type
        }' are not allowed in update requests (allowed: ${
          config.requestArtifactTypes.join(', ') || 'none'
        })`,
      );
    }
    if (params.artifact) assertRequestNpmSpec(params.artifact, version);
    this.#o.execProbes.assertAllowed(
      [...(params.healthProbes ?? []), ...(params.manifest?.probes ?? [])],
      { kind: 'plugin', pluginId: plugin.id, origin: 'the update request' },
    );
    await queue.assertCanQueue(plugin, 'update');
    await this.#o.breaker.assertAllows(plugin, 'update');
    const deployment = await this.createDeployment(plugin, params, userId);
    return this.queueDeploymentUpdate(deployment, {
      params: { ...params, ...(reason ? { reason } : {}) },
      userId,
      priority,
      idempotencyKey,
      timeoutMs,
    });
  }

  /**
   * Creates the `pending` deployment of an update, planned from its
   * strategy's settings (bad settings are a 400) before anything is
   * queued; a second active deployment of the plugin is a 409.
   */
  async createDeployment(
    plugin: PluginRecord,
    request: Pick<
      UpdateParams,
      'version' | 'deploymentStrategy' | 'deploymentConfig' | 'environment'
    >,
    userId?: string,
    stepState?: Record<string, unknown>,
    id: string = randomUUID(),
  ): Promise<DeploymentRecord> {
    if (!plugin.currentVersion) {
      throw new ConflictError(
        `Plugin '${plugin.id}' has no installed version to update from`,
      );
    }
    if (plugin.currentVersion === request.version) {
      throw new ConflictError(
        `Plugin '${plugin.id}' already runs ${request.version}`,
      );
    }
    // The new version's instances start with the plugin's configuration
    // environment; an update that names another would otherwise be
    // silently run in this one.
    const environment = plugin.environment ?? this.#o.config.defaultEnvironment;
    if (request.environment && request.environment !== environment) {
      throw new InputError(
        `environment: plugin '${plugin.id}' runs in environment '${environment}'; an update cannot move it to '${request.environment}'`,
      );
    }
    const strategy = request.deploymentStrategy ?? 'rolling';
    const deploymentConfig = request.deploymentConfig ?? {};
    const steps = planDeployment({
      strategy,
      config: deploymentConfig,
      replicas: plugin.replicas,
    }).map((step, index) => ({ ...step, index, status: 'pending' as const }));
    return this.#o.deployments.create({
      id,
      pluginId: plugin.id,
      tenant: plugin.tenant,
      strategy,
      fromVersion: plugin.currentVersion,
      toVersion: request.version,
      ...(request.environment ? { environment: request.environment } : {}),
      config: deploymentConfig,
      phase: 'pending',
      currentStep: 0,
      steps,
      traffic: { [plugin.currentVersion]: 100 },
      instances: {},
      analysis: [],
      approvals: [],
      operationId: randomUUID(),
      ...(userId ? { createdBy: userId } : {}),
      ...(stepState ? { stepState } : {}),
    });
  }

  /**
   * Queues the `update` operation that hands a `pending` deployment to the
   * controller (its id is the deployment's `operationId`); when it cannot
   * be queued the deployment is `failed` with the reason.
   */
  async queueDeploymentUpdate(
    deployment: DeploymentRecord,
    options: {
      params?: Partial<UpdateParams>;
      userId?: string;
      priority?: number;
      idempotencyKey?: string;
      timeoutMs?: number;
    } = {},
  ): Promise<OperationAccepted> {
    const { queue, deployments } = this.#o;
    try {
      return await queue.enqueueOne(
        queue.newOperation({
          id: deployment.operationId,
          pluginId: deployment.pluginId,
          tenant: deployment.tenant,
          type: 'update',
          actor: options.userId,
          priority: options.priority,
          idempotencyKey: options.idempotencyKey,
          timeoutMs: options.timeoutMs,
          params: {
            ...options.params,
            version: deployment.toVersion,
            deploymentId: deployment.id,
            deploymentStrategy: deployment.strategy,
            deploymentConfig: deployment.config,
            ...(deployment.environment
              ? { environment: deployment.environment }
              : {}),
          },
        }),
      );
    } catch (error) {
      await deployments
        .endPending(
          deployment.id,
          'failed',
          `its update could not be queued: ${error}`,
        )
        .catch(() => undefined);
      throw error;
    }
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
    const { queue } = this.#o;
    const { userId, scope = ALL_TENANTS, ...rest } = options;
    const parsed = updateRollbackRequestSchema.safeParse(rest);
    if (!parsed.success) {
      throw new InputError(
        `Invalid rollback request: ${validationMessage(parsed.error)}`,
      );
    }
    const { priority, idempotencyKey, timeoutMs, reason } = parsed.data;
    const plugin = await this.#o.lookup.get(pluginId, scope);
    const update = await this.#o.operations.getOperation(operationId, scope);
    if (update.pluginId !== plugin.id) {
      throw new NotFoundError(
        `No operation with id '${operationId}' for plugin '${plugin.id}'`,
      );
    }
    const replay = await queue.replay(
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
    // Updates that ran before deployments recorded their revisions have
    // none of these.
    const recorded = rollbackFieldsSchema.safeParse(update.result ?? {});
    const { fromVersion, toVersion, fromConfigRevision } = recorded.success
      ? recorded.data
      : ({} as z.infer<typeof rollbackFieldsSchema>);
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
    await queue.assertCanQueue(plugin, 'update');
    await this.#o.breaker.assertAllows(plugin, 'update');
    // The version being restored is reinstalled from what it was installed
    // from, not from the artifact of the version it replaces.
    const stored = await this.#o.plugins.getVersion(plugin.id, fromVersion);
    return queue.enqueueOne(
      queue.newOperation({
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
}
