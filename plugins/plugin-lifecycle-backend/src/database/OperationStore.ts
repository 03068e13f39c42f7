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
/** Plugin ids per lookup of {@link OperationStore.withUnfinished}. */
const LOOKUP_CHUNK = 1000;

/** The columns of {@link OperationRow}, for statements that list them. */
const OPERATION_COLUMNS = [
  'seq',
  'id',
  'plugin_id',
  'tenant',
  'type',
  'status',
  'priority',
  'actor',
  'params',
  'attempts',
  'max_attempts',
  'timeout_ms',
  'idempotency_key',
  'batch_id',
  'next_attempt_at',
  'lease_owner',
  'lease_expires_at',
  'error',
  'result',
  'created_at',
  'started_at',
  'finished_at',
];

const unnamedOnly = new WeakSet<Knex>();

/**
 * Runs one of the hot statements on PostgreSQL as a named (prepared)
 * statement: each connection parses and plans it once instead of on every
 * call. Such a statement must always have the same text, and lists its
 * columns (a `*` would break it when a migration adds one). A server that
 * refuses named statements (a transaction pooler that does not keep them)
 * gets unnamed ones from then on; nothing ran, so running again is safe.
 */
export async function runNamed(
  db: Knex,
  name: string,
  sql: string,
  bindings: readonly Knex.RawBinding[],
): Promise<{ rows: any[] }> {
  if (!unnamedOnly.has(db)) {
    try {
      return await db.raw(sql, bindings).options({ name });
    } catch (error) {
      const code = (error as { code?: string }).code;
      // invalid_sql_statement_name, duplicate_prepared_statement,
      // feature_not_supported ("cached plan must not change result type")
      if (!['26000', '42P05', '0A000'].includes(code ?? '')) throw error;
      unnamedOnly.add(db);
    }
  }
  return db.raw(sql, bindings);
}

type Pending<I, O> = {
  item: I;
  resolve: (value: O) => void;
  reject: (error: unknown) => void;
};

/**
 * Group commit for single statements: requests made while statements are on
 * their way go out together as one statement (one round trip, one commit)
 * once one of them is back; a request made when fewer than `maxInFlight`
 * are on their way goes out at the end of the current event loop turn, with
 * whatever else that turn asked for. So an idle backend adds no delay, and a
 * busy one pays for one round trip per group instead of one per request.
 *
 * Two requests with the same key never go out at the same time (they may
 * depend on each other). A statement the server refuses for a group is
 * retried request by request, so that one bad request fails alone (the
 * statements are single, atomic ones: a refused one changed nothing).
 */
export class Coalescer<I, O> {
  readonly #run: (items: I[]) => Promise<O[]>;
  readonly #key?: (item: I) => string;
  readonly #maxBatch: number;
  readonly #maxInFlight: number;
  #pending: Array<Pending<I, O>> = [];
  #inFlight = 0;
  readonly #inFlightKeys = new Set<string>();
  #scheduled = false;

  constructor(options: {
    run: (items: I[]) => Promise<O[]>;
    /** Requests with the same key go out one after the other. */
    key?: (item: I) => string;
    maxBatch?: number;
    maxInFlight?: number;
  }) {
    this.#run = options.run;
    this.#key = options.key;
    this.#maxBatch = options.maxBatch ?? 200;
    this.#maxInFlight = options.maxInFlight ?? 2;
  }

  submit(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.#pending.push({ item, resolve, reject });
      this.#schedule();
    });
  }

  #schedule() {
    if (
      this.#scheduled ||
      this.#inFlight >= this.#maxInFlight ||
      this.#pending.length === 0
    ) {
      return;
    }
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      this.#flush();
    });
  }

  #flush() {
    if (this.#inFlight >= this.#maxInFlight) return;
    const batch: Array<Pending<I, O>> = [];
    const rest: Array<Pending<I, O>> = [];
    const keys = new Set<string>();
    for (const entry of this.#pending) {
      const key = this.#key?.(entry.item);
      if (
        batch.length >= this.#maxBatch ||
        (key !== undefined && (keys.has(key) || this.#inFlightKeys.has(key)))
      ) {
        rest.push(entry);
      } else {
        if (key !== undefined) keys.add(key);
        batch.push(entry);
      }
    }
    this.#pending = rest;
    if (batch.length === 0) return; // all wait for a request with their key
    this.#inFlight += 1;
    for (const key of keys) this.#inFlightKeys.add(key);
    this.#execute(batch).finally(() => {
      this.#inFlight -= 1;
      for (const key of keys) this.#inFlightKeys.delete(key);
      this.#schedule();
    });
  }

  async #execute(batch: Array<Pending<I, O>>) {
    try {
      const results = await this.#run(batch.map(e => e.item));
      batch.forEach((e, i) => e.resolve(results[i]));
    } catch (error) {
      if (batch.length === 1 || !isStatementError(error)) {
        // Alone, or the connection failed and nobody knows whether the
        // statement ran: every request gets the error, as it would alone.
        for (const e of batch) e.reject(error);
        return;
      }
      // The server refused the statement, and it is atomic: nothing of it
      // happened. Alone, each request gets its own answer.
      for (const e of batch) {
        try {
          e.resolve((await this.#run([e.item]))[0]);
        } catch (e2) {
          e.reject(e2);
        }
      }
    }
  }
}

