import { Knex } from 'knex';
import { ConflictError } from '@backstage/errors';
import { OperationRow, QueuedOperation, iso } from './operationRows';
import { getOperation } from './readOperations';

/** Cancels a queued operation; a finished or running one is a conflict. */
export async function cancel(
  db: Knex,
  operationId: string,
  reason: string,
  now: number,
): Promise<QueuedOperation> {
  const count = await db<OperationRow>('operations')
    .where({ id: operationId, status: 'queued' })
    .update({ status: 'cancelled', error: reason, finished_at: iso(now) });
  const operation = await getOperation(db, operationId);
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
export async function cancelDependents(
  db: Knex,
  operationId: string,
  reason: string,
  now: number,
): Promise<string[]> {
  const cancelled: string[] = [];
  let frontier = [operationId];
  while (frontier.length > 0) {
    const dependents = await db('operation_dependencies as d')
      .join('operations as o', 'o.id', 'd.operation_id')
      .whereIn('d.depends_on_id', frontier)
      .where('o.status', 'queued')
      .distinct('o.id');
    const ids = dependents.map((r: { id: string }) => r.id);
    if (ids.length === 0) break;
    await db('operations')
      .whereIn('id', ids)
      .where('status', 'queued')
      .update({ status: 'cancelled', error: reason, finished_at: iso(now) });
    cancelled.push(...ids);
    frontier = ids;
  }
  return cancelled;
}
