import { Knex } from 'knex';
import { Coalescer } from './Coalescer';
import { cancel, cancelDependents } from './operations/operations/cancel';
import { claim } from './operations/operations/claim';
import { enqueue } from './operations/operations/enqueue';
import {
  FinishOutcome,
  FinishRequest,
  finish,
  finishMany,
} from './operations/operations/finish';
import {
  leaseOwners,
  reclaimExpired,
  renewLeases,
} from './operations/operations/leases';
import {
  NewOperation,
  QueuedOperation,
} from './operations/operations/operationRows';
import {
  countByStatus,
  findByIdempotencyKey,
  getOperation,
  hasUnfinished,
  listBatch,
  listForPlugin,
  withUnfinished,
} from './operations/operations/readOperations';

export type { NewOperation, QueuedOperation };
// Shared with the other stores; exported from here as they always were.
export { Coalescer } from './Coalescer';
export { runNamed } from './runNamed';

/**
 * The durable operation queue. Workers of every backend replica claim
 * operations with leases: in priority order with tenants taking turns, only
 * the oldest unfinished operation of a plugin, only once every operation it
 * depends on succeeded. PostgreSQL claims with FOR UPDATE SKIP LOCKED; SQLite
 * serialises writers, so a plain transaction is enough there.
 */
export class OperationStore {
  readonly #db: Knex;
  /** On PostgreSQL, outcomes that come in together are written together. */
  readonly #finishes: Coalescer<FinishRequest, boolean>;

  private constructor(db: Knex) {
    this.#db = db;
    this.#finishes = new Coalescer({
      run: requests => finishMany(db, requests),
      key: r => r.operationId,
    });
  }

  static create(options: { db: Knex }): OperationStore {
    return new OperationStore(options.db);
  }

  /**
   * Persists operations (a single one or a whole batch) at once: all or none.
   * With an idempotency key already used by the tenant, returns the stored
   * operation instead of creating a second one (`created: false`).
   */
  enqueue(
    operations: NewOperation[],
    now: number,
  ): Promise<{ operations: QueuedOperation[]; created: boolean }> {
    return enqueue(this.#db, operations, now);
  }

  get(operationId: string): Promise<QueuedOperation> {
    return getOperation(this.#db, operationId);
  }

  /** A plugin's operations, newest first. */
  listForPlugin(
    pluginId: string,
    options: { limit?: number; beforeSeq?: number } = {},
  ): Promise<QueuedOperation[]> {
    return listForPlugin(this.#db, pluginId, options);
  }

  listBatch(batchId: string): Promise<QueuedOperation[]> {
    return listBatch(this.#db, batchId);
  }

  /**
   * The operations queued by the request that used this idempotency key:
   * its batch (the key's operation first) or its single operation.
   */
  findByIdempotencyKey(
    tenant: string,
    idempotencyKey: string,
  ): Promise<QueuedOperation[] | undefined> {
    return findByIdempotencyKey(this.#db, tenant, idempotencyKey);
  }

  /** Whether the plugin has an operation queued or running. */
  hasUnfinished(pluginId: string): Promise<boolean> {
    return hasUnfinished(this.#db, pluginId);
  }

  /**
   * Claims up to `limit` operations for `owner` until `now + leaseMs`.
   * Candidates: queued, due, the oldest unfinished operation of their plugin,
   * every dependency succeeded. Order: tenants take turns (rank within the
   * tenant by priority, then age), then priority, then age.
   */
  claim(options: {
    owner: string;
    limit: number;
    leaseMs: number;
    now: number;
  }): Promise<QueuedOperation[]> {
    return claim(this.#db, options);
  }

  /** Extends the leases an owner holds; returns the ids it still holds. */
  renewLeases(owner: string, ids: string[], until: number): Promise<string[]> {
    return renewLeases(this.#db, owner, ids, until);
  }

  /**
   * Records how an attempt ended, if `owner` still holds the lease. A retry
   * puts the operation back in the queue, due at `retryAt`. Returns false
   * when the lease was lost (another replica took the operation over).
   */
  finish(
    operationId: string,
    owner: string,
    outcome: FinishOutcome,
    now: number,
  ): Promise<boolean> {
    return finish(this.#db, this.#finishes, operationId, owner, outcome, now);
  }

  /** Cancels a queued operation; a finished or running one is a conflict. */
  cancel(
    operationId: string,
    reason: string,
    now: number,
  ): Promise<QueuedOperation> {
    return cancel(this.#db, operationId, reason, now);
  }

  /**
   * Cancels every queued operation that waits, directly or not, on one that
   * will never succeed. Returns the ids it cancelled.
   */
  cancelDependents(
    operationId: string,
    reason: string,
    now: number,
  ): Promise<string[]> {
    return cancelDependents(this.#db, operationId, reason, now);
  }

  /**
   * Takes back operations whose lease expired (their replica died or hangs):
   * they go back to the queue to be resumed, or fail once out of attempts.
   */
  reclaimExpired(
    now: number,
    options: { goneOwners?: string[] } = {},
  ): Promise<{ requeued: string[]; failed: string[] }> {
    return reclaimExpired(this.#db, now, options);
  }

  /**
   * Those of the plugins that have an operation queued or running, in one
   * query (what {@link OperationStore.hasUnfinished} tells for one plugin).
   */
  withUnfinished(pluginIds: string[]): Promise<Set<string>> {
    return withUnfinished(this.#db, pluginIds);
  }

  /** The replicas holding leases now. */
  leaseOwners(): Promise<string[]> {
    return leaseOwners(this.#db);
  }

  /** Counts by status, for metrics. */
  countByStatus(): Promise<Record<string, number>> {
    return countByStatus(this.#db);
  }
}
