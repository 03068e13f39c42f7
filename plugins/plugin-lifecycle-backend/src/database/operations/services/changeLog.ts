import { Knex } from 'knex';
import { SERVICES_NOTIFY_CHANNEL } from '../../serviceChanges';
import { isPostgres } from '../../dialect';
import { chunks } from './serviceRows';
import { ServiceChange } from './serviceTypes';

/** Appends one upsert per id to the log in the caller's transaction; their revisions by id. */
export async function recordChanges(
  tx: Knex.Transaction,
  serviceIds: string[],
  timestamp: string,
): Promise<Map<string, number>> {
  const revisions = new Map<string, number>();
  for (const chunk of chunks(serviceIds, 500)) {
    const inserted = await tx('service_changes').insert(
      chunk.map(service_id => ({
        service_id,
        kind: 'upsert',
        created_at: timestamp,
      })),
      ['revision', 'service_id'],
    );
    for (const row of inserted as Array<{
      revision: number;
      service_id: string;
    }>) {
      revisions.set(row.service_id, Number(row.revision));
    }
  }
  if (isPostgres(tx)) {
    await tx.raw('SELECT pg_notify(?, ?)', [
      SERVICES_NOTIFY_CHANNEL,
      String(Math.max(...revisions.values())),
    ]);
  }
  return revisions;
}

/** Log entries after a revision, oldest first. */
export async function changesSince(
  db: Knex,
  revision: number,
  limit = 500,
): Promise<ServiceChange[]> {
  const rows = await db('service_changes')
    .where('revision', '>', revision)
    .orderBy('revision', 'asc')
    .limit(limit)
    .select(['revision', 'service_id', 'kind']);
  return rows.map(r => ({
    revision: Number(r.revision),
    serviceId: r.service_id,
    kind: r.kind,
  }));
}

/** The newest revision in the log (0 when it is empty). */
export async function maxRevision(db: Knex): Promise<number> {
  const row = await db('service_changes').max({ r: 'revision' }).first();
  return Number(row?.r ?? 0);
}

/** The oldest revision still in the log (0 when it is empty). */
export async function minRevision(db: Knex): Promise<number> {
  const row = await db('service_changes').min({ r: 'revision' }).first();
  return Number(row?.r ?? 0);
}

/** Deletes log entries older than `before`, always keeping the newest. */
export async function pruneChanges(db: Knex, before: Date): Promise<number> {
  const newest = await maxRevision(db);
  return db('service_changes')
    .where('created_at', '<', before.toISOString())
    .where('revision', '<', newest)
    .delete();
}