type FinishOutcome =
  | { status: 'succeeded'; result?: Record<string, unknown> }
  | { status: 'failed'; error: string }
  | { status: 'retry'; error: string; retryAt: number };

type FinishRequest = {
  operationId: string;
  owner: string;
  outcome: FinishOutcome;
  now: number;
};

/**
 * PostgreSQL: claims in one statement. Candidates: for each tenant and
 * priority with queued operations, the oldest claimable ones (due, the
 * oldest unfinished operation of their plugin, every dependency succeeded),
 * at most `limit`, read in seq order on the claim index and no further. They
 * are ranked as {@link fairOrder} ranks them, and the first `limit` are
 * locked (skipping those another replica is claiming) and leased.
 *
 * The statement reads no more of the queue than it claims, however long the
 * queue and however stale the table's statistics (a new or busy queue is
 * rarely analysed; plans that are right for the rows the statistics
 * describe must not turn into scans of the whole queue):
 * - the (tenant, priority) lanes come from a skip scan of the claim index
 *   (one index probe per lane, not a read of every queued row);
 * - `o.seq <= (oldest unfinished of the plugin)` means `=` (the operation is
 *   unfinished itself) but lets the planner expect that most rows pass, so
 *   it prices a claim by the rows it reads before its LIMIT rather than by
 *   the whole queue (which, on a long queue, would also turn JIT on);
 * - the picked rows are locked by id alone (`= ANY(ARRAY(...))`: index
 *   probes), not looked for again among all the queued ones. Locking gives
 *   the row as it is now (another replica may have claimed it since this
 *   statement's snapshot), and only those still queued are leased.
 */
const PG_CLAIM = `
WITH RECURSIVE lanes AS (
  (SELECT tenant, priority FROM operations
   WHERE status = 'queued'
   ORDER BY status, tenant, priority LIMIT 1)
  UNION ALL
  SELECT n.tenant, n.priority FROM lanes l
  CROSS JOIN LATERAL (
    SELECT tenant, priority FROM operations
    WHERE status = 'queued' AND (tenant, priority) > (l.tenant, l.priority)
    ORDER BY status, tenant, priority LIMIT 1
  ) n
),
candidates AS (
  SELECT c.id, c.seq, c.priority,
         row_number() OVER (PARTITION BY c.tenant ORDER BY c.priority DESC, c.seq ASC) AS tenant_rank
  FROM lanes l
  CROSS JOIN LATERAL (
    SELECT o.id, o.seq, o.tenant, o.priority
    FROM operations o
    WHERE o.status = 'queued'
      AND o.tenant = l.tenant
      AND o.priority = l.priority
      AND o.next_attempt_at <= ?
      AND o.seq <= (SELECT min(e.seq) FROM operations e
                    WHERE e.plugin_id = o.plugin_id AND e.status IN ('queued', 'running'))
      AND NOT EXISTS (SELECT 1 FROM operation_dependencies d
                      JOIN operations p ON p.id = d.depends_on_id
                      WHERE d.operation_id = o.id AND p.status <> 'succeeded')
    ORDER BY o.seq ASC
    LIMIT ?
  ) c
),
picked AS (
  SELECT id, row_number() OVER (ORDER BY tenant_rank, priority DESC, seq) AS pick_order
  FROM candidates
  ORDER BY pick_order
  LIMIT ?
),
locked AS (
  SELECT o.id, o.status FROM operations o
  WHERE o.id = ANY(ARRAY(SELECT id FROM picked))
  FOR UPDATE SKIP LOCKED
)
UPDATE operations o
SET status = 'running', lease_owner = ?, lease_expires_at = ?,
    attempts = o.attempts + 1, started_at = ?
FROM locked JOIN picked ON picked.id = locked.id
WHERE o.id = locked.id AND locked.status = 'queued'
RETURNING ${OPERATION_COLUMNS.map(c => `o.${c}`).join(
  ', ',
)}, picked.pick_order`;

/**
 * PostgreSQL: new operations (in `ord` order, so their seq follows the order
 * given) and their dependencies in one statement, whatever their number:
 * each list is one JSON parameter.
 */
