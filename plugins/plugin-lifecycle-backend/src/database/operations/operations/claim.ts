import { Knex } from 'knex';
import { fairOrder } from '../../../domain/orchestration';
import { runNamed } from '../../runNamed';
import { isPostgres } from '../../dialect';
import {
  OPERATION_COLUMNS,
  OperationRow,
  QueuedOperation,
  iso,
  rowToOperation,
} from './operationRows';
import { isUniqueViolation } from '../../dialect';

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
 * Claims up to `limit` operations for `owner` until `now + leaseMs`.
 * Candidates: queued, due, the oldest unfinished operation of their plugin,
 * every dependency succeeded. Order: tenants take turns (rank within the
 * tenant by priority, then age), then priority, then age.
 */
export async function claim(
  db: Knex,
  options: {
    owner: string;
    limit: number;
    leaseMs: number;
    now: number;
  },
): Promise<QueuedOperation[]> {
  if (options.limit <= 0) return [];
  const now = iso(options.now);
  if (isPostgres(db)) {
    try {
      const { rows } = await runNamed(db, 'plt_claim', PG_CLAIM, [
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
    await db('operations').where('status', 'queued').distinct('tenant')
  ).map((r: { tenant: string }) => r.tenant);
  const perTenant = await Promise.all(
    tenants.map(tenant =>
      db('operations as o')
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
            .select(db.raw('1'))
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
    return await db.transaction(async tx => {
      let query = tx('operations')
        .select('id')
        .whereIn(
          'id',
          picked.map(p => p.id),
        )
        .where('status', 'queued');
      if (isPostgres(db)) query = query.forUpdate().skipLocked();
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
