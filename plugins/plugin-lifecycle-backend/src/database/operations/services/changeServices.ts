import { Knex } from 'knex';
import { recordServiceChange } from '../../serviceChanges';
import { ServiceRow, rowToService, selectServices } from './serviceRows';
import { ServicePatch, StoredService } from './serviceTypes';

/**
 * Changes live settings; the updated service, or undefined if unknown.
 * Logs a change only when a value actually changed.
 */
export async function updateService(
  db: Knex,
  serviceId: string,
  patch: ServicePatch,
  now: Date = new Date(),
): Promise<StoredService | undefined> {
  const timestamp = now.toISOString();
  return db.transaction(async tx => {
    const row = await selectServices(tx)
      .where({ service_id: serviceId })
      .forUpdate()
      .first();
    if (!row) return undefined;
    const changes: Partial<ServiceRow> = {};
    if (patch.weight !== undefined && patch.weight !== Number(row.weight))
      changes.weight = patch.weight;
    if (patch.maxConnections !== undefined) {
      const current =
        row.max_connections === null ? null : Number(row.max_connections);
      if (patch.maxConnections !== current)
        changes.max_connections = patch.maxConnections;
    }
    if (patch.ready !== undefined && patch.ready !== Boolean(row.ready))
      changes.ready = patch.ready;
    if (
      patch.healthScore !== undefined &&
      patch.healthScore !== Number(row.health_score)
    )
      changes.health_score = patch.healthScore;
    if (Object.keys(changes).length === 0) return rowToService(row);
    changes.updated_at = timestamp;
    changes.revision = await recordServiceChange(
      tx,
      serviceId,
      'upsert',
      timestamp,
    );
    await tx('services').where({ service_id: serviceId }).update(changes);
    return rowToService({ ...row, ...changes });
  });
}

/**
 * Removes a registration: the removed service, its revision that of the
 * deletion; undefined if unknown.
 */
export async function deregister(
  db: Knex,
  serviceId: string,
  now: Date = new Date(),
): Promise<StoredService | undefined> {
  return db.transaction(async tx => {
    const row = await selectServices(tx)
      .where({ service_id: serviceId })
      .forUpdate()
      .first();
    if (!row) return undefined;
    await tx('services').where({ service_id: serviceId }).delete();
    const revision = await recordServiceChange(
      tx,
      serviceId,
      'delete',
      now.toISOString(),
    );
    return { ...rowToService(row), revision };
  });
}

/**
 * Marks services whose TTL passed without a heartbeat as expired (no
 * traffic until the next heartbeat) and removes those past their
 * deregistration deadline. Safe to run on every replica at once: each
 * change is made, and logged, by one of them.
 */
export async function expire(
  db: Knex,
  now: Date,
): Promise<{ expired: string[]; deregistered: string[] }> {
  const timestamp = now.toISOString();
  const deregistered: string[] = [];
  const doomed = await db('services')
    .where('deregister_at', '<=', timestamp)
    .pluck('service_id');
  for (const serviceId of doomed) {
    const removed = await db.transaction(async tx => {
      const count = await tx('services')
        .where({ service_id: serviceId })
        .where('deregister_at', '<=', timestamp)
        .delete();
      if (count === 0) return false; // a heartbeat or another replica won
      await recordServiceChange(tx, serviceId, 'delete', timestamp);
      return true;
    });
    if (removed) deregistered.push(serviceId);
  }
  const expired: string[] = [];
  const overdue = await db('services')
    .where('expires_at', '<=', timestamp)
    .whereNull('expired_at')
    .pluck('service_id');
  for (const serviceId of overdue) {
    const marked = await db.transaction(async tx => {
      const count = await tx('services')
        .where({ service_id: serviceId })
        .where('expires_at', '<=', timestamp)
        .whereNull('expired_at')
        .update({ expired_at: timestamp, updated_at: timestamp });
      if (count === 0) return false; // a heartbeat or another replica won
      const revision = await recordServiceChange(
        tx,
        serviceId,
        'upsert',
        timestamp,
      );
      await tx('services')
        .where({ service_id: serviceId })
        .update({ revision });
      return true;
    });
    if (marked) expired.push(serviceId);
  }
  return { expired, deregistered };
}
