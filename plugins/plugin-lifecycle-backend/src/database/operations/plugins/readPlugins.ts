import {
  LifecycleState,
  PluginManifest,
} from '@internal/plugin-lifecycle-common';
import { Knex } from 'knex';
import { Coalescer } from '../../Coalescer';
import { fromJson } from '../../mappers';
import { runNamed } from '../../runNamed';
import { isPostgres } from '../../dialect';
import {
  MANY_CHUNK,
  PLUGIN_COLUMNS,
  PluginRow,
  rowToPlugin,
} from './pluginRows';
import { PluginRecord } from './pluginTypes';

/** PostgreSQL: plugins by id, in one statement. */
const PG_GET = `SELECT ${PLUGIN_COLUMNS.join(
  ', ',
)} FROM plugins WHERE id = ANY(?::text[])`;

/** What {@link listPlugins} can filter by. */
export interface PluginFilter {
  state?: LifecycleState;
  tenant?: string;
  entityRef?: string;
  /** Only plugins of these tenants (a caller's scope). */
  tenants?: string[];
  /** A page: plugins with ids after this one... */
  after?: string;
  /** ...at most this many. */
  limit?: number;
}

/**
 * PostgreSQL: the rows of these plugins in one statement, in the order
 * asked (undefined for an id with no plugin).
 */
export async function readPluginRows(
  db: Knex,
  ids: string[],
): Promise<Array<PluginRow | undefined>> {
  const { rows } = await runNamed(db, 'plt_get_plugins', PG_GET, [
    [...new Set(ids)],
  ]);
  const byId = new Map<string, PluginRow>(
    (rows as PluginRow[]).map(r => [r.id, r]),
  );
  return ids.map(id => byId.get(id));
}

/**
 * One plugin's row. On PostgreSQL through `gets`: reads many operations make
 * at the same moment go out as one statement.
 */
export async function readPluginRow(
  db: Knex,
  gets: Coalescer<string, PluginRow | undefined>,
  pluginId: string,
): Promise<PluginRow | undefined> {
  return isPostgres(db)
    ? gets.submit(pluginId)
    : ((await db<PluginRow>('plugins')
        .select(PLUGIN_COLUMNS)
        .where({ id: pluginId })
        .first()) as PluginRow | undefined);
}

/** A plugin, or undefined. */
export async function getPlugin(
  db: Knex,
  gets: Coalescer<string, PluginRow | undefined>,
  pluginId: string,
): Promise<PluginRecord | undefined> {
  const row = await readPluginRow(db, gets, pluginId);
  return row ? rowToPlugin(row) : undefined;
}

/**
 * The plugins with these ids that exist, in one query (where a caller
 * would otherwise look them up one at a time, e.g. a batch request).
 */
export async function getPlugins(
  db: Knex,
  pluginIds: string[],
): Promise<Map<string, PluginRecord>> {
  const found = new Map<string, PluginRecord>();
  const ids = [...new Set(pluginIds)];
  for (let i = 0; i < ids.length; i += MANY_CHUNK) {
    const chunk = ids.slice(i, i + MANY_CHUNK);
    const rows = isPostgres(db)
      ? (await readPluginRows(db, chunk)).filter(
          (r): r is PluginRow => r !== undefined,
        )
      : ((await db<PluginRow>('plugins')
          .select(PLUGIN_COLUMNS)
          .whereIn('id', chunk)) as unknown as PluginRow[]);
    for (const row of rows) found.set(row.id, rowToPlugin(row));
  }
  return found;
}

/** Plugins by filter, in id order. */
export async function listPlugins(
  db: Knex,
  filter: PluginFilter = {},
): Promise<PluginRecord[]> {
  const query = db<PluginRow>('plugins').select(PLUGIN_COLUMNS).orderBy('id');
  if (filter.state) query.where('state', filter.state);
  if (filter.tenant) query.where('tenant', filter.tenant);
  if (filter.entityRef) query.where('entity_ref', filter.entityRef);
  if (filter.tenants) query.whereIn('tenant', filter.tenants);
  if (filter.after !== undefined) query.where('id', '>', filter.after);
  if (filter.limit !== undefined) query.limit(filter.limit);
  return ((await query) as unknown as PluginRow[]).map(rowToPlugin);
}

/** A plugin, its tenant and state, and what its current version depends on. */
export interface PluginDependencies {
  id: string;
  tenant: string;
  state: LifecycleState;
  dependencies: string[];
}

/** The manifest dependencies of every plugin's current version, in one query. */
export async function dependencyView(db: Knex): Promise<PluginDependencies[]> {
  const rows = await db('plugins as p')
    .leftJoin('plugin_versions as v', join =>
      join
        .on('v.plugin_id', '=', 'p.id')
        .andOn('v.version', '=', 'p.current_version'),
    )
    .select('p.id', 'p.tenant', 'p.state', 'v.manifest');
  return rows.map(
    (r: {
      id: string;
      tenant: string;
      state: string;
      manifest: string | null;
    }) => ({
      id: r.id,
      tenant: r.tenant,
      state: r.state as LifecycleState,
      dependencies: (
        fromJson<PluginManifest>(r.manifest, {}).dependencies ?? []
      ).map(d => d.pluginId),
    }),
  );
}
