import { ConflictError, NotFoundError } from '@backstage/errors';
import {
  Artifact,
  ConfigurationEntry,
  LifecycleState,
  PluginManifest,
  PluginSummary,
  PluginVersion,
  ProbeDefinition,
  StateTransition,
  isTransitional,
} from '@internal/plugin-lifecycle-common';
import { BreakerState } from '../domain/orchestration';
import { Knex } from 'knex';
import { fromJson, now, optional, toIso, toJson } from './mappers';

type PluginRow = {
  id: string;
  tenant: string;
  entity_ref: string | null;
  runtime: string;
  state: string;
  revision: number;
  desired_state: string | null;
  current_version: string | null;
  replicas: number;
  environment: string | null;
  configuration: string | null;
  probes: string | null;
  last_error: string | null;
  operation_id: string | null;
  breaker: string | null;
  config_revision: number | string | null;
  created_at: Date | string;
  updated_at: Date | string;
};

type VersionRow = {
  plugin_id: string;
  version: string;
  artifact: string;
  manifest: string;
  location: string | null;
  installed_at: Date | string;
};

type TransitionRow = {
  id: number | string;
  plugin_id: string;
  from_state: string;
  to_state: string;
  action: string;
  operation_id: string | null;
  actor: string | null;
  reason: string | null;
  created_at: Date | string;
};

/** A plugin as stored, with what the engines need beyond the summary. */
export interface PluginRecord extends PluginSummary {
  environment?: string;
  configuration: ConfigurationEntry[];
  probes: ProbeDefinition[];
  /** The operation holding the current transitional state, if any. */
  operationId?: string;
  breaker?: BreakerState;
  /** The configuration revision the running instances use. */
  configRevision?: number;
}

/** The fields that can change outside a state transition. */
export type PluginPatch = Partial<
  Pick<
    PluginRecord,
    | 'tenant'
    | 'entityRef'
    | 'runtime'
    | 'desiredState'
    | 'currentVersion'
    | 'replicas'
    | 'environment'
    | 'configuration'
    | 'probes'
    | 'lastError'
    | 'breaker'
    | 'configRevision'
  >
>;

export interface StoredVersion extends PluginVersion {
  location?: string;
}

export interface TransitionInput {
  pluginId: string;
  from: LifecycleState;
  to: LifecycleState;
  expectedRevision: number;
  action: string;
  operationId?: string;
  actor?: string;
  reason?: string;
  patch?: PluginPatch;
}

const PLUGIN_COLUMNS = [
  'id',
  'tenant',
  'entity_ref',
  'runtime',
  'state',
  'revision',
  'desired_state',
  'current_version',
  'replicas',
  'environment',
  'configuration',
  'probes',
  'last_error',
  'operation_id',
  'breaker',
  'config_revision',
  'created_at',
  'updated_at',
];

function rowToPlugin(row: PluginRow): PluginRecord {
  return {
    id: row.id,
    tenant: row.tenant,
    entityRef: optional(row.entity_ref),
    runtime: row.runtime,
    state: row.state as LifecycleState,
    revision: Number(row.revision),
    desiredState: optional(row.desired_state) as LifecycleState | undefined,
    currentVersion: optional(row.current_version),
    replicas: Number(row.replicas),
    environment: optional(row.environment),
    configuration: fromJson(row.configuration, []),
    probes: fromJson(row.probes, []),
    lastError: optional(row.last_error),
    operationId: optional(row.operation_id),
    breaker: fromJson<BreakerState | undefined>(row.breaker, undefined),
    configRevision:
      row.config_revision === null || row.config_revision === undefined
        ? undefined
        : Number(row.config_revision),
    createdAt: toIso(row.created_at),
    updatedAt: toIso(row.updated_at),
  };
}

function patchToRow(patch: PluginPatch): Partial<PluginRow> {
  const row: Partial<PluginRow> = {};
  if ('tenant' in patch) row.tenant = patch.tenant!;
  if ('entityRef' in patch) row.entity_ref = patch.entityRef ?? null;
  if ('runtime' in patch) row.runtime = patch.runtime!;
  if ('desiredState' in patch) row.desired_state = patch.desiredState ?? null;
  if ('currentVersion' in patch)
    row.current_version = patch.currentVersion ?? null;
  if ('replicas' in patch) row.replicas = patch.replicas!;
  if ('environment' in patch) row.environment = patch.environment ?? null;
  if ('configuration' in patch)
    row.configuration = toJson(patch.configuration ?? []);
  if ('probes' in patch) row.probes = toJson(patch.probes ?? []);
  if ('lastError' in patch) row.last_error = patch.lastError ?? null;
  if ('breaker' in patch)
    row.breaker = patch.breaker ? toJson(patch.breaker) : null;
  if ('configRevision' in patch)
    row.config_revision = patch.configRevision ?? null;
  return row;
}

