import { ConflictError, NotFoundError } from '@backstage/errors';
import {
  Operation,
  OperationStatus,
  OperationType,
} from '@internal/plugin-lifecycle-common';
import { Knex } from 'knex';
import { fairOrder } from '../domain/orchestration';
import { fromJson, optional, toIso, toJson } from './mappers';

type OperationRow = {
  seq: number | string;
  id: string;
  plugin_id: string;
  tenant: string;
  type: string;
  status: string;
  priority: number;
  actor: string | null;
  params: string;
  attempts: number;
  max_attempts: number;
  timeout_ms: number;
  idempotency_key: string | null;
  batch_id: string | null;
  next_attempt_at: Date | string;
  lease_owner: string | null;
  lease_expires_at: Date | string | null;
  error: string | null;
  result: string | null;
  created_at: Date | string;
  started_at: Date | string | null;
  finished_at: Date | string | null;
};

/** An operation as the queue sees it. */
export interface QueuedOperation extends Operation {
  seq: number;
  priority: number;
  maxAttempts: number;
  timeoutMs: number;
  idempotencyKey?: string;
  batchId?: string;
  nextAttemptAt: string;
  leaseOwner?: string;
  leaseExpiresAt?: string;
  dependsOn: string[];
}

export interface NewOperation {
  id: string;
  pluginId: string;
  tenant: string;
  type: OperationType;
  actor?: string;
  params: Record<string, unknown>;
  priority?: number;
  maxAttempts?: number;
  timeoutMs: number;
  idempotencyKey?: string;
  batchId?: string;
  dependsOn?: string[];
}

const iso = (ms: number) => new Date(ms).toISOString();
const MAX_RECLAIMS = 3;

function rowToOperation(
  row: OperationRow,
  dependsOn: string[] = [],
): QueuedOperation {
  return {
    seq: Number(row.seq),
    id: row.id,
    pluginId: row.plugin_id,
    tenant: row.tenant,
    type: row.type as OperationType,
    status: row.status as OperationStatus,
    priority: Number(row.priority),
    actor: optional(row.actor),
    params: fromJson(row.params, {}),
    attempts: Number(row.attempts),
    maxAttempts: Number(row.max_attempts),
    timeoutMs: Number(row.timeout_ms),
    idempotencyKey: optional(row.idempotency_key),
    batchId: optional(row.batch_id),
    nextAttemptAt: toIso(row.next_attempt_at),
    leaseOwner: optional(row.lease_owner),
    leaseExpiresAt: toIso(row.lease_expires_at),
    error: optional(row.error),
    result: fromJson(row.result, undefined),
    createdAt: toIso(row.created_at),
    startedAt: toIso(row.started_at),
    finishedAt: toIso(row.finished_at),
    dependsOn,
  };
}

/**
 * The durable operation queue. Workers of every backend replica claim
 * operations with leases: in priority order with tenants taking turns, only
 * the oldest unfinished operation of a plugin, only once every operation it
 * depends on succeeded. PostgreSQL claims with FOR UPDATE SKIP LOCKED; SQLite
 * serialises writers, so a plain transaction is enough there.
 */
export class OperationStore {
  readonly #db: Knex;
  readonly #isPostgres: boolean;

  private constructor(db: Knex) {
    this.#db = db;
    this.#isPostgres = db.client.config.client === 'pg';
  }

  static create(options: { db: Knex }): OperationStore {
    return new OperationStore(options.db);
  }

