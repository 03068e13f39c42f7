import { Knex } from 'knex';
import { recordServiceChange } from '../../serviceChanges';
import { ACTIVE_STATUSES, OverrideRow, rowToOverride } from './serviceRows';
import { InstanceOverride } from './serviceTypes';
import { isUniqueViolation } from '../../dialect';

/**
 * Sets live settings of a plugin instance (undefined leaves a field,
 * null clears it back to the default). Logs a change when something
 * changed; returns the override.
 */
export async function setInstanceOverride(
  db: Knex,
  instanceId: string,
  patch: {
    weight?: number | null;
    maxConnections?: number | null;
    ready?: boolean | null;
    healthScore?: number | null;
  },
  now: Date = new Date(),
): Promise<InstanceOverride> {
  const timestamp = now.toISOString();
  for (let attempt = 1; ; attempt++) {
    try {
      return await db.transaction(async tx => {
        const row: OverrideRow | undefined = await tx(
          'service_instance_overrides',
        )
          .where({ instance_id: instanceId })
          .forUpdate()
          .first();
        const current = {
          weight: row?.weight ?? null,
          max_connections: row?.max_connections ?? null,
          ready:
            row?.ready === null || row?.ready === undefined
              ? null
              : Boolean(row.ready),
          health_score: row?.health_score ?? null,
        };
        const next = {
          weight: patch.weight === undefined ? current.weight : patch.weight,
          max_connections:
            patch.maxConnections === undefined
              ? current.max_connections
              : patch.maxConnections,
          ready: patch.ready === undefined ? current.ready : patch.ready,
          health_score:
            patch.healthScore === undefined
              ? current.health_score
              : patch.healthScore,
        };
        const same =
          row !== undefined &&
          (Object.keys(next) as Array<keyof typeof next>).every(
            key =>
              (next[key] === null ? null : Number(next[key])) ===
              (current[key] === null ? null : Number(current[key])),
          );
        if (same) return rowToOverride(row);
        const revision = await recordServiceChange(
          tx,
          instanceId,
          'override',
          timestamp,
        );
        const written = { ...next, updated_at: timestamp, revision };
        if (row) {
          await tx('service_instance_overrides')
            .where({ instance_id: instanceId })
            .update(written);
        } else {
          await tx('service_instance_overrides').insert({
            instance_id: instanceId,
            ...written,
          });
        }
        return rowToOverride({ instance_id: instanceId, ...written });
      });
    } catch (error) {
      if (!isUniqueViolation(error) || attempt >= 3) throw error;
    }
  }
}

/** Overrides, of the given instances or all. */
export async function listInstanceOverrides(
  db: Knex,
  instanceIds?: string[],
): Promise<InstanceOverride[]> {
  const query = db<OverrideRow>('service_instance_overrides');
  if (instanceIds) {
    if (instanceIds.length === 0) return [];
    query.whereIn('instance_id', instanceIds);
  }
  return (await query).map(rowToOverride);
}

/** Deletes the overrides of instances that are no longer active. */
export async function pruneInstanceOverrides(db: Knex): Promise<number> {
  return db('service_instance_overrides')
    .whereNotIn(
      'instance_id',
      db('plugin_instances').whereIn('status', ACTIVE_STATUSES).select('id'),
    )
    .delete();
}
