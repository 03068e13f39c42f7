import { Knex } from 'knex';
import { NotFoundError } from '@backstage/errors';
import {
  OperationRow,
  QueuedOperation,
  withDependencies,
} from './operationRows';

/** Plugin ids per lookup of {@link withUnfinished}. */
const LOOKUP_CHUNK = 1000;

/** An operation with its dependencies; a NotFoundError if there is none. */
export async function getOperation(
  db: Knex,
  operationId: string,
): Promise<QueuedOperation> {
  const row = await db<OperationRow>('operations')
    .where({ id: operationId })
    .first();
  if (!row) {
    throw new NotFoundError(`No operation with id '${operationId}'`);
  }
  const [operation] = await withDependencies(db, [row]);
  return operation;
}

/** A plugin's operations, newest first. */
export async function listForPlugin(
  db: Knex,
  pluginId: string,
  options: { limit?: number; beforeSeq?: number } = {},
): Promise<QueuedOperation[]> {
  const query = db<OperationRow>('operations')
    .where({ plugin_id: pluginId })
    .orderBy('seq', 'desc')
    .limit(options.limit ?? 50);
  if (options.beforeSeq !== undefined) {
    query.where('seq', '<', options.beforeSeq);
  }
  const rows = await query;
  return withDependencies(db, rows);
}

/** The operations of a batch, in the order they were queued. */
export async function listBatch(
  db: Knex,
  batchId: string,
): Promise<QueuedOperation[]> {
  const rows = await db<OperationRow>('operations')
    .where({ batch_id: batchId })
    .orderBy('seq');
  return withDependencies(db, rows);
}

/**
 * The operations queued by the request that used this idempotency key:
 * its batch (the key's operation first) or its single operation.
 */
export async function findByIdempotencyKey(
  db: Knex,
  tenant: string,
  idempotencyKey: string,
): Promise<QueuedOperation[] | undefined> {
  const row = await db<OperationRow>('operations')
    .where({ tenant, idempotency_key: idempotencyKey })
    .first();
  if (!row) return undefined;
  if (!row.batch_id) return withDependencies(db, [row]);
  const batch = await listBatch(db, row.batch_id);
  return [
    ...batch.filter(o => o.id === row.id),
    ...batch.filter(o => o.id !== row.id),
  ];
}

/** Whether the plugin has an operation queued or running. */
export async function hasUnfinished(
  db: Knex,
  pluginId: string,
): Promise<boolean> {
  const row = await db('operations')
    .where({ plugin_id: pluginId })
    .whereIn('status', ['queued', 'running'])
    .first('id');
  return Boolean(row);
}

/**
 * Those of the plugins that have an operation queued or running, in one
 * query (what {@link hasUnfinished} tells for one plugin).
 */
export async function withUnfinished(
  db: Knex,
  pluginIds: string[],
): Promise<Set<string>> {
  const found = new Set<string>();
  for (let i = 0; i < pluginIds.length; i += LOOKUP_CHUNK) {
    const rows = await db('operations')
      .whereIn('plugin_id', pluginIds.slice(i, i + LOOKUP_CHUNK))
      .whereIn('status', ['queued', 'running'])
      .distinct('plugin_id');
    for (const r of rows) found.add(r.plugin_id);
  }
  return found;
}

/** Counts by status, for metrics. */
export async function countByStatus(db: Knex): Promise<Record<string, number>> {
  const rows = await db('operations')
    .select('status')
    .count({ n: '*' })
    .groupBy('status');
  return Object.fromEntries(rows.map((r: any) => [r.status, Number(r.n)]));
}