const PG_ENQUEUE = `
WITH v AS (
  SELECT * FROM json_to_recordset(?::json) AS x(
    ord int, id text, plugin_id text, tenant text, type text, status text,
    priority int, actor text, params text, attempts int, max_attempts int,
    timeout_ms int, idempotency_key text, batch_id text,
    next_attempt_at timestamptz, created_at timestamptz)
),
inserted AS (
  INSERT INTO operations (id, plugin_id, tenant, type, status, priority, actor,
    params, attempts, max_attempts, timeout_ms, idempotency_key, batch_id,
    next_attempt_at, created_at)
  SELECT id, plugin_id, tenant, type, status, priority, actor, params,
    attempts, max_attempts, timeout_ms, idempotency_key, batch_id,
    next_attempt_at, created_at
  FROM v ORDER BY ord
  RETURNING seq, id
),
dependencies AS (
  INSERT INTO operation_dependencies (operation_id, depends_on_id)
  SELECT operation_id, depends_on_id
  FROM json_to_recordset(?::json) AS d(operation_id text, depends_on_id text)
)
SELECT seq, id FROM inserted`;

/**
 * PostgreSQL: records the outcomes of several attempts in one statement,
 * each only if its owner still holds the lease (see {@link OperationStore.finish}).
 */
const PG_FINISH = `
UPDATE operations o
SET status = v.status,
    result = CASE WHEN v.status = 'queued' THEN o.result ELSE v.result END,
    error = v.error,
    finished_at = CASE WHEN v.status = 'queued' THEN o.finished_at ELSE v.finished_at END,
    next_attempt_at = CASE WHEN v.status = 'queued' THEN v.next_attempt_at ELSE o.next_attempt_at END,
    lease_owner = NULL,
    lease_expires_at = NULL
FROM json_to_recordset(?::json) AS v(id text, owner text, status text, result text, error text,
                                    finished_at timestamptz, next_attempt_at timestamptz)
WHERE o.id = v.id AND o.lease_owner = v.owner AND o.status = 'running'
RETURNING o.id`;

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
  readonly #finishes: Coalescer<FinishRequest, boolean>;

  private constructor(db: Knex) {
    this.#db = db;
    this.#isPostgres = db.client.config.client === 'pg';
    this.#finishes = new Coalescer({
      run: requests => this.#finishMany(requests),
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
  async enqueue(
    operations: NewOperation[],
    now: number,
  ): Promise<{ operations: QueuedOperation[]; created: boolean }> {
    const first = operations[0];
    const rows = operations.map(
      op =>
        ({
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
        } as Partial<OperationRow>),
    );
    const dependencies = operations.flatMap(op =>
      (op.dependsOn ?? []).map(d => ({
        operation_id: op.id,
        depends_on_id: d,
      })),
    );
    // The dependencies are the ones just written.
    const dependsOn = new Map(
      operations.map(op => [op.id, [...(op.dependsOn ?? [])].sort()]),
    );
    if (this.#isPostgres && !first?.idempotencyKey) {
      // One statement, atomic on its own: no transaction to open and close.
      return {
        operations: await this.#insertPg(rows, dependencies, dependsOn),
        created: true,
      };
    }
    return this.#db.transaction(async tx => {
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
      if (this.#isPostgres) {
        return {
          operations: await this.#insertPg(rows, dependencies, dependsOn, tx),
          created: true,
        };
      }
      // SQLite runs in this process: a statement costs no round trip.
      for (const row of rows) {
        await tx<OperationRow>('operations').insert(row);
      }
      for (const dependency of dependencies) {
        await tx('operation_dependencies').insert(dependency);
      }
      const stored: OperationRow[] = await tx<OperationRow>('operations')
        .whereIn(
          'id',
          operations.map(o => o.id),
        )
        .orderBy('seq');
      return {
        operations: stored.map(r => rowToOperation(r, dependsOn.get(r.id))),
        created: true,
      };
    });
  }

  /**
   * PostgreSQL: new operations and their dependencies in one statement
   * (each of them a JSON parameter, whatever their number); the rows get
   * their seq in the order given.
   */
  async #insertPg(
    rows: Array<Partial<OperationRow>>,
    dependencies: Array<{ operation_id: string; depends_on_id: string }>,
    dependsOn: Map<string, string[]>,
    tx?: Knex.Transaction,
  ): Promise<QueuedOperation[]> {
    const bindings = [
      JSON.stringify(rows.map((r, ord) => ({ ord, ...r }))),
      JSON.stringify(dependencies),
    ];
    // In a transaction, unnamed: a refused named statement (see runNamed)
    // would abort the transaction, leaving nothing to run it again in.
    const { rows: inserted } = tx
      ? await tx.raw(PG_ENQUEUE, bindings)
      : await runNamed(this.#db, 'plt_enqueue', PG_ENQUEUE, bindings);
    const seqs = new Map<string, number>(
      inserted.map((r: { id: string; seq: string | number }) => [
        r.id,
        Number(r.seq),
      ]),
    );
    return rows
      .map(r =>
        rowToOperation(
          {
            ...(r as OperationRow),
            seq: seqs.get(r.id!)!,
            lease_owner: null,
            lease_expires_at: null,
            error: null,
            result: null,
            started_at: null,
            finished_at: null,
          },
          dependsOn.get(r.id!),
        ),
      )
      .sort((a, b) => a.seq - b.seq);
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
    options: { limit?: number; beforeSeq?: number } = {},
  ): Promise<QueuedOperation[]> {
    const query = this.#db<OperationRow>('operations')
      .where({ plugin_id: pluginId })
      .orderBy('seq', 'desc')
      .limit(options.limit ?? 50);
    if (options.beforeSeq !== undefined) {
      query.where('seq', '<', options.beforeSeq);
    }
    const rows = await query;
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
    if (this.#isPostgres) {
      try {
        const { rows } = await runNamed(this.#db, 'plt_claim', PG_CLAIM, [
          now,
          options.limit,
          options.limit,
          options.owner,
          iso(options.now + options.leaseMs),
          now,
        ]);
        // In the order they were picked: that order is the claim's meaning.
        return (rows as Array<OperationRow & { pick_order: string }>)
          .sort((a, b) => Number(a.pick_order) - Number(b.pick_order))
          .map(r => rowToOperation(r));
      } catch (error) {
        // As below: another replica claimed an operation of the same plugin.
        if (isUniqueViolation(error)) return [];
        throw error;
      }
    }
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
    if (this.#isPostgres) {
      const { rows } = await runNamed(
        this.#db,
        'plt_renew_leases',
        `UPDATE operations SET lease_expires_at = ?
         WHERE id = ANY(?::text[]) AND lease_owner = ? AND status = 'running'
         RETURNING id`,
        [iso(until), ids, owner],
      );
      return rows.map((r: { id: string }) => r.id);
    }
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
    outcome: FinishOutcome,
    now: number,
  ): Promise<boolean> {
    if (this.#isPostgres) {
      // Outcomes that come in together are written together.
      return this.#finishes.submit({ operationId, owner, outcome, now });
    }
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

  /** PostgreSQL: {@link OperationStore.finish} for several attempts, one statement. */
  async #finishMany(requests: FinishRequest[]): Promise<boolean[]> {
    // In id order: two statements that lock some of the same operations
    // then rarely take them in opposite orders (a deadlock, which PostgreSQL
    // breaks by failing one of them; that one is then retried request by
    // request).
    const input = [...requests]
      .sort((a, b) => (a.operationId < b.operationId ? -1 : 1))
      .map(({ operationId, owner, outcome, now }) =>
        outcome.status === 'retry'
          ? {
              id: operationId,
              owner,
              status: 'queued',
              error: outcome.error,
              next_attempt_at: iso(outcome.retryAt),
            }
          : {
              id: operationId,
              owner,
              status: outcome.status,
              result:
                outcome.status === 'succeeded'
                  ? toJson(outcome.result ?? {})
                  : null,
              error: outcome.status === 'failed' ? outcome.error : null,
              finished_at: iso(now),
            },
      );
    const { rows } = await runNamed(this.#db, 'plt_finish', PG_FINISH, [
      JSON.stringify(input),
    ]);
    const finished = new Set(rows.map((r: { id: string }) => r.id));
    return requests.map(r => finished.has(r.operationId));
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

  /**
   * Those of the plugins that have an operation queued or running, in one
   * query (what {@link OperationStore.hasUnfinished} tells for one plugin).
   */
  async withUnfinished(pluginIds: string[]): Promise<Set<string>> {
    const found = new Set<string>();
    for (let i = 0; i < pluginIds.length; i += LOOKUP_CHUNK) {
      const rows = await this.#db('operations')
        .whereIn('plugin_id', pluginIds.slice(i, i + LOOKUP_CHUNK))
        .whereIn('status', ['queued', 'running'])
        .distinct('plugin_id');
      for (const r of rows) found.add(r.plugin_id);
    }
    return found;
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

/**
 * An error the database server gave for a statement (a SQLSTATE, not one of
 * connection exceptions): the statement did not happen.
 */
function isStatementError(error: unknown): boolean {
  const code = (error as { code?: unknown })?.code;
  return (
    typeof code === 'string' &&
    /^[0-9A-Z]{5}$/.test(code) &&
    !code.startsWith('08')
  );
}

function isUniqueViolation(error: unknown): boolean {
  const e = error as { code?: string; message?: string };
  return (
    e?.code === '23505' || /UNIQUE constraint failed/.test(e?.message ?? '')
  );
}
