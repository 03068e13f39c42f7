import { Knex } from 'knex';
import {
  RUNNING_INSTANCE_COLUMNS,
  SERVING_STATUS,
  chunks,
  rowToRunningInstance,
} from './serviceRows';
import { RunningInstance } from './serviceTypes';

/**
 * Running plugin instances (of plugins not in maintenance) with their plugin's tenant, and every managed
 * plugin (so a plugin with no running instance is known, not unknown).
 */
export async function listRunningInstances(db: Knex): Promise<{
  plugins: Array<{ pluginId: string; tenant: string }>;
  instances: RunningInstance[];
}> {
  const rows = await db('plugins as p')
    .leftJoin('plugin_instances as i', function onRunning() {
      this.on('i.plugin_id', '=', 'p.id')
        .andOnVal('i.status', '=', SERVING_STATUS)
        // In maintenance the instances run but take no traffic.
        .andOnVal('p.state', '<>', 'maintenance');
    })
    .orderBy(['p.id', 'i.id'])
    .select([...RUNNING_INSTANCE_COLUMNS]);
  const plugins = new Map<string, string>();
  const instances: RunningInstance[] = [];
  for (const row of rows) {
    plugins.set(row.plugin_id, row.tenant);
    if (row.instance_id === null || row.instance_id === undefined) continue;
    instances.push(rowToRunningInstance(row));
  }
  return {
    plugins: [...plugins].map(([pluginId, tenant]) => ({ pluginId, tenant })),
    instances,
  };
}

/** These plugin instances, those that are running, with their plugin's tenant. */
export async function getRunningInstances(
  db: Knex,
  instanceIds: string[],
): Promise<RunningInstance[]> {
  const found: RunningInstance[] = [];
  for (const chunk of chunks(instanceIds, 500)) {
    const rows = await db('plugin_instances as i')
      .join('plugins as p', 'p.id', 'i.plugin_id')
      .whereIn('i.id', chunk)
      .where('i.status', SERVING_STATUS)
      .whereNot('p.state', 'maintenance')
      .select([...RUNNING_INSTANCE_COLUMNS]);
    for (const row of rows) found.push(rowToRunningInstance(row));
  }
  return found;
}

/**
 * How many plugins exist. Plugins are never deleted (an uninstalled one
 * is inactive), so a new count means new plugins.
 */
export async function countPlugins(db: Knex): Promise<number> {
  const [{ n }] = await db('plugins').count({ n: '*' });
  return Number(n);
}

/** Every managed plugin and its tenant. */
export async function listPlugins(
  db: Knex,
): Promise<Array<{ pluginId: string; tenant: string }>> {
  const rows = await db('plugins').select(['id', 'tenant']);
  return rows.map(r => ({ pluginId: r.id, tenant: r.tenant }));
}

/** Whether a plugin instance has this id (registrations may not reuse it). */
export async function isInstanceId(db: Knex, id: string): Promise<boolean> {
  const row = await db('plugin_instances').where({ id }).first('id');
  return row !== undefined;
}

/** Which of these ids are plugin instances. */
export async function findInstanceIds(
  db: Knex,
  ids: string[],
): Promise<Set<string>> {
  const found = new Set<string>();
  for (const chunk of chunks(ids, 500)) {
    for (const row of await db('plugin_instances')
      .whereIn('id', chunk)
      .select('id')) {
      found.add(row.id);
    }
  }
  return found;
}

/** The tenant of a managed plugin, or undefined. */
export async function pluginTenant(
  db: Knex,
  pluginId: string,
): Promise<string | undefined> {
  const row = await db('plugins').where({ id: pluginId }).first('tenant');
  return row?.tenant;
}

/** Which of `ids` are plugins (in any tenant): one query, in chunks for SQLite's variable limit. */
export async function existingPluginIds(
  db: Knex,
  ids: readonly string[],
): Promise<Set<string>> {
  const found = new Set<string>();
  for (let i = 0; i < ids.length; i += 500) {
    const rows = await db('plugins')
      .whereIn('id', ids.slice(i, i + 500))
      .select('id');
    for (const row of rows) found.add(row.id);
  }
  return found;
}
