import { Knex } from 'knex';
import { rowToService, selectServices } from './serviceRows';
import { StoredService } from './serviceTypes';

/** A service, or undefined. */
export async function getService(
  db: Knex,
  serviceId: string,
): Promise<StoredService | undefined> {
  const row = await selectServices(db).where({ service_id: serviceId }).first();
  return row ? rowToService(row) : undefined;
}

/** Services by id, for the ids that still exist. */
export async function getServices(
  db: Knex,
  serviceIds: string[],
): Promise<StoredService[]> {
  if (serviceIds.length === 0) return [];
  const rows = await selectServices(db).whereIn('service_id', serviceIds);
  return rows.map(rowToService);
}

/** Services, by tenants and name when given, ordered by name and id. */
export async function listServices(
  db: Knex,
  filter: { tenants?: string[]; serviceName?: string } = {},
): Promise<StoredService[]> {
  const query = selectServices(db).orderBy(['service_name', 'service_id']);
  if (filter.tenants) query.whereIn('tenant', filter.tenants);
  if (filter.serviceName) query.where('service_name', filter.serviceName);
  return (await query).map(rowToService);
}
