import { randomUUID } from 'node:crypto';
import { ConflictError } from '@backstage/errors';
import {
  LIFECYCLE_ACTIONS,
  LifecycleAction,
  OperationAccepted,
  OperationParams,
  canPerformAction,
  describeLifecycleState,
} from '@internal/plugin-lifecycle-common';
import {
  NewOperation,
  OperationStore,
  QueuedOperation,
} from '../../database/OperationStore';
import { PluginRecord } from '../../database/PluginStore';
import { Orchestrator } from '../../engines/orchestrator/Orchestrator';

/** The parameters of an operation, checked against its type. */
export type TypedParams = {
  [T in LifecycleAction]: { type: T; params?: OperationParams<T> };
}[LifecycleAction];

/** What a command says about an operation it queues; the queue fills in the rest. */
export type OperationInput = TypedParams & {
  id?: string;
  pluginId: string;
  tenant: string;
  actor?: string;
  priority?: number;
  timeoutMs?: number;
  idempotencyKey?: string;
  batchId?: string;
  dependsOn?: string[];
};

/** Options of {@link OperationQueue.create}. */
export interface OperationQueueOptions {
  orchestrator: Pick<Orchestrator, 'enqueue'>;
  operations: OperationStore;
  /** pluginLifecycle.orchestrator.maxAttempts */
  maxAttempts: number;
  /** pluginLifecycle.orchestrator.defaultTimeout: an operation's timeout unless the request gives one. */
  defaultTimeoutMs: number;
}

/**
 * How every command queues operations: the defaults from app-config, the
 * answer a retried request (same idempotency key) gets, and the check that
 * an action may be queued at all.
 */
export class OperationQueue {
  readonly #o: OperationQueueOptions;

  static create(options: OperationQueueOptions): OperationQueue {
    return new OperationQueue(options);
  }

  private constructor(options: OperationQueueOptions) {
    this.#o = options;
  }

  /** The operation to store, with the configured attempts and timeout. */
  newOperation(input: OperationInput): NewOperation {
    return {
      ...input,
      id: input.id ?? randomUUID(),
      params: input.params ?? {},
      maxAttempts: this.#o.maxAttempts,
      timeoutMs: input.timeoutMs ?? this.#o.defaultTimeoutMs,
    };
  }

  /** Stores the operations (all or, when their key was used, none) and wakes the workers. */
  enqueue(operations: NewOperation[]) {
    return this.#o.orchestrator.enqueue(operations);
  }

  /** Queues one operation; a replayed answer when its idempotency key was used. */
  async enqueueOne(operation: NewOperation): Promise<OperationAccepted> {
    const stored = await this.#o.orchestrator.enqueue([operation]);
    return {
      ...accepted(stored.operations[0]),
      ...(stored.created ? {} : { replayed: true }),
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
  async replay(
    tenant: string,
    idempotencyKey: string | undefined,
    pluginId: string,
    type: LifecycleAction,
  ): Promise<OperationAccepted | undefined> {
    if (!idempotencyKey) return undefined;
    const earlier = await this.operationsForKey(tenant, idempotencyKey);
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
  operationsForKey(tenant: string, idempotencyKey: string) {
    return this.#o.operations.findByIdempotencyKey(tenant, idempotencyKey);
  }

  /**
   * An action may be queued when the plugin's state allows it now, or when
   * operations are already queued for the plugin (the state is checked again
   * when the action runs, after them).
   */
  async assertCanQueue(plugin: PluginRecord, action: LifecycleAction) {
    if (await this.#o.operations.hasUnfinished(plugin.id)) return;
    if (!canPerformAction(plugin.state, action)) {
      const allowed = LIFECYCLE_ACTIONS[action].from.join(', ');
      throw new ConflictError(
        `Cannot ${action} plugin '${plugin.id}': it is ${describeLifecycleState(
          plugin.state,
        )} (${action} is possible from ${allowed})`,
      );
    }
  }
}

/** The answer to a request that queued the operation. */
export function accepted(
  op: QueuedOperation,
): OperationAccepted & { dependsOn: string[] } {
  return {
    operationId: op.id,
    pluginId: op.pluginId,
    type: op.type,
    status: op.status,
    dependsOn: op.dependsOn,
    ...(op.type === 'update' && typeof op.params.deploymentId === 'string'
      ? { deploymentId: op.params.deploymentId }
      : {}),
  };
}
