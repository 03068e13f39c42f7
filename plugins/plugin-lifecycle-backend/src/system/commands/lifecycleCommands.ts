import {
  ConflictError,
  InputError,
  NotAllowedError,
  NotFoundError,
} from '@backstage/errors';
import {
  LifecycleCommand,
  OperationAccepted,
  actionRequestSchema,
  validationMessage,
} from '@internal/plugin-lifecycle-common';
import { InstanceStore } from '../../database/InstanceStore';
import { PluginRecord, PluginStore } from '../../database/PluginStore';
import { LifecycleStateMachine } from '../../engines/lifecycle/LifecycleStateMachine';
import { ALL_TENANTS, TenantScope } from '../../domain/tenancy';
import { Tenancy } from '../../engines/tenancy/Tenancy';
import { BatchCommands } from './batchCommands';
import { PluginBreaker } from './breaker';
import { ActionOptions } from './installCommands';
import { OperationQueue } from './operationQueue';
import { PluginLookup } from './pluginLookup';

/** Options of {@link LifecycleCommands.create}. */
export interface LifecycleCommandsOptions {
  plugins: PluginStore;
  instances: InstanceStore;
  stateMachine: LifecycleStateMachine;
  tenancy: Tenancy;
  lookup: PluginLookup;
  queue: OperationQueue;
  breaker: PluginBreaker;
  /** A cascading stop or uninstall is a batch: dependents first. */
  batch: BatchCommands;
}

/**
 * Start, stop, restart and uninstall of an installed plugin, maintenance on
 * and off, a re-applied configuration, and putting a plugin in error.
 */
export class LifecycleCommands {
  readonly #o: LifecycleCommandsOptions;

  static create(options: LifecycleCommandsOptions): LifecycleCommands {
    return new LifecycleCommands(options);
  }

  private constructor(options: LifecycleCommandsOptions) {
    this.#o = options;
  }

  startPlugin(pluginId: string, options: ActionOptions = {}) {
    return this.#command(pluginId, 'start', options);
  }

  stopPlugin(pluginId: string, options: ActionOptions = {}) {
    return this.#command(pluginId, 'stop', options);
  }

  /** Restarts every instance, or (with `instanceId`) replaces the one instance. */
  restartPlugin(pluginId: string, options: ActionOptions = {}) {
    return this.#command(pluginId, 'restart', options);
  }

  uninstallPlugin(pluginId: string, options: ActionOptions = {}) {
    return this.#command(pluginId, 'uninstall', options);
  }

  /**
   * Queues `maintenance-on`: the plugin's instances keep running out of
   * rotation, and no automation (crash restarts, health remediation,
   * auto-recovery, configuration applies) acts on it.
   */
  enterMaintenance(pluginId: string, options: ActionOptions = {}) {
    return this.#command(pluginId, 'maintenance-on', options);
  }

  /** Queues `maintenance-off`: back in rotation (running) or installed. */
  exitMaintenance(pluginId: string, options: ActionOptions = {}) {
    return this.#command(pluginId, 'maintenance-off', options);
  }

  /**
   * Queues a `configure` that re-applies the effective configuration to the
   * running instances; they restart (or reload) only when a value changed.
   */
  configurePlugin(pluginId: string, options: ActionOptions = {}) {
    return this.#command(pluginId, 'configure', options);
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
    const plugin = await this.#o.plugins.get(pluginId);
    if (plugin?.state !== 'running') return false;
    try {
      await this.#o.stateMachine.transition(plugin, 'error', {
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

  async #command(
    pluginId: string,
    action: LifecycleCommand,
    options: ActionOptions,
  ) {
    const { queue } = this.#o;
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

    const plugin = await this.#o.lookup.get(pluginId, scope);
    if (instanceId !== undefined) {
      const instance = await this.#o.instances.get(instanceId);
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
    const replay = await queue.replay(
      plugin.tenant,
      idempotencyKey,
      plugin.id,
      action,
    );
    if (replay) return replay;
    await queue.assertCanQueue(plugin, action);
    await this.#o.breaker.assertAllows(plugin, action);
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
      const quota = await this.#o.tenancy.checkQuota(
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
    return queue.enqueueOne(
      queue.newOperation({
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
    const view = await this.#o.lookup.dependencyView();
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
    const batch = await this.#o.batch.submitBatch(
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
}
