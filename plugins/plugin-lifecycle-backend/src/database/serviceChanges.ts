import { Knex } from 'knex';

/** The PostgreSQL channel every change to discovery's sources notifies, on commit. */
export const SERVICES_NOTIFY_CHANNEL = 'plugin_lifecycle_services';

/**
 * What changed, in the `service_changes` log discovery follows: a
 * registered service (`upsert`, `delete`), the live settings of a plugin
 * instance (`override`), or a plugin instance itself (`instance`: started,
 * stopped, crashed, track changed) so that no replica has to re-read every
 * instance to notice one, or a service's traffic split (`split`; the id is
 * `tenant/serviceName`, for diagnostics only: a replica re-reads every
 * split, there are few).
 */
export type ServiceChangeKind =
  | 'upsert'
  | 'delete'
  | 'override'
  | 'instance'
  | 'split';

/**
 * Appends to the log in the caller's transaction; its revision. NOTIFY on
 * PostgreSQL is delivered on commit.
 */
export async function recordServiceChange(
  tx: Knex.Transaction,
  serviceId: string,
  kind: ServiceChangeKind,
  timestamp: string,
): Promise<number> {
  const [inserted] = await tx('service_changes').insert(
    { service_id: serviceId, kind, created_at: timestamp },
    ['revision'],
  );
  const revision = Number(
    typeof inserted === 'object' ? inserted.revision : inserted,
  );
  if (tx.client.config.client === 'pg') {
    await tx.raw('SELECT pg_notify(?, ?)', [
      SERVICES_NOTIFY_CHANNEL,
      String(revision),
    ]);
  }
  return revision;
}
