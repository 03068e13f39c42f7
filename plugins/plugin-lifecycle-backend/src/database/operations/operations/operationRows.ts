import {
  Operation,
  OperationStatus,
  OperationType,
} from '@internal/plugin-lifecycle-common';
import { Knex } from 'knex';
import { fromJson, optional, toIso } from '../../mappers';

/** An operation as stored. */
export type OperationRow = {
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

/** What enqueuing an operation takes. */
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

/** An epoch-milliseconds time as the ISO string the columns hold. */
export const iso = (ms: number) => new Date(ms).toISOString();

/** The columns of {@link OperationRow}, for statements that list them. */
export const OPERATION_COLUMNS = [
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

/** Row -> operation, with the ids of the operations it depends on. */
export function rowToOperation(
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

/** Rows -> operations, with their dependencies (one query). */
export async function withDependencies(
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