function rowToVersion(row: VersionRow): StoredVersion {
  return {
    pluginId: row.plugin_id,
    version: row.version,
    artifact: fromJson<Artifact>(row.artifact, undefined as any),
    manifest: fromJson<PluginManifest>(row.manifest, {}),
    location: optional(row.location),
    installedAt: toIso(row.installed_at),
  };
}

function rowToTransition(row: TransitionRow): StateTransition {
  return {
    id: Number(row.id),
    pluginId: row.plugin_id,
    fromState: row.from_state as LifecycleState,
    toState: row.to_state as LifecycleState,
    action: row.action,
    operationId: optional(row.operation_id),
    actor: optional(row.actor),
    reason: optional(row.reason),
    createdAt: toIso(row.created_at),
  };
}

/**
 * Plugins, their installed versions and their state history: one aggregate,
 * because a state change and its history entry are written together.
 */
export class PluginStore {
  readonly #db: Knex;
  readonly #isPostgres: boolean;

  private constructor(db: Knex) {
    this.#db = db;
    this.#isPostgres = db.client.config.client === 'pg';
  }

  static create(options: { db: Knex }): PluginStore {
    return new PluginStore(options.db);
  }

  async get(pluginId: string): Promise<PluginRecord | undefined> {
    const row = (await this.#db<PluginRow>('plugins')
      .select(PLUGIN_COLUMNS)
      .where({ id: pluginId })
      .first()) as PluginRow | undefined;
    return row ? rowToPlugin(row) : undefined;
  }

  async getOrThrow(pluginId: string): Promise<PluginRecord> {
    const plugin = await this.get(pluginId);
    if (!plugin) {
      throw new NotFoundError(`No plugin with id '${pluginId}'`);
    }
    return plugin;
  }

  async list(
    filter: {
      state?: LifecycleState;
      tenant?: string;
      entityRef?: string;
    } = {},
  ): Promise<PluginRecord[]> {
    const query = this.#db<PluginRow>('plugins')
      .select(PLUGIN_COLUMNS)
      .orderBy('id');
    if (filter.state) query.where('state', filter.state);
    if (filter.tenant) query.where('tenant', filter.tenant);
    if (filter.entityRef) query.where('entity_ref', filter.entityRef);
    return ((await query) as unknown as PluginRow[]).map(rowToPlugin);
  }

