import { ConflictError } from '@backstage/errors';
import { Knex } from 'knex';
import { fromJson, now, optional, toIso, toJson } from './mappers';
import { isUniqueViolation } from './dialect';

/** The PostgreSQL channel a configuration write notifies so other replicas look at once. */
export const CONFIG_NOTIFY_CHANNEL = 'plugin_lifecycle_config';

type ConfigVersionRow = {
  revision: number | string;
  plugin_id: string;
  layer: string;
  version: number;
  entries: string;
  key_ids: string | null;
  author: string | null;
  description: string | null;
  rolled_back_from: number | null;
  created_at: Date | string;
};

/**
 * One stored version of one layer. `entries` are as stored: secret values
 * are sealed envelopes, never plaintext.
 */
export interface StoredConfigVersion {
  revision: number;
  pluginId: string;
  layer: string;
  version: number;
  entries: StoredConfigEntry[];
  keyIds: string[];
  author?: string;
  description?: string;
  rolledBackFrom?: number;
  createdAt: string;
}

/** A configuration entry as stored (`value` of a secret is a sealed envelope). */
export interface StoredConfigEntry {
  key: string;
  value: unknown;
  type: 'string' | 'number' | 'boolean' | 'json' | 'secret';
  required?: boolean;
  sensitive?: boolean;
  description?: string;
  rotateAt?: string;
}

/** What the change feed reads: which layer got which version. */
export interface ConfigChange {
  revision: number;
  pluginId: string;
  layer: string;
  version: number;
}

const SUMMARY_COLUMNS = [
  'revision',
  'plugin_id',
  'layer',
  'version',
  'key_ids',
  'author',
  'description',
  'rolled_back_from',
  'created_at',
];

function rowToVersion(row: ConfigVersionRow): StoredConfigVersion {
  return {
    revision: Number(row.revision),
    pluginId: row.plugin_id,
    layer: row.layer,
    version: Number(row.version),
    entries: fromJson<StoredConfigEntry[]>(row.entries, []),
    keyIds: row.key_ids ? row.key_ids.split(',') : [],
    author: optional(row.author),
    description: optional(row.description),
    rolledBackFrom: optional(row.rolled_back_from) ?? undefined,
    createdAt: toIso(row.created_at),
  };
}

/**
 * Versions of plugin configuration layers. Append-only but for pruning and
 * re-sealing secrets under a new key: content never changes once written.
 */
export class ConfigStore {
  readonly #db: Knex;

  private constructor(db: Knex) {
    this.#db = db;
  }

  static create(options: { db: Knex }): ConfigStore {
    return new ConfigStore(options.db);
  }

