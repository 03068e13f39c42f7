import { Knex } from 'knex';
import { recordServiceChange } from '../../serviceChanges';
import {
  ServiceRow,
  chunks,
  deadlines,
  rowToService,
  selectServices,
} from './serviceRows';
import { StoredService } from './serviceTypes';

/**
 * Records a heartbeat: pushes the TTL and deregistration deadlines out.
 * Usually a read and one guarded UPDATE with no log entry, since other
 * replicas need not know; a heartbeat that revives an expired service
 * is logged.
 * `undefined` for an unknown service.
 */
export async function heartbeat(
  db: Knex,
  serviceId: string,
  now: Date,
): Promise<{ service: StoredService; revived: boolean } | undefined> {
  const timestamp = now.toISOString();
  const row = await selectServices(db).where({ service_id: serviceId }).first();
  if (!row) return undefined;
  const ttlMs = row.ttl_ms === null ? undefined : Number(row.ttl_ms);
  const deregisterAfterMs =
    row.deregister_after_ms === null
      ? undefined
      : Number(row.deregister_after_ms);
  const patch: Partial<ServiceRow> = deadlines(ttlMs, deregisterAfterMs, now);
  if (row.expired_at === null) {
    // The usual case: one UPDATE, guarded so that a concurrent
    // re-registration (other settings) or expiry takes the slow path.
    const count = await db('services')
      .where({ service_id: serviceId, revision: row.revision })
      .whereNull('expired_at')
      .update(patch);
    if (count === 1) {
      return { service: rowToService({ ...row, ...patch }), revived: false };
    }
  }
  return db.transaction(async tx => {
    const current = await selectServices(tx)
      .where({ service_id: serviceId })
      .forUpdate()
      .first();
    if (!current) return undefined;
    const slow: Partial<ServiceRow> = deadlines(
      current.ttl_ms === null ? undefined : Number(current.ttl_ms),
      current.deregister_after_ms === null
        ? undefined
        : Number(current.deregister_after_ms),
      now,
    );
    const revived = current.expired_at !== null;
    if (revived) {
      slow.expired_at = null;
      slow.updated_at = timestamp;
      slow.revision = await recordServiceChange(
        tx,
        serviceId,
        'upsert',
        timestamp,
      );
    }
    await tx('services').where({ service_id: serviceId }).update(slow);
    return { service: rowToService({ ...current, ...slow }), revived };
  });
}

/**
 * Heartbeats of many services: one UPDATE per distinct TTL setting in the
 * usual case, {@link heartbeat} one by one for expired
 * services (a revival is logged) and for those changed meanwhile. Returns
 * the services renewed and the ids unknown.
 */
export async function heartbeatMany(
  db: Knex,
  serviceIds: string[],
  now: Date,
): Promise<{
  renewed: Array<{ service: StoredService; revived: boolean }>;
  unknown: string[];
}> {
  const rows = new Map<string, ServiceRow>();
  for (const chunk of chunks(serviceIds, 500)) {
    for (const row of await selectServices(db).whereIn('service_id', chunk)) {
      rows.set(row.service_id, row);
    }
  }
  const renewed: Array<{ service: StoredService; revived: boolean }> = [];
  const slow: string[] = [];
  // Rows that share their TTL settings share their new deadlines.
  const groups = new Map<string, ServiceRow[]>();
  for (const row of rows.values()) {
    if (row.expired_at !== null) {
      slow.push(row.service_id);
      continue;
    }
    const key = `${row.ttl_ms}/${row.deregister_after_ms}`;
    const group = groups.get(key);
    if (group) group.push(row);
    else groups.set(key, [row]);
  }
  for (const group of groups.values()) {
    const { ttl_ms: ttl, deregister_after_ms: after } = group[0];
    const patch = deadlines(
      ttl === null ? undefined : Number(ttl),
      after === null ? undefined : Number(after),
      now,
    );
    let count = 0;
    for (const chunk of chunks(group, 500)) {
      const query = db('services')
        .whereIn(
          'service_id',
          chunk.map(r => r.service_id),
        )
        .whereNull('expired_at');
      // Guarded like heartbeat(): a row re-registered with other settings
      // meanwhile is left to the slow path.
      if (ttl === null) query.whereNull('ttl_ms');
      else query.where('ttl_ms', ttl);
      if (after === null) query.whereNull('deregister_after_ms');
      else query.where('deregister_after_ms', after);
      count += await query.update(patch);
    }
    if (count === group.length) {
      for (const row of group) {
        renewed.push({
          service: rowToService({ ...row, ...patch }),
          revived: false,
        });
      }
    } else {
      slow.push(...group.map(r => r.service_id));
    }
  }
  const unknown = serviceIds.filter(id => !rows.has(id));
  for (const serviceId of slow) {
    const result = await heartbeat(db, serviceId, now);
    if (result) renewed.push(result);
    else unknown.push(serviceId);
  }
  return { renewed, unknown };
}
