import { Knex } from 'knex';
import { toJson } from '../../mappers';
import { runNamed } from '../../runNamed';
import { isPostgres } from '../../dialect';
import {
  NewOperation,
  OperationRow,
  QueuedOperation,
  iso,
  rowToOperation,
  withDependencies,
} from './operationRows';

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
 * Persists operations (a single one or a whole batch) at once: all or none.
 * With an idempotency key already used by the tenant, returns the stored
 * operation instead of creating a second one (`created: false`).
 */
export async function enqueue(
  db: Knex,
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
  if (isPostgres(db) && !first?.idempotencyKey) {
    // One statement, atomic on its own: no transaction to open and close.
    return {
      operations: await insertPg(db, rows, dependencies, dependsOn),
      created: true,
    };
  }
  return db.transaction(async tx => {
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
          operations: await withDependencies(tx, batch),
          created: false,
        };
      }
    }
    if (isPostgres(db)) {
      return {
        operations: await insertPg(db, rows, dependencies, dependsOn, tx),
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
async function insertPg(
  db: Knex,
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
    : await runNamed(db, 'plt_enqueue', PG_ENQUEUE, bindings);
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