  /**
   * Persists operations (a single one or a whole batch) in one transaction.
   * With an idempotency key already used by the tenant, returns the stored
   * operation instead of creating a second one (`created: false`).
   */
  async enqueue(
    operations: NewOperation[],
    now: number,
  ): Promise<{ operations: QueuedOperation[]; created: boolean }> {
    return this.#db.transaction(async tx => {
      const first = operations[0];
      if (first?.idempotencyKey) {
        const existing = await tx<OperationRow>('operations')
          .where({
            tenant: first.tenant,
            idempotency_key: first.idempotencyKey,
          })
          .first();
        if (existing) {
          const batch = existing.batch_id
            ? await tx<OperationRow>('operations')
                .where({ batch_id: existing.batch_id })
                .orderBy('seq')
            : [existing];
          return {
            operations: await this.#withDependencies(tx, batch),
            created: false,
          };
        }
      }
      for (const op of operations) {
        await tx<OperationRow>('operations').insert({
          id: op.id,
          plugin_id: op.pluginId,
          tenant: op.tenant,
          type: op.type,
          status: 'queued',
          priority: op.priority ?? 0,
          actor: op.actor ?? null,
          params: toJson(op.params),
          attempts: 0,
          max_attempts: op.maxAttempts ?? 1,
          timeout_ms: op.timeoutMs,
          idempotency_key: op === first ? op.idempotencyKey ?? null : null,
          batch_id: op.batchId ?? null,
          next_attempt_at: iso(now),
          created_at: iso(now),
        } as Partial<OperationRow>);
        if (op.dependsOn?.length) {
          await tx('operation_dependencies').insert(
            op.dependsOn.map(d => ({ operation_id: op.id, depends_on_id: d })),
          );
        }
      }
      const rows = await tx<OperationRow>('operations')
        .whereIn(
          'id',
          operations.map(o => o.id),
        )
        .orderBy('seq');
      return {
        operations: await this.#withDependencies(tx, rows),
        created: true,
      };
    });
  }

  async get(operationId: string): Promise<QueuedOperation> {
    const row = await this.#db<OperationRow>('operations')
      .where({ id: operationId })
      .first();
    if (!row) {
      throw new NotFoundError(`No operation with id '${operationId}'`);
    }
    const [operation] = await this.#withDependencies(this.#db, [row]);
    return operation;
  }

  /** A plugin's operations, newest first. */
  async listForPlugin(
    pluginId: string,
    options: { limit?: number } = {},
  ): Promise<QueuedOperation[]> {
    const rows = await this.#db<OperationRow>('operations')
      .where({ plugin_id: pluginId })
      .orderBy('seq', 'desc')
      .limit(options.limit ?? 50);
    return this.#withDependencies(this.#db, rows);
  }

  async listBatch(batchId: string): Promise<QueuedOperation[]> {
    const rows = await this.#db<OperationRow>('operations')
      .where({ batch_id: batchId })
      .orderBy('seq');
    return this.#withDependencies(this.#db, rows);
  }

  /**
   * The operations queued by the request that used this idempotency key:
   * its batch (the key's operation first) or its single operation.
   */
  async findByIdempotencyKey(
    tenant: string,
    idempotencyKey: string,
  ): Promise<QueuedOperation[] | undefined> {
    const row = await this.#db<OperationRow>('operations')
      .where({ tenant, idempotency_key: idempotencyKey })
      .first();
    if (!row) return undefined;
    if (!row.batch_id) return this.#withDependencies(this.#db, [row]);
    const batch = await this.listBatch(row.batch_id);
    return [
      ...batch.filter(o => o.id === row.id),
      ...batch.filter(o => o.id !== row.id),
    ];
  }

  /** Whether the plugin has an operation queued or running. */
  async hasUnfinished(pluginId: string): Promise<boolean> {
    const row = await this.#db('operations')
      .where({ plugin_id: pluginId })
      .whereIn('status', ['queued', 'running'])
      .first('id');
    return Boolean(row);
  }

  /**
   * Claims up to `limit` operations for `owner` until `now + leaseMs`.
   * Candidates: queued, due, the oldest unfinished operation of their plugin,
   * every dependency succeeded. Order: tenants take turns (rank within the
   * tenant by priority, then age), then priority, then age.
   */
  async claim(options: {
    owner: string;
    limit: number;
    leaseMs: number;
    now: number;
  }): Promise<QueuedOperation[]> {
    if (options.limit <= 0) return [];
    const now = iso(options.now);
    // Each tenant's best claimable operations, then the fair order across
    // tenants (the pure rule). Reading at most `limit` per tenant keeps a
    // claim cheap however long the queue is.
    const tenants: string[] = (
      await this.#db('operations').where('status', 'queued').distinct('tenant')
    ).map((r: { tenant: string }) => r.tenant);
    const perTenant = await Promise.all(
      tenants.map(tenant =>
        this.#db('operations as o')
          .select('o.seq', 'o.id', 'o.tenant', 'o.priority')
          .where('o.status', 'queued')
          .where('o.tenant', tenant)
          .where('o.next_attempt_at', '<=', now)
          // the oldest unfinished operation of its plugin (a scalar subquery:
          // the planner runs it per row on the plugin index, which stays fast
          // even when table statistics are stale, unlike an anti-join)
          .whereRaw(
            'o.seq = (select min(e.seq) from operations e where e.plugin_id = o.plugin_id and e.status in (?, ?))',
            ['queued', 'running'],
          )
          // whose dependencies all succeeded
          .whereNotExists(q =>
            q
              .select(this.#db.raw('1'))
              .from('operation_dependencies as d')
              .join('operations as p', 'p.id', 'd.depends_on_id')
              .whereRaw('d.operation_id = o.id')
              .whereNot('p.status', 'succeeded'),
          )
          .orderBy([
            { column: 'o.priority', order: 'desc' },
            { column: 'o.seq', order: 'asc' },
          ])
          .limit(options.limit),
      ),
    );
    const picked = fairOrder(
      perTenant
        .flat()
        .map(r => ({ ...r, seq: Number(r.seq), priority: Number(r.priority) })),
    ).slice(0, options.limit);
    if (picked.length === 0) return [];

    try {
      return await this.#db.transaction(async tx => {
        let query = tx('operations')
          .select('id')
          .whereIn(
            'id',
            picked.map(p => p.id),
          )
          .where('status', 'queued');
        if (this.#isPostgres) query = query.forUpdate().skipLocked();
        const ids = (await query).map((r: { id: string }) => r.id);
        if (ids.length === 0) return [];
        const rows: OperationRow[] = await tx('operations')
          .whereIn('id', ids)
          .update({
            status: 'running',
            lease_owner: options.owner,
            lease_expires_at: iso(options.now + options.leaseMs),
            attempts: tx.raw('attempts + 1'),
            started_at: now,
          })
          .returning('*');
        // In the order they were picked: that order is the claim's meaning.
        const rank = new Map(picked.map((p, i) => [p.id as string, i]));
        rows.sort((a, b) => rank.get(a.id)! - rank.get(b.id)!);
        // Dependencies are all met by now; workers do not need them listed.
        return rows.map(r => rowToOperation(r));
      });
    } catch (error) {
      // Another replica claimed an operation of the same plugin first (the
      // one-running-per-plugin index); the next poll tries again.
      if (isUniqueViolation(error)) return [];
      throw error;
    }
  }

  /** Extends the leases an owner holds; returns the ids it still holds. */
  async renewLeases(
    owner: string,
    ids: string[],
    until: number,
  ): Promise<string[]> {
    if (ids.length === 0) return [];
    await this.#db('operations')
      .whereIn('id', ids)
      .where({ lease_owner: owner, status: 'running' })
      .update({ lease_expires_at: iso(until) });
    const held = await this.#db('operations')
      .select('id')
      .whereIn('id', ids)
      .where({ lease_owner: owner, status: 'running' });
    return held.map((r: { id: string }) => r.id);
  }

  /**
   * Records how an attempt ended, if `owner` still holds the lease. A retry
   * puts the operation back in the queue, due at `retryAt`. Returns false
   * when the lease was lost (another replica took the operation over).
   */
  async finish(
    operationId: string,
    owner: string,
    outcome:
      | { status: 'succeeded'; result?: Record<string, unknown> }
      | { status: 'failed'; error: string }
      | { status: 'retry'; error: string; retryAt: number },
    now: number,
  ): Promise<boolean> {
    const update: Partial<OperationRow> =
      outcome.status === 'retry'
        ? {
            status: 'queued',
            error: outcome.error,
            next_attempt_at: iso(outcome.retryAt),
            lease_owner: null,
            lease_expires_at: null,
          }
        : {
            status: outcome.status,
            result:
              outcome.status === 'succeeded'
                ? toJson(outcome.result ?? {})
                : null,
            error: outcome.status === 'failed' ? outcome.error : null,
            finished_at: iso(now),
            lease_owner: null,
            lease_expires_at: null,
          };
    const count = await this.#db<OperationRow>('operations')
      .where({ id: operationId, lease_owner: owner, status: 'running' })
      .update(update);
    return count > 0;
  }

  /** Cancels a queued operation; a finished or running one is a conflict. */
  async cancel(
    operationId: string,
    reason: string,
    now: number,
  ): Promise<QueuedOperation> {
    const count = await this.#db<OperationRow>('operations')
      .where({ id: operationId, status: 'queued' })
      .update({ status: 'cancelled', error: reason, finished_at: iso(now) });
    const operation = await this.get(operationId);
    if (count === 0) {
      throw new ConflictError(
        `Operation '${operationId}' is ${operation.status}; only a queued operation can be cancelled`,
      );
    }
    return operation;
  }

  /**
   * Cancels every queued operation that waits, directly or not, on one that
   * will never succeed. Returns the ids it cancelled.
   */
  async cancelDependents(
    operationId: string,
    reason: string,
    now: number,
  ): Promise<string[]> {
    const cancelled: string[] = [];
    let frontier = [operationId];
    while (frontier.length > 0) {
      const dependents = await this.#db('operation_dependencies as d')
        .join('operations as o', 'o.id', 'd.operation_id')
        .whereIn('d.depends_on_id', frontier)
        .where('o.status', 'queued')
        .distinct('o.id');
      const ids = dependents.map((r: { id: string }) => r.id);
      if (ids.length === 0) break;
      await this.#db('operations')
        .whereIn('id', ids)
        .where('status', 'queued')
        .update({ status: 'cancelled', error: reason, finished_at: iso(now) });
      cancelled.push(...ids);
      frontier = ids;
    }
    return cancelled;
  }

  /**
   * Takes back operations whose lease expired (their replica died or hangs):
   * they go back to the queue to be resumed, or fail once out of attempts.
   */
  async reclaimExpired(
    now: number,
    options: { goneOwners?: string[] } = {},
  ): Promise<{ requeued: string[]; failed: string[] }> {
    const gone = options.goneOwners ?? [];
    const expired = await this.#db<OperationRow>('operations')
      .where('status', 'running')
      .where(q => {
        q.where('lease_expires_at', '<', iso(now));
        if (gone.length > 0) q.orWhereIn('lease_owner', gone);
      });
    const requeued: string[] = [];
    const failed: string[] = [];
    for (const row of expired) {
      const error = gone.includes(row.lease_owner ?? '')
        ? `replica ${row.lease_owner} went away during attempt ${row.attempts}`
        : `lease of ${row.lease_owner} expired during attempt ${row.attempts}`;
      // A lost lease is not the operation's fault, so it does not use up a
      // retry; but an operation that keeps killing replicas must stop.
      const outOfAttempts =
        Number(row.attempts) >= Number(row.max_attempts) + MAX_RECLAIMS;
      const count = await this.#db<OperationRow>('operations')
        .where({ id: row.id, status: 'running', lease_owner: row.lease_owner })
        .update(
          outOfAttempts
            ? {
                status: 'failed',
                error,
                finished_at: iso(now),
                lease_owner: null,
                lease_expires_at: null,
              }
            : {
                status: 'queued',
                error,
                next_attempt_at: iso(now),
                lease_owner: null,
                lease_expires_at: null,
              },
        );
      if (count > 0) (outOfAttempts ? failed : requeued).push(row.id);
    }
    return { requeued, failed };
  }

  /** The replicas holding leases now. */
  async leaseOwners(): Promise<string[]> {
    const rows = await this.#db('operations')
      .where('status', 'running')
      .distinct('lease_owner');
    return rows
      .map((r: { lease_owner: string }) => r.lease_owner)
      .filter(Boolean);
  }

  /** Counts by status, for metrics. */
  async countByStatus(): Promise<Record<string, number>> {
    const rows = await this.#db('operations')
      .select('status')
      .count({ n: '*' })
      .groupBy('status');
    return Object.fromEntries(rows.map((r: any) => [r.status, Number(r.n)]));
  }

  async #withDependencies(
    db: Knex,
    rows: OperationRow[],
  ): Promise<QueuedOperation[]> {
    if (rows.length === 0) return [];
    const deps = await db('operation_dependencies')
      .whereIn(
        'operation_id',
        rows.map(r => r.id),
      )
      .select('operation_id', 'depends_on_id');
    const byOp = new Map<string, string[]>();
    for (const d of deps) {
      byOp.set(d.operation_id, [
        ...(byOp.get(d.operation_id) ?? []),
        d.depends_on_id,
      ]);
    }
    return rows.map(r => rowToOperation(r, (byOp.get(r.id) ?? []).sort()));
  }
}

function isUniqueViolation(error: unknown): boolean {
  const e = error as { code?: string; message?: string };
  return (
    e?.code === '23505' || /UNIQUE constraint failed/.test(e?.message ?? '')
  );
}
