import { NotFoundError } from '@backstage/errors';
import {
  Operation,
  OperationStatus,
  OperationType,
} from '@internal/plugin-lifecycle-common';
import { Knex } from 'knex';
import { fromJson, now, optional, toIso, toJson } from './mappers';

type OperationRow = {
  id: string;
  plugin_id: string;
  tenant: string;
  type: string;
  status: string;
  actor: string | null;
  params: string;
  attempts: number;
  error: string | null;
  result: string | null;
  created_at: Date | string;
  started_at: Date | string | null;
  finished_at: Date | string | null;
};

function rowToOperation(row: OperationRow): Operation {
  return {
    id: row.id,
    pluginId: row.plugin_id,
    tenant: row.tenant,
    type: row.type as OperationType,
    status: row.status as OperationStatus,
    actor: optional(row.actor),
    params: fromJson(row.params, {}),
    attempts: Number(row.attempts),
    error: optional(row.error),
    result: fromJson(row.result, undefined),
    createdAt: toIso(row.created_at),
    startedAt: toIso(row.started_at),
    finishedAt: toIso(row.finished_at),
  };
}

/** Operations: every lifecycle action, persisted before it runs. */
export class OperationStore {
  readonly #db: Knex;

  private constructor(db: Knex) {
    this.#db = db;
  }

  static create(options: { db: Knex }): OperationStore {
    return new OperationStore(options.db);
  }

  async create(input: {
    id: string;
    pluginId: string;
    tenant: string;
    type: OperationType;
    actor?: string;
    params: Record<string, unknown>;
  }): Promise<Operation> {
    const row: OperationRow = {
      id: input.id,
      plugin_id: input.pluginId,
      tenant: input.tenant,
      type: input.type,
      status: 'queued',
      actor: input.actor ?? null,
      params: toJson(input.params),
      attempts: 0,
      error: null,
      result: null,
      created_at: now(),
      started_at: null,
      finished_at: null,
    };
    await this.#db<OperationRow>('operations').insert(row);
    return rowToOperation(row);
  }

  async get(operationId: string): Promise<Operation> {
    const row = await this.#db<OperationRow>('operations')
      .where({ id: operationId })
      .first();
    if (!row) {
      throw new NotFoundError(`No operation with id '${operationId}'`);
    }
    return rowToOperation(row);
  }

  async markRunning(operationId: string): Promise<void> {
    await this.#db<OperationRow>('operations')
      .where({ id: operationId })
      .update({
        status: 'running',
        started_at: now(),
        attempts: this.#db.raw('attempts + 1') as any,
      });
  }

  async markFinished(
    operationId: string,
    outcome:
      | { status: 'succeeded'; result?: Record<string, unknown> }
      | { status: 'failed' | 'cancelled'; error: string },
  ): Promise<void> {
    await this.#db<OperationRow>('operations')
      .where({ id: operationId })
      .update({
        status: outcome.status,
        finished_at: now(),
        result:
          outcome.status === 'succeeded' ? toJson(outcome.result ?? {}) : null,
        error: outcome.status === 'succeeded' ? null : outcome.error,
      });
  }

  /** Operations that were queued or running (for recovery after a restart). */
  async listUnfinished(): Promise<Operation[]> {
    const rows = await this.#db<OperationRow>('operations')
      .whereIn('status', ['queued', 'running'])
      .orderBy('created_at', 'asc');
    return rows.map(rowToOperation);
  }
}
