import { randomUUID } from 'node:crypto';
import { InputError, NotAllowedError, NotFoundError } from '@backstage/errors';
import {
  BatchAccepted,
  BatchRequest,
  LifecycleAction,
  batchRequestSchema,
  validationMessage,
} from '@internal/plugin-lifecycle-common';
import { PluginLifecycleConfig } from '../../config';
import { NewOperation, QueuedOperation } from '../../database/OperationStore';
import { PluginStore } from '../../database/PluginStore';
import { planBatch } from '../../domain/orchestration';
import { ALL_TENANTS, inTenantScope, TenantScope } from '../../domain/tenancy';
import { Tenancy } from '../../engines/tenancy/Tenancy';
import { InstallRequests } from './installRequests';
import { OperationQueue, accepted } from './operationQueue';
import { PluginLookup } from './pluginLookup';
import type { ReleaseTrain } from './releaseTrain';

/** Options of {@link BatchCommands.create}. */
export interface BatchCommandsOptions {
  config: PluginLifecycleConfig;
  plugins: PluginStore;
  tenancy: Tenancy;
  lookup: PluginLookup;
  queue: OperationQueue;
  requests: InstallRequests;
  /** Batches of updates (release trains). */
  train?: ReleaseTrain;
}

/** Several operations over several plugins, queued in the order their dependencies give. */
export class BatchCommands {
  readonly #o: BatchCommandsOptions;

  static create(options: BatchCommandsOptions): BatchCommands {
    return new BatchCommands(options);
  }

  private constructor(options: BatchCommandsOptions) {
    this.#o = options;
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
    const { config, tenancy, queue, requests } = this.#o;
    if (
      this.#o.train &&
      typeof body === 'object' &&
      body !== null &&
      'updates' in body
    ) {
      return this.#o.train.submit(body, options);
    }
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
    const plugins = await this.#o.plugins.getMany(items.map(i => i.pluginId));
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
        requests.validate(item.pluginId, item.install!);
        if (!plugin && !creating.has(item.pluginId)) {
          creating.set(item.pluginId, {
            tenant: tenancy.tenantForNewPlugin(scope, item.install!.tenant),
            install: item.install!,
          });
        }
      }
    }
    const tenantOf = (pluginId: string) =>
      plugins.get(pluginId)?.tenant ?? creating.get(pluginId)!.tenant;
    const declared = await this.#o.lookup.declaredDependencies(items);
    const plan = planBatch(
      items.map(i => ({ key: i.key, pluginId: i.pluginId, action: i.action })),
      pluginId => declared.get(pluginId) ?? [],
    );
    // The key is kept on the first operation to run (see below).
    if (batch.idempotencyKey) {
      const first = items[Number(plan.order[0])];
      const earlier = await queue.operationsForKey(
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
      const quota = await tenancy.checkQuota(tenant, {
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
    const created = await this.#o.plugins.createMany(
      [...creating].map(([id, { tenant, install }]) => ({
        id,
        tenant,
        runtime: requests.runtimeFor(id, install),
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
        await requests.writeConfiguration(
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
        queue.newOperation({
          id: ids.get(key)!,
          pluginId: item.pluginId,
          tenant: plugin.tenant,
          actor: options.userId,
          priority: batch.priority,
          timeoutMs: batch.timeoutMs,
          idempotencyKey:
            operations.length === 0 ? batch.idempotencyKey : undefined,
          batchId,
          dependsOn: plan.dependsOn[key].map(k => ids.get(k)!),
          ...(item.action === 'install'
            ? {
                type: item.action,
                params: {
                  ...installParams,
                  // The batch schema requires "install" of an install.
                  version: item.install!.version,
                  environment:
                    item.install?.environment ?? config.defaultEnvironment,
                },
              }
            : {
                type: item.action,
                params: {
                  ...(item.reason ? { reason: item.reason } : {}),
                  cascade: true,
                },
              }),
        }),
      );
    }
    const stored = await queue.enqueue(operations);
    if (!stored.created) return batchReplay(stored.operations, items);
    const byId = new Map(stored.operations.map(o => [o.id, o]));
    return {
      batchId,
      operations: items.map(i => accepted(byId.get(ids.get(i.key)!)!)),
    };
  }
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