  /**
   * Appends the next version of a layer. With `expectedVersion` the write is
   * check-and-set: it fails with a ConflictError unless the layer's latest
   * version is that one. Two writers racing for the same number are settled
   * by the unique index; the loser retries (or conflicts, under check-and-set).
   */
  async append(input: {
    pluginId: string;
    layer: string;
    entries: StoredConfigEntry[];
    keyIds: string[];
    author?: string;
    description?: string;
    rolledBackFrom?: number;
    expectedVersion?: number;
  }): Promise<StoredConfigVersion> {
    for (let attempt = 1; ; attempt++) {
      const latest = await this.latestVersionNumber(
        input.pluginId,
        input.layer,
      );
      if (
        input.expectedVersion !== undefined &&
        latest !== input.expectedVersion
      ) {
        throw new ConflictError(
          `Configuration '${input.layer}' of plugin '${input.pluginId}' is at version ${latest}, not the expected ${input.expectedVersion}; read it again and retry`,
        );
      }
      const row = {
        plugin_id: input.pluginId,
        layer: input.layer,
        version: latest + 1,
        entries: toJson(input.entries),
        key_ids: input.keyIds.length
          ? [...new Set(input.keyIds)].sort().join(',')
          : null,
        author: input.author ?? null,
        description: input.description ?? null,
        rolled_back_from: input.rolledBackFrom ?? null,
        created_at: now(),
      };
      try {
        const [inserted] = await this.#db<ConfigVersionRow>(
          'config_versions',
        ).insert(row, ['revision']);
        const revision =
          typeof inserted === 'object' ? inserted.revision : inserted;
        return rowToVersion({ ...row, revision } as ConfigVersionRow);
      } catch (error) {
        if (!isUniqueViolation(error) || attempt >= 5) throw error;
        if (input.expectedVersion !== undefined) {
          throw new ConflictError(
            `Configuration '${input.layer}' of plugin '${input.pluginId}' changed while writing; read it again and retry`,
          );
        }
      }
    }
  }

  async latestVersionNumber(pluginId: string, layer: string): Promise<number> {
    const row = await this.#db('config_versions')
      .where({ plugin_id: pluginId, layer })
      .max({ v: 'version' })
      .first();
    return Number(row?.v ?? 0);
  }

  /** The oldest version of a layer still kept (0: none); older ones were pruned. */
  async earliestVersionNumber(
    pluginId: string,
    layer: string,
  ): Promise<number> {
    const row = await this.#db('config_versions')
      .where({ plugin_id: pluginId, layer })
      .min({ v: 'version' })
      .first();
    return Number(row?.v ?? 0);
  }

  /**
   * The latest version of a layer; or the latest written at or before `at`,
   * or with a revision up to `maxRevision`.
   */
  async latest(
    pluginId: string,
    layer: string,
    at?: string,
    maxRevision?: number,
  ): Promise<StoredConfigVersion | undefined> {
    const query = this.#db<ConfigVersionRow>('config_versions')
      .where({ plugin_id: pluginId, layer })
      .orderBy('version', 'desc')
      .first();
    if (at) query.where('created_at', '<=', new Date(at).toISOString());
    if (maxRevision !== undefined) query.where('revision', '<=', maxRevision);
    const row = await query;
    return row ? rowToVersion(row) : undefined;
  }

  async get(
    pluginId: string,
    layer: string,
    version: number,
  ): Promise<StoredConfigVersion | undefined> {
    const row = await this.#db<ConfigVersionRow>('config_versions')
      .where({ plugin_id: pluginId, layer, version })
      .first();
    return row ? rowToVersion(row) : undefined;
  }

  /** Versions of a layer, newest first, without their entries' values. */
  async list(
    pluginId: string,
    layer: string,
  ): Promise<Array<StoredConfigVersion & { entryCount: number }>> {
    const rows: ConfigVersionRow[] = await this.#db('config_versions')
      .where({ plugin_id: pluginId, layer })
      .orderBy('version', 'desc')
      .select([...SUMMARY_COLUMNS, 'entries']);
    return rows.map(row => {
      const version = rowToVersion(row);
      return { ...version, entryCount: version.entries.length };
    });
  }

  /** Every stored version, for export; ordered by revision. */
  async listAll(pluginIds?: string[]): Promise<StoredConfigVersion[]> {
    const query = this.#db<ConfigVersionRow>('config_versions').orderBy(
      'revision',
      'asc',
    );
    if (pluginIds) query.whereIn('plugin_id', pluginIds);
    return (await query).map(rowToVersion);
  }

  /** Deletes the oldest versions of a layer beyond the newest `keep`. */
  async prune(pluginId: string, layer: string, keep: number): Promise<number> {
    const latest = await this.latestVersionNumber(pluginId, layer);
    if (latest <= keep) return 0;
    return this.#db('config_versions')
      .where({ plugin_id: pluginId, layer })
      .where('version', '<=', latest - keep)
      .delete();
  }

  /** Changes after a revision, oldest first, for the cross-replica feed. */
  async changesSince(revision: number, limit = 500): Promise<ConfigChange[]> {
    const rows = await this.#db<ConfigVersionRow>('config_versions')
      .where('revision', '>', revision)
      .orderBy('revision', 'asc')
      .limit(limit)
      .select(['revision', 'plugin_id', 'layer', 'version']);
    return rows.map(r => ({
      revision: Number(r.revision),
      pluginId: r.plugin_id,
      layer: r.layer,
      version: Number(r.version),
    }));
  }

  async maxRevision(): Promise<number> {
    const row = await this.#db('config_versions')
      .max({ r: 'revision' })
      .first();
    return Number(row?.r ?? 0);
  }

  /** The key ids that seal stored secrets, with one version sealed by each. */
  async keyIdsInUse(): Promise<Map<string, StoredConfigVersion>> {
    const rows = await this.#db<ConfigVersionRow>('config_versions')
      .whereNotNull('key_ids')
      .orderBy('revision', 'desc');
    const byKey = new Map<string, StoredConfigVersion>();
    for (const row of rows) {
      const version = rowToVersion(row);
      for (const kid of version.keyIds) {
        if (!byKey.has(kid)) byKey.set(kid, version);
      }
    }
    return byKey;
  }

  /**
   * Versions with a secret sealed by a key other than `activeKeyId`, or in
   * the first envelope format (no `v`: its `kid` follows `$sealed` in the
   * stored JSON text, which keeps the order it was written in).
   */
  async listSealedWithOtherKeys(
    activeKeyId: string,
    limit = 100,
  ): Promise<StoredConfigVersion[]> {
    const rows = await this.#db<ConfigVersionRow>('config_versions')
      .whereNotNull('key_ids')
      .where(q =>
        q
          .whereNot('key_ids', activeKeyId)
          .orWhere('entries', 'like', '%"$sealed":"aes-256-gcm","kid"%'),
      )
      .orderBy('revision', 'asc')
      .limit(limit);
    return rows.map(rowToVersion);
  }

  /**
   * Replaces the sealed envelopes of one version after re-sealing them with
   * another key; the plaintext content is the same, so history is unchanged.
   * Only writes if the version still has the key ids it was read with.
   */
  async resealed(
    version: StoredConfigVersion,
    entries: StoredConfigEntry[],
    keyIds: string[],
  ): Promise<boolean> {
    const updated = await this.#db('config_versions')
      .where({ revision: version.revision })
      .where('key_ids', version.keyIds.join(','))
      .update({
        entries: toJson(entries),
        key_ids: [...new Set(keyIds)].sort().join(',') || null,
      });
    return updated > 0;
  }

  /** Records that a secret's rotation date was notified; false if it already was. */
  async markRotationNotified(notice: {
    pluginId: string;
    layer: string;
    key: string;
    dueAt: string;
  }): Promise<boolean> {
    try {
      await this.#db('config_rotation_notices').insert({
        plugin_id: notice.pluginId,
        layer: notice.layer,
        key: notice.key,
        due_at: notice.dueAt,
        notified_at: now(),
      });
      return true;
    } catch (error) {
      if (isUniqueViolation(error)) return false;
      throw error;
    }
  }

  /** The latest version of every layer that has a secret with a rotation date. */
  async latestWithRotationDates(): Promise<StoredConfigVersion[]> {
    const latest = this.#db('config_versions')
      .select('plugin_id', 'layer')
      .max({ version: 'version' })
      .groupBy('plugin_id', 'layer')
      .as('latest');
    const rows = await this.#db<ConfigVersionRow>('config_versions as v')
      .join(latest, join =>
        join
          .on('v.plugin_id', 'latest.plugin_id')
          .andOn('v.layer', 'latest.layer')
          .andOn('v.version', 'latest.version'),
      )
      .where('v.entries', 'like', '%"rotateAt"%')
      .select('v.*');
    return rows.map(rowToVersion);
  }
}
