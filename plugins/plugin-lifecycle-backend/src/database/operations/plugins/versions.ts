import { Knex } from 'knex';
import { Coalescer } from '../../Coalescer';
import { runNamed } from '../../runNamed';
import { isPostgres } from '../../dialect';
import { VersionRow, rowToVersion, versionToRow } from './pluginRows';
import { StoredVersion } from './pluginTypes';

/** PostgreSQL: several versions stored (or replaced) in one statement. */
const PG_PUT_VERSIONS = `
INSERT INTO plugin_versions (plugin_id, version, artifact, manifest, location, installed_at)
SELECT plugin_id, version, artifact, manifest, location, installed_at
FROM json_to_recordset(?::json) AS v(plugin_id text, version text, artifact text,
                                    manifest text, location text, installed_at timestamptz)
ON CONFLICT (plugin_id, version) DO UPDATE
SET artifact = excluded.artifact, manifest = excluded.manifest,
    location = excluded.location, installed_at = excluded.installed_at`;

/** PostgreSQL: several versions stored (or replaced) in one statement. */
export async function putVersions(
  db: Knex,
  versions: StoredVersion[],
): Promise<undefined[]> {
  await runNamed(db, 'plt_put_versions', PG_PUT_VERSIONS, [
    JSON.stringify(versions.map(versionToRow)),
  ]);
  return versions.map(() => undefined);
}

/**
 * Stores a version (or replaces it). On PostgreSQL through `versions`:
 * versions stored at the same moment go out as one statement.
 */
export async function putVersion(
  db: Knex,
  versions: Coalescer<StoredVersion, undefined>,
  version: StoredVersion,
): Promise<void> {
  if (isPostgres(db)) {
    await versions.submit(version);
    return;
  }
  await db<VersionRow>('plugin_versions')
    .insert(versionToRow(version))
    .onConflict(['plugin_id', 'version'])
    .merge();
}

/** A plugin's installed versions, oldest first. */
export async function listVersions(
  db: Knex,
  pluginId: string,
): Promise<StoredVersion[]> {
  const rows = await db<VersionRow>('plugin_versions')
    .select('*')
    .where({ plugin_id: pluginId })
    .orderBy('installed_at', 'asc');
  return rows.map(rowToVersion);
}

/** One installed version, or undefined. */
export async function getVersion(
  db: Knex,
  pluginId: string,
  version: string,
): Promise<StoredVersion | undefined> {
  const row = await db<VersionRow>('plugin_versions')
    .select('*')
    .where({ plugin_id: pluginId, version })
    .first();
  return row ? rowToVersion(row) : undefined;
}

/** Forgets an installed version. */
export async function deleteVersion(
  db: Knex,
  pluginId: string,
  version: string,
): Promise<void> {
  await db('plugin_versions').where({ plugin_id: pluginId, version }).delete();
}