  /** Creates a plugin in the `inactive` state. */
  async create(input: {
    id: string;
    tenant: string;
    runtime: string;
    entityRef?: string;
    replicas?: number;
  }): Promise<PluginRecord> {
    const timestamp = now();
    try {
      await this.#db<PluginRow>('plugins').insert({
        id: input.id,
        tenant: input.tenant,
        entity_ref: input.entityRef ?? null,
        runtime: input.runtime,
        state: 'inactive',
        revision: 0,
        replicas: input.replicas ?? 1,
        configuration: toJson([]),
        probes: toJson([]),
        created_at: timestamp,
        updated_at: timestamp,
      });
    } catch (error) {
      if (await this.get(input.id)) {
        throw new ConflictError(`Plugin '${input.id}' already exists`);
      }
      throw error;
    }
    return {
      id: input.id,
      tenant: input.tenant,
      entityRef: input.entityRef,
      runtime: input.runtime,
      state: 'inactive',
      revision: 0,
      replicas: input.replicas ?? 1,
      configuration: [],
      probes: [],
      createdAt: timestamp,
      updatedAt: timestamp,
    };
  }

  /** The manifest dependencies of every plugin's current version, in one query. */
  async dependencyView(): Promise<
    Array<{ id: string; state: LifecycleState; dependencies: string[] }>
  > {
    const rows = await this.#db('plugins as p')
      .leftJoin('plugin_versions as v', join =>
        join
          .on('v.plugin_id', '=', 'p.id')
          .andOn('v.version', '=', 'p.current_version'),
      )
      .select('p.id', 'p.state', 'v.manifest');
    return rows.map(
      (r: { id: string; state: string; manifest: string | null }) => ({
        id: r.id,
        state: r.state as LifecycleState,
        dependencies: (
          fromJson<PluginManifest>(r.manifest, {}).dependencies ?? []
        ).map(d => d.pluginId),
      }),
    );
  }

  async update(pluginId: string, patch: PluginPatch): Promise<void> {
    const count = await this.#db<PluginRow>('plugins')
      .where({ id: pluginId })
      .update({ ...patchToRow(patch), updated_at: now() });
    if (count === 0) {
      throw new NotFoundError(`No plugin with id '${pluginId}'`);
    }
  }

  /**
   * Moves a plugin from one state to another if nobody changed it since it was
   * read (same state and revision), and records the change in the history,
   * in one transaction.
   */
  async transition(input: TransitionInput): Promise<PluginRecord> {
    await this.applyTransition(input);
    return this.getOrThrow(input.pluginId);
  }

  /**
   * {@link PluginStore.transition} without reading the plugin back, for
   * callers that hold the record they changed (the hot path of every action).
   */
  async applyTransition(
    input: TransitionInput,
  ): Promise<{ updatedAt: string }> {
    const timestamp = now();
    const update = (db: Knex) =>
      db<PluginRow>('plugins')
        .where({
          id: input.pluginId,
          state: input.from,
          revision: input.expectedRevision,
        })
        .update({
          ...patchToRow(input.patch ?? {}),
          state: input.to,
          revision: input.expectedRevision + 1,
          // A transitional state belongs to the operation that entered it, so
          // a replica taking the operation over can tell it may resume.
          operation_id: isTransitional(input.to)
            ? input.operationId ?? null
            : null,
          updated_at: timestamp,
        });
    const history = [
      input.pluginId,
      input.from,
      input.to,
      input.action,
      input.operationId ?? null,
      input.actor ?? null,
      input.reason ?? null,
      timestamp,
    ];
    let changed: boolean;
    if (this.#isPostgres) {
      // One statement, atomic on its own: the update and its history entry
      // (every lifecycle action makes two of these; one round trip each).
      const sql = update(this.#db).returning('id').toSQL();
      const result = await this.#db.raw(
        `WITH changed AS (${sql.sql})
         INSERT INTO state_transitions (plugin_id, from_state, to_state, action, operation_id, actor, reason, created_at)
         SELECT ?, ?, ?, ?, ?, ?, ?, ? FROM changed
         RETURNING id`,
        [...sql.bindings, ...history],
      );
      changed = result.rows.length > 0;
    } else {
      changed = await this.#db.transaction(async tx => {
        if ((await update(tx)) === 0) return false;
        await tx<TransitionRow>('state_transitions').insert({
          plugin_id: input.pluginId,
          from_state: input.from,
          to_state: input.to,
          action: input.action,
          operation_id: input.operationId ?? null,
          actor: input.actor ?? null,
          reason: input.reason ?? null,
          created_at: timestamp,
        });
        return true;
      });
    }
    if (!changed) {
      const current = await this.#db<PluginRow>('plugins')
        .select('state', 'revision')
        .where({ id: input.pluginId })
        .first();
      if (!current) {
        throw new NotFoundError(`No plugin with id '${input.pluginId}'`);
      }
      throw new ConflictError(
        `Plugin '${input.pluginId}' changed concurrently: expected state '${input.from}' at revision ${input.expectedRevision}, found '${current.state}' at revision ${current.revision}`,
      );
    }
    return { updatedAt: timestamp };
  }

  async history(
    pluginId: string,
    options: { limit?: number } = {},
  ): Promise<StateTransition[]> {
    const rows = await this.#db<TransitionRow>('state_transitions')
      .select('*')
      .where({ plugin_id: pluginId })
      .orderBy('id', 'asc')
      .limit(options.limit ?? 500);
    return rows.map(rowToTransition);
  }

  async putVersion(version: StoredVersion): Promise<void> {
    await this.#db<VersionRow>('plugin_versions')
      .insert({
        plugin_id: version.pluginId,
        version: version.version,
        artifact: toJson(version.artifact),
        manifest: toJson(version.manifest),
        location: version.location ?? null,
        installed_at: version.installedAt,
      })
      .onConflict(['plugin_id', 'version'])
      .merge();
  }

  async listVersions(pluginId: string): Promise<StoredVersion[]> {
    const rows = await this.#db<VersionRow>('plugin_versions')
      .select('*')
      .where({ plugin_id: pluginId })
      .orderBy('installed_at', 'asc');
    return rows.map(rowToVersion);
  }

  async getVersion(
    pluginId: string,
    version: string,
  ): Promise<StoredVersion | undefined> {
    const row = await this.#db<VersionRow>('plugin_versions')
      .select('*')
      .where({ plugin_id: pluginId, version })
      .first();
    return row ? rowToVersion(row) : undefined;
  }

  async deleteVersion(pluginId: string, version: string): Promise<void> {
    await this.#db('plugin_versions')
      .where({ plugin_id: pluginId, version })
      .delete();
  }
}
