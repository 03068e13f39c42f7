import { Knex } from 'knex';
import { toIso } from './mappers';

type CatalogSyncRow = {
  plugin_id: string;
  entity_ref: string | null;
  acted_on: string | null;
  deployment_id: string | null;
  status: string;
  reason: string | null;
  updated_at: Date | string;
};

const COLUMNS = [
  'plugin_id',
  'entity_ref',
  'acted_on',
  'deployment_id',
  'status',
  'reason',
  'updated_at',
] as const;

/** What catalog sync recorded for one plugin after its last pass. */
export interface CatalogSyncRecord {
  pluginId: string;
  entityRef?: string;
  /** The declared state (its fingerprint) deployed or found running last. */
  actedOn?: string;
  /** The deployment started for `actedOn`. */
  deploymentId?: string;
  status: string;
  reason?: string;
  updatedAt: string;
}

function rowToRecord(row: CatalogSyncRow): CatalogSyncRecord {
  return {
    pluginId: row.plugin_id,
    ...(row.entity_ref ? { entityRef: row.entity_ref } : {}),
    ...(row.acted_on ? { actedOn: row.acted_on } : {}),
    ...(row.deployment_id ? { deploymentId: row.deployment_id } : {}),
    status: row.status,
    ...(row.reason ? { reason: row.reason } : {}),
    updatedAt: toIso(row.updated_at),
  };
}

/** Catalog sync's record per plugin: one row, replaced on each change. */
export class CatalogSyncStore {
  readonly #db: Knex;

  private constructor(db: Knex) {
    this.#db = db;
  }

  static create(options: { db: Knex }): CatalogSyncStore {
    return new CatalogSyncStore(options.db);
  }

  async get(pluginId: string): Promise<CatalogSyncRecord | undefined> {
    const row = await this.#db<CatalogSyncRow>('catalog_sync')
      .select(...COLUMNS)
      .where({ plugin_id: pluginId })
      .first();
    return row && rowToRecord(row as CatalogSyncRow);
  }

  /** Every record, by plugin id. */
  async list(): Promise<CatalogSyncRecord[]> {
    const rows = await this.#db<CatalogSyncRow>('catalog_sync')
      .select(...COLUMNS)
      .orderBy('plugin_id');
    return (rows as CatalogSyncRow[]).map(rowToRecord);
  }

  /** Writes the plugin's record (replacing the one before); the stored record. */
  async put(
    record: Omit<CatalogSyncRecord, 'updatedAt'>,
    now: Date = new Date(),
  ): Promise<CatalogSyncRecord> {
    const row: CatalogSyncRow = {
      plugin_id: record.pluginId,
      entity_ref: record.entityRef ?? null,
      acted_on: record.actedOn ?? null,
      deployment_id: record.deploymentId ?? null,
      status: record.status,
      reason: record.reason ?? null,
      updated_at: now.toISOString(),
    };
    await this.#db<CatalogSyncRow>('catalog_sync')
      .insert(row)
      .onConflict('plugin_id')
      .merge(COLUMNS.filter(c => c !== 'plugin_id'));
    return rowToRecord(row);
  }
}
