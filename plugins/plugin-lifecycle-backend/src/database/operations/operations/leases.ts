import { Knex } from 'knex';
import { runNamed } from '../../runNamed';
import { isPostgres } from '../../dialect';
import { OperationRow, iso } from './operationRows';

/** Reclaims an operation may cost beyond its attempts before it fails. */
const MAX_RECLAIMS = 3;

/** Extends the leases an owner holds; returns the ids it still holds. */
export async function renewLeases(
  db: Knex,
  owner: string,
  ids: string[],
  until: number,
): Promise<string[]> {
  if (ids.length === 0) return [];
  if (isPostgres(db)) {
    const { rows } = await runNamed(
      db,
      'plt_renew_leases',
      `UPDATE operations SET lease_expires_at = ?
       WHERE id = ANY(?::text[]) AND lease_owner = ? AND status = 'running'
       RETURNING id`,
      [iso(until), ids, owner],
    );
    return rows.map((r: { id: string }) => r.id);
  }
  await db('operations')
    .whereIn('id', ids)
    .where({ lease_owner: owner, status: 'running' })
    .update({ lease_expires_at: iso(until) });
  const held = await db('operations')
    .select('id')
    .whereIn('id', ids)
    .where({ lease_owner: owner, status: 'running' });
  return held.map((r: { id: string }) => r.id);
}

/**
 * Takes back operations whose lease expired (their replica died or hangs):
 * they go back to the queue to be resumed, or fail once out of attempts.
 */
export async function reclaimExpired(
  db: Knex,
  now: number,
  options: { goneOwners?: string[] } = {},
): Promise<{ requeued: string[]; failed: string[] }> {
  const gone = options.goneOwners ?? [];
  const expired = await db<OperationRow>('operations')
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
    const count = await db<OperationRow>('operations')
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
export async function leaseOwners(db: Knex): Promise<string[]> {
  const rows = await db('operations')
    .where('status', 'running')
    .distinct('lease_owner');
  return rows
    .map((r: { lease_owner: string }) => r.lease_owner)
    .filter(Boolean);
}
