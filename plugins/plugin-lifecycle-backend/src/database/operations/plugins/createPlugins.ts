import { ConflictError } from '@backstage/errors';
import { Knex } from 'knex';
import { now } from '../../mappers';
import { runNamed } from '../../runNamed';
import { isPostgres } from '../../dialect';
import {
  MANY_CHUNK,
  PluginRow,
  newPluginRecord,
  newPluginRow,
} from './pluginRows';
import { NewPlugin, PluginRecord } from './pluginTypes';
import { getPlugins } from './readPlugins';

/** PostgreSQL: a new plugin. */
const PG_CREATE = `
INSERT INTO plugins (id, tenant, entity_ref, runtime, state, revision, replicas,
                     configuration, probes, created_at, updated_at)
VALUES (?, ?, ?, ?, 'inactive', 0, ?, ?, ?, ?, ?)`;

/** PostgreSQL: several new plugins in one statement. */
const PG_CREATE_MANY = `
INSERT INTO plugins (id, tenant, entity_ref, runtime, state, revision, replicas,
                     configuration, probes, created_at, updated_at)
SELECT id, tenant, entity_ref, runtime, state, revision, replicas,
       configuration, probes, created_at, updated_at
FROM json_to_recordset(?::json) AS v(id text, tenant text, entity_ref text,
  runtime text, state text, revision int, replicas int, configuration text,
  probes text, created_at timestamptz, updated_at timestamptz)`;

/** Creates a plugin in the `inactive` state; a ConflictError if it exists. */
export async function createPlugin(
  db: Knex,
  input: NewPlugin,
): Promise<PluginRecord> {
  const timestamp = now();
  const row = newPluginRow(input, timestamp);
  try {
    if (isPostgres(db)) {
      await runNamed(db, 'plt_create_plugin', PG_CREATE, [
        row.id,
        row.tenant,
        row.entity_ref,
        row.runtime,
        row.replicas,
        row.configuration,
        row.probes,
        row.created_at,
        row.updated_at,
      ]);
    } else {
      await db<PluginRow>('plugins').insert(row);
    }
  } catch (error) {
    if ((await getPlugins(db, [input.id])).size > 0) {
      throw new ConflictError(`Plugin '${input.id}' already exists`);
    }
    throw error;
  }
  return newPluginRecord(input, timestamp);
}

/**
 * Creates several plugins in the `inactive` state at once (one statement
 * per few hundred): all of them, or, when one already exists, none
 * (a ConflictError naming those that exist).
 */
export async function createPlugins(
  db: Knex,
  inputs: NewPlugin[],
): Promise<PluginRecord[]> {
  if (inputs.length === 0) return [];
  const timestamp = now();
  const rows = inputs.map(input => newPluginRow(input, timestamp));
  try {
    if (isPostgres(db)) {
      // One statement whatever the number (the rows are one JSON
      // parameter, not eleven bindings each): atomic on its own.
      await runNamed(db, 'plt_create_plugins', PG_CREATE_MANY, [
        JSON.stringify(rows),
      ]);
    } else {
      await db.transaction(async tx => {
        for (let i = 0; i < rows.length; i += MANY_CHUNK) {
          await tx<PluginRow>('plugins').insert(rows.slice(i, i + MANY_CHUNK));
        }
      });
    }
  } catch (error) {
    const existing = await getPlugins(
      db,
      inputs.map(i => i.id),
    );
    if (existing.size > 0) {
      throw new ConflictError(
        `Plugin ${[...existing.keys()]
          .map(id => `'${id}'`)
          .join(', ')} already exists`,
      );
    }
    throw error;
  }
  return inputs.map(input => newPluginRecord(input, timestamp));
}
