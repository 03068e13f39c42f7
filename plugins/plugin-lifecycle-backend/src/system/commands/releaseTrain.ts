import { randomUUID } from 'node:crypto';
import { InputError } from '@backstage/errors';
import {
  BatchAccepted,
  ReleaseTrainRequest,
  TERMINAL_DEPLOYMENT_PHASES,
  releaseTrainRequestSchema,
  validationMessage,
} from '@internal/plugin-lifecycle-common';
import {
  DeploymentRecord,
  DeploymentStore,
} from '../../database/DeploymentStore';
import { planBatch } from '../../domain/orchestration';
import { ALL_TENANTS, TenantScope } from '../../domain/tenancy';
import { PluginBreaker } from './breaker';
import { InstallCommands } from './installCommands';
import { OperationQueue } from './operationQueue';
import { PluginLookup } from './pluginLookup';

/** What a deployment of a release train remembers (in `stepState.train`). */
export interface TrainMembership {
  batchId: string;
  /** The train's deployments in the order they run. */
  members: string[];
  index: number;
  /** Who started it, for the operations the train queues later. */
  userId?: string;
}

/** Options of {@link ReleaseTrain.create}. */
export interface ReleaseTrainOptions {
  deployments: DeploymentStore;
  lookup: PluginLookup;
  queue: OperationQueue;
  breaker: PluginBreaker;
  install: Pick<
    InstallCommands,
    'createDeployment' | 'queueDeploymentUpdate' | 'rollbackUpdate'
  >;
  logger: { info(message: string): void; warn(message: string): void };
}

/**
 * Updates of several plugins as one release: rolled out one after the
 * other in dependency order (dependencies first), each deployment starting
 * when the one before it succeeded. When one ends without success, the
 * ones the train already promoted are rolled back (their updates' rollback:
 * old version and its configuration) and the ones not started never start.
 */
export class ReleaseTrain {
  readonly #o: ReleaseTrainOptions;

  static create(options: ReleaseTrainOptions) {
    return new ReleaseTrain(options);
  }

  private constructor(options: ReleaseTrainOptions) {
    this.#o = options;
  }

  /** Plans and creates every deployment (all or none), then queues the first update. */
  async submit(
    body: unknown,
    options: { userId?: string; scope?: TenantScope } = {},
  ): Promise<BatchAccepted> {
    const parsed = releaseTrainRequestSchema.safeParse(body);
    if (!parsed.success) {
      throw new InputError(
        `Invalid release train: ${validationMessage(parsed.error)}`,
      );
    }
    const train: ReleaseTrainRequest = parsed.data;
    const scope = options.scope ?? ALL_TENANTS;
    const { lookup, queue, breaker, install, deployments } = this.#o;
    const plugins = new Map(
      await Promise.all(
        train.updates.map(
          async u => [u.pluginId, await lookup.get(u.pluginId, scope)] as const,
        ),
      ),
    );
    for (const plugin of plugins.values()) {
      await queue.assertCanQueue(plugin, 'update');
      await breaker.assertAllows(plugin, 'update');
    }
    const declared = await lookup.declaredDependencies(train.updates);
    const plan = planBatch(
      train.updates.map((u, i) => ({
        key: String(i),
        pluginId: u.pluginId,
        action: 'update' as const,
      })),
      pluginId => declared.get(pluginId) ?? [],
    );
    const ordered = plan.order.map(key => train.updates[Number(key)]);
    const batchId = randomUUID();
    const ids = ordered.map(() => randomUUID());
    const created: DeploymentRecord[] = [];
    try {
      for (const [index, update] of ordered.entries()) {
        const membership: TrainMembership = {
          batchId,
          members: ids,
          index,
          ...(options.userId ? { userId: options.userId } : {}),
        };
        created.push(
          await install.createDeployment(
            plugins.get(update.pluginId)!,
            update,
            options.userId,
            { train: membership },
            ids[index],
          ),
        );
      }
    } catch (error) {
      // All or none: what was created before the refusal never runs.
      for (const d of created) {
        await deployments
          .endPending(d.id, 'aborted', `release train refused: ${error}`)
          .catch(() => undefined);
      }
      throw error;
    }
    const first = await install.queueDeploymentUpdate(created[0], {
      params: ordered[0].reason ? { reason: ordered[0].reason } : {},
      userId: options.userId,
      priority: train.priority,
      idempotencyKey: train.idempotencyKey,
      timeoutMs: train.timeoutMs,
    });
    return {
      batchId,
      operations: [{ ...first, dependsOn: [] }],
      deployments: created.map(d => ({
        pluginId: d.pluginId,
        deploymentId: d.id,
      })),
    };
  }

  /**
   * Carries a train on when one of its deployments ended: the next one
   * starts after a success; after anything else the promoted ones are
   * rolled back (dependents first) and the rest never start.
   */
  async onDeploymentEnded(d: DeploymentRecord): Promise<void> {
    const train = d.stepState.train as TrainMembership | undefined;
    if (!train || !TERMINAL_DEPLOYMENT_PHASES.includes(d.phase)) return;
    const { deployments, install, logger } = this.#o;
    if (d.phase === 'succeeded') {
      const nextId = train.members[train.index + 1];
      if (!nextId) {
        logger.info(
          `release train ${train.batchId}: every deployment succeeded`,
        );
        return;
      }
      const next = await deployments.get(nextId);
      if (next?.phase === 'pending') {
        await install
          .queueDeploymentUpdate(next, { userId: train.userId })
          .catch(e =>
            logger.warn(
              `release train ${train.batchId}: queueing ${next.pluginId}: ${e}`,
            ),
          );
      }
      return;
    }
    const reason = `release train ${train.batchId}: ${d.pluginId} ${d.toVersion} ${d.phase}`;
    for (const id of train.members.slice(train.index + 1)) {
      await deployments
        .endPending(id, 'aborted', `${reason}; not started`)
        .catch(e => logger.warn(`${reason}: stopping ${id}: ${e}`));
    }
    for (const id of train.members.slice(0, train.index).reverse()) {
      const promoted = await deployments.get(id);
      if (promoted?.phase !== 'succeeded' || !promoted.operationId) continue;
      await install
        .rollbackUpdate(promoted.pluginId, promoted.operationId, {
          userId: train.userId,
          reason,
        })
        .then(op =>
          logger.info(
            `${reason}: rolling back ${promoted.pluginId} (operation ${op.operationId})`,
          ),
        )
        .catch(e =>
          logger.warn(`${reason}: rolling back ${promoted.pluginId}: ${e}`),
        );
    }
  }
}
