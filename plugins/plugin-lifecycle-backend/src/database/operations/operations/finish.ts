import { Knex } from 'knex';
import { Coalescer } from '../../Coalescer';
import { toJson } from '../../mappers';
import { runNamed } from '../../runNamed';
import { isPostgres } from '../../dialect';
import { OperationRow, iso } from './operationRows';

/** How an attempt ended. */
export type FinishOutcome =
  | { status: 'succeeded'; result?: Record<string, unknown> }
  | { status: 'failed'; error: string }
  | { status: 'retry'; error: string; retryAt: number };

/** One attempt's outcome on its way to PostgreSQL. */
export type FinishRequest = {
  operationId: string;
  owner: string;
  outcome: FinishOutcome;
  now: number;
};

/**
 * PostgreSQL: records the outcomes of several attempts in one statement,
 * each only if its owner still holds the lease (see {@link finish}).
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

/**
 * Records how an attempt ended, if `owner` still holds the lease. A retry
 * puts the operation back in the queue, due at `retryAt`. Returns false
 * when the lease was lost (another replica took the operation over).
 */
export async function finish(
  db: Knex,
  finishes: Coalescer<FinishRequest, boolean>,
  operationId: string,
  owner: string,
  outcome: FinishOutcome,
  now: number,
): Promise<boolean> {
  if (isPostgres(db)) {
    // Outcomes that come in together are written together.
    return finishes.submit({ operationId, owner, outcome, now });
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
  const count = await db<OperationRow>('operations')
    .where({ id: operationId, lease_owner: owner, status: 'running' })
    .update(update);
  return count > 0;
}

/** PostgreSQL: {@link finish} for several attempts, one statement. */
export async function finishMany(
  db: Knex,
  requests: FinishRequest[],
): Promise<boolean[]> {
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
  const { rows } = await runNamed(db, 'plt_finish', PG_FINISH, [
    JSON.stringify(input),
  ]);
  const finished = new Set(rows.map((r: { id: string }) => r.id));
  return requests.map(r => finished.has(r.operationId));
}
