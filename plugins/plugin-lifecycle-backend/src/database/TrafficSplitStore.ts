import { Knex } from 'knex';
import { SubsetMatch, TrafficSplit } from '../domain/loadBalancing';
import { fromJson, toIso, toJson } from './mappers';
import { recordServiceChange } from './serviceChanges';

type TrafficSplitRow = {
  tenant: string;
  service_name: string;
  weights: string;
  match: string | null;
  revision: number | string;
  updated_at: Date | string;
};

/**
 * A service's traffic split as stored.
 *
 * @public
 */
export interface StoredTrafficSplit extends TrafficSplit {
  tenant: string;
  serviceName: string;
  /** The `service_changes` entry of the last write. */
  revision: number;
  updatedAt: string;
}

function rowToSplit(row: TrafficSplitRow): StoredTrafficSplit {
  const match = fromJson<SubsetMatch | null>(row.match, null);
  return {
    tenant: row.tenant,
    serviceName: row.service_name,
    weights: fromJson<Record<string, number>>(row.weights, {}),
    ...(match ? { match } : {}),
    revision: Number(row.revision),
    updatedAt: toIso(row.updated_at),
  };
}

/** What the change log names a split by (diagnostics only). */
const changeId = (tenant: string, serviceName: string) =>
  `${tenant}/${serviceName}`.slice(0, 255);

/**
 * The traffic splits of services, shared by every backend replica. Each
 * write appends a `split` entry to the discovery change log in its own
 * transaction (NOTIFY on PostgreSQL, on commit), which is how the other
 * replicas learn of it.
 */
export class TrafficSplitStore {
  readonly #db: Knex;

  private constructor(db: Knex) {
    this.#db = db;
  }

  static create(options: { db: Knex }): TrafficSplitStore {
    return new TrafficSplitStore(options.db);
  }

  /** Every stored split, by tenant and service name. */
  async list(): Promise<StoredTrafficSplit[]> {
    const rows = await this.#db<TrafficSplitRow>('traffic_splits')
      .select('*')
      .orderBy(['tenant', 'service_name']);
    return rows.map(rowToSplit);
  }

  async get(
    tenant: string,
    serviceName: string,
  ): Promise<StoredTrafficSplit | undefined> {
    const row = await this.#db<TrafficSplitRow>('traffic_splits')
      .where({ tenant, service_name: serviceName })
      .first();
    return row && rowToSplit(row);
  }

  /** Sets (or replaces) a service's split; the stored split. */
  async put(
    tenant: string,
    serviceName: string,
    split: TrafficSplit,
    now: Date = new Date(),
  ): Promise<StoredTrafficSplit> {
    const timestamp = now.toISOString();
    return this.#db.transaction(async tx => {
      const revision = await recordServiceChange(
        tx,
        changeId(tenant, serviceName),
        'split',
        timestamp,
      );
      const row: TrafficSplitRow = {
        tenant,
        service_name: serviceName,
        weights: toJson(split.weights),
        match: split.match ? toJson(split.match) : null,
        revision,
        updated_at: timestamp,
      };
      await tx<TrafficSplitRow>('traffic_splits')
        .insert(row)
        .onConflict(['tenant', 'service_name'])
        .merge(['weights', 'match', 'revision', 'updated_at']);
      return rowToSplit(row);
    });
  }

  /** Ends a service's split; the revision of the change, or undefined when it had none. */
  async delete(
    tenant: string,
    serviceName: string,
    now: Date = new Date(),
  ): Promise<number | undefined> {
    return this.#db.transaction(async tx => {
      const deleted = await tx('traffic_splits')
        .where({ tenant, service_name: serviceName })
        .delete();
      if (deleted === 0) return undefined;
      return recordServiceChange(
        tx,
        changeId(tenant, serviceName),
        'split',
        now.toISOString(),
      );
    });
  }
}
