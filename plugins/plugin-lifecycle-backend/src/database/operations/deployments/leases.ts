import { Knex } from 'knex';
import { isPostgres } from '../../dialect';
import { runNamed } from '../../runNamed';
import {
  DEPLOYMENT_COLUMNS,
  DeploymentRow,
  rowToDeployment,
} from './deploymentRows';
import { DeploymentRecord } from './deploymentTypes';

/**
 * PostgreSQL: claims in one statement. Candidates are active, due (no
 * `next_run_at`, or one that has come) and not leased (no lease, or an
 * expired one), those waiting longest first. Rows another replica is
 * claiming are skipped, not waited for; locking re-reads a row changed since
 * this statement's snapshot and drops it if it no longer qualifies, so two
 * replicas never lease the same deployment.
 */
const PG_CLAIM_DUE = `
WITH picked AS (
  SELECT id FROM deployments
  WHERE active
    AND (next_run_at IS NULL OR next_run_at <= ?)
    AND (lease_expires_at IS NULL OR lease_expires_at <= ?)
  ORDER BY next_run_at ASC NULLS FIRST, created_at ASC
  LIMIT ?
  FOR UPDATE SKIP LOCKED
)
UPDATE deployments d
SET lease_owner = ?, lease_expires_at = ?
FROM picked
WHERE d.id = picked.id
RETURNING ${DEPLOYMENT_COLUMNS.map(c => `d.${c}`).join(', ')}`;

/** Rows read as candidates per claim on SQLite, beyond the limit. */
const SQLITE_EXTRA_CANDIDATES = 10;

/**
 * Claims up to `limit` active deployments that are due and not leased by
 * a live owner, leasing them to `owner` until `now + leaseMs`. A lease the
 * owner itself still holds is not claimed again (the deployment is being
 * worked on): extend it with {@link renewLease}.
 */
export async function claimDue(
  db: Knex,
  owner: string,
  options: { leaseMs: number; limit: number; now?: Date },
): Promise<DeploymentRecord[]> {
  if (options.limit <= 0) return [];
  const nowMs = (options.now ?? new Date()).getTime();
  const now = new Date(nowMs).toISOString();
  const until = new Date(nowMs + options.leaseMs).toISOString();
  if (isPostgres(db)) {
    const { rows } = await runNamed(db, 'plt_claim_deployments', PG_CLAIM_DUE, [
      now,
      now,
      options.limit,
      owner,
      until,
    ]);
    return (rows as DeploymentRow[]).map(rowToDeployment).sort(byDueThenAge);
  }
  // SQLite: read candidates, then lease each with an update that checks
  // again that it is claimable. SQLite runs one writer at a time, so of two
  // replicas updating one row the second finds it leased and takes nothing.
  const due = (q: Knex.QueryBuilder) =>
    q
      .where('active', true)
      .where(w => w.whereNull('next_run_at').orWhere('next_run_at', '<=', now))
      .where(w =>
        w.whereNull('lease_expires_at').orWhere('lease_expires_at', '<=', now),
      );
  const candidates: string[] = (
    await due(db('deployments').select('id'))
      .orderByRaw('next_run_at IS NOT NULL, next_run_at ASC, created_at ASC')
      .limit(options.limit + SQLITE_EXTRA_CANDIDATES)
  ).map((r: { id: string }) => r.id);
  const claimed: DeploymentRecord[] = [];
  for (const id of candidates) {
    if (claimed.length >= options.limit) break;
    const rows = (await due(db('deployments').where({ id }))
      .update({ lease_owner: owner, lease_expires_at: until })
      .returning(DEPLOYMENT_COLUMNS)) as DeploymentRow[];
    claimed.push(...rows.map(rowToDeployment));
  }
  return claimed;
}

/** Those due first (no time: first of all), then the oldest. */
function byDueThenAge(a: DeploymentRecord, b: DeploymentRecord): number {
  const due = (d: DeploymentRecord) =>
    d.nextRunAt === undefined ? -Infinity : Date.parse(d.nextRunAt);
  return due(a) - due(b) || a.createdAt.localeCompare(b.createdAt);
}

/**
 * Extends the lease `owner` holds on a deployment to `leaseMs` from now.
 * False when the lease was lost: another replica claimed the deployment (or
 * it was released).
 */
export async function renewLease(
  db: Knex,
  id: string,
  owner: string,
  leaseMs: number,
  now: Date,
): Promise<boolean> {
  const count = await db<DeploymentRow>('deployments')
    .where({ id, lease_owner: owner })
    .update({
      lease_expires_at: new Date(now.getTime() + leaseMs).toISOString(),
    });
  return count > 0;
}

/** Gives up the lease `owner` holds, if it still does. */
export async function release(
  db: Knex,
  id: string,
  owner: string,
): Promise<void> {
  await db<DeploymentRow>('deployments')
    .where({ id, lease_owner: owner })
    .update({ lease_owner: null, lease_expires_at: null });
}
