import { Knex } from 'knex';
import { ConflictError } from '@backstage/errors';
import { recordServiceChange } from '../../serviceChanges';
import { recordChanges } from './changeLog';
import {
  ServiceRow,
  chunks,
  rowToService,
  selectServices,
  serviceFields,
  serviceIdUnavailable,
} from './serviceRows';
import { ServiceInput, StoredService } from './serviceTypes';
import { isUniqueViolation } from '../../dialect';

/**
 * Registers a service instance, or replaces the registration with the
 * same id; a replacement keeps its health verdict and registration time
 * and counts as a heartbeat. Throws a `ConflictError` if the id is taken
 * in another tenant (saying only that it is not available).
 */
export async function register(
  db: Knex,
  input: ServiceInput,
  now: Date,
): Promise<{ service: StoredService; created: boolean }> {
  const timestamp = now.toISOString();
  const fields = serviceFields(input, now);
  for (let attempt = 1; ; attempt++) {
    try {
      return await db.transaction(async tx => {
        const existing = await selectServices(tx)
          .where({ service_id: input.serviceId })
          .forUpdate()
          .first();
        if (existing && existing.tenant !== input.tenant) {
          throw new ConflictError(serviceIdUnavailable(input.serviceId));
        }
        const revision = await recordServiceChange(
          tx,
          input.serviceId,
          'upsert',
          timestamp,
        );
        if (existing) {
          await tx('services')
            .where({ service_id: input.serviceId })
            .update({ ...fields, revision });
        } else {
          await tx('services').insert({
            service_id: input.serviceId,
            ...fields,
            ready: true,
            health_score: 1,
            registered_at: timestamp,
            revision,
          });
        }
        const row = await selectServices(tx)
          .where({ service_id: input.serviceId })
          .first();
        return { service: rowToService(row!), created: !existing };
      });
    } catch (error) {
      // Two first registrations of one id at once: the loser updates.
      if (!isUniqueViolation(error) || attempt >= 3) throw error;
    }
  }
}

/**
 * Registers many services in one transaction, as {@link register}
 * does one: all or none. Throws a `ConflictError` naming the first id taken
 * in another tenant. The ids must be distinct.
 */
export async function registerMany(
  db: Knex,
  inputs: ServiceInput[],
  now: Date,
): Promise<Array<{ service: StoredService; created: boolean }>> {
  if (inputs.length === 0) return [];
  const timestamp = now.toISOString();
  const ids = inputs.map(i => i.serviceId);
  for (let attempt = 1; ; attempt++) {
    try {
      return await db.transaction(async tx => {
        const existing = new Map<string, ServiceRow>();
        for (const chunk of chunks(ids, 500)) {
          const rows = await selectServices(tx)
            .whereIn('service_id', chunk)
            .forUpdate();
          for (const row of rows) existing.set(row.service_id, row);
        }
        for (const input of inputs) {
          const row = existing.get(input.serviceId);
          if (row && row.tenant !== input.tenant) {
            throw new ConflictError(serviceIdUnavailable(input.serviceId));
          }
        }
        const revisions = await recordChanges(tx, ids, timestamp);
        const rows = inputs.map(input => ({
          service_id: input.serviceId,
          ...serviceFields(input, now),
          ready: true,
          health_score: 1,
          registered_at: timestamp,
          revision: revisions.get(input.serviceId)!,
        }));
        // A replacement keeps its verdict and registration time.
        const merged = [
          ...Object.keys(serviceFields(inputs[0], now)),
          'revision',
        ];
        for (const chunk of chunks(rows, 200)) {
          await tx('services')
            .insert(chunk)
            .onConflict('service_id')
            .merge(merged);
        }
        const stored = new Map<string, StoredService>();
        for (const chunk of chunks(ids, 500)) {
          for (const row of await selectServices(tx).whereIn(
            'service_id',
            chunk,
          )) {
            stored.set(row.service_id, rowToService(row));
          }
        }
        return inputs.map(input => ({
          service: stored.get(input.serviceId)!,
          created: !existing.has(input.serviceId),
        }));
      });
    } catch (error) {
      if (!isUniqueViolation(error) || attempt >= 3) throw error;
    }
  }
}
