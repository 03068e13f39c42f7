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
import { Coalescer, runNamed } from './OperationStore';

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

/** What creating a plugin takes. */
export interface NewPlugin {
  id: string;
  tenant: string;
  runtime: string;
  entityRef?: string;
  replicas?: number;
}

/** Rows per statement (and ids per lookup) of the several-at-once methods. */
const MANY_CHUNK = 500;

function newPluginRow(input: NewPlugin, timestamp: string) {
  return {
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
  };
}

function newPluginRecord(input: NewPlugin, timestamp: string): PluginRecord {
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

/** A transition on its way to PostgreSQL, with the time it was asked for. */
type TransitionWrite = { input: TransitionInput; timestamp: string };

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

/** The columns a {@link PluginPatch} may set, with their PostgreSQL types. */
const PATCH_COLUMNS: Array<[keyof PluginRow, string]> = [
  ['tenant', 'text'],
  ['entity_ref', 'text'],
  ['runtime', 'text'],
  ['desired_state', 'text'],
  ['current_version', 'text'],
  ['replicas', 'int'],
  ['environment', 'text'],
  ['configuration', 'text'],
  ['probes', 'text'],
  ['last_error', 'text'],
  ['breaker', 'text'],
  ['config_revision', 'bigint'],
];

/**
 * PostgreSQL: several transitions (of distinct plugins) in one statement,
 * each with its history entry and each with its own optimistic check; the
 * ids of the plugins that moved come back. A patch column is set only where
 * the transition's patch has it (`set_<column>`).
 */
const PG_TRANSITIONS = `
WITH v AS (
  SELECT * FROM json_to_recordset(?::json) AS x(
    ord int, id text, from_state text, expected int, to_state text,
    operation_id text, updated_at timestamptz, action text,
    history_operation_id text, actor text, reason text,
    ${PATCH_COLUMNS.map(([c, type]) => `${c} ${type}, set_${c} boolean`).join(
      ', ',
    )})
),
changed AS (
  UPDATE plugins p
  SET state = v.to_state,
      revision = v.expected + 1,
      operation_id = v.operation_id,
      updated_at = v.updated_at,
      ${PATCH_COLUMNS.map(
        ([c]) => `${c} = CASE WHEN v.set_${c} THEN v.${c} ELSE p.${c} END`,
      ).join(', ')}
  FROM v
  WHERE p.id = v.id AND p.state = v.from_state AND p.revision = v.expected
  RETURNING v.ord, v.id, v.from_state, v.to_state, v.action,
            v.history_operation_id, v.actor, v.reason, v.updated_at
)
INSERT INTO state_transitions
  (plugin_id, from_state, to_state, action, operation_id, actor, reason, created_at)
SELECT id, from_state, to_state, action, history_operation_id, actor, reason, updated_at
FROM changed ORDER BY ord
RETURNING plugin_id`;

/** PostgreSQL: plugins by id, in one statement. */
const PG_GET = `SELECT ${PLUGIN_COLUMNS.join(
  ', ',
)} FROM plugins WHERE id = ANY(?::text[])`;

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

/** PostgreSQL: several versions stored (or replaced) in one statement. */
const PG_PUT_VERSIONS = `
INSERT INTO plugin_versions (plugin_id, version, artifact, manifest, location, installed_at)
SELECT plugin_id, version, artifact, manifest, location, installed_at
FROM json_to_recordset(?::json) AS v(plugin_id text, version text, artifact text,
                                    manifest text, location text, installed_at timestamptz)
ON CONFLICT (plugin_id, version) DO UPDATE
SET artifact = excluded.artifact, manifest = excluded.manifest,
    location = excluded.location, installed_at = excluded.installed_at`;

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

function versionToRow(version: StoredVersion): VersionRow {
  return {
    plugin_id: version.pluginId,
    version: version.version,
    artifact: toJson(version.artifact),
    manifest: toJson(version.manifest),
    location: version.location ?? null,
    installed_at: version.installedAt,
  };
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
  /**
   * On PostgreSQL, what many operations do at once (read a plugin, move it,
   * store a version) goes out in shared statements: see {@link Coalescer}.
   */
  readonly #gets: Coalescer<string, PluginRow | undefined>;
  readonly #transitions: Coalescer<TransitionWrite, boolean>;
  readonly #versions: Coalescer<StoredVersion, undefined>;

  private constructor(db: Knex) {
    this.#db = db;
    this.#isPostgres = db.client.config.client === 'pg';
    this.#gets = new Coalescer({
      run: ids => this.#getMany(ids),
    });
    this.#transitions = new Coalescer({
      run: writes => this.#transitionMany(writes),
      // one transition per plugin per statement: the next one expects the
      // revision this one makes
      key: w => w.input.pluginId,
    });
    this.#versions = new Coalescer({
      run: async versions => {
        await runNamed(this.#db, 'plt_put_versions', PG_PUT_VERSIONS, [
          JSON.stringify(versions.map(versionToRow)),
        ]);
        return versions.map(() => undefined);
      },
      key: v => JSON.stringify([v.pluginId, v.version]),
    });
  }

  static create(options: { db: Knex }): PluginStore {
    return new PluginStore(options.db);
  }

  async get(pluginId: string): Promise<PluginRecord | undefined> {
    const row = this.#isPostgres
      ? await this.#gets.submit(pluginId)
      : ((await this.#db<PluginRow>('plugins')
          .select(PLUGIN_COLUMNS)
          .where({ id: pluginId })
          .first()) as PluginRow | undefined);
    return row ? rowToPlugin(row) : undefined;
  }

  async #getMany(ids: string[]): Promise<Array<PluginRow | undefined>> {
    const { rows } = await runNamed(this.#db, 'plt_get_plugins', PG_GET, [
      [...new Set(ids)],
    ]);
    const byId = new Map<string, PluginRow>(
      (rows as PluginRow[]).map(r => [r.id, r]),
    );
    return ids.map(id => byId.get(id));
  }

  /**
   * The plugins with these ids that exist, in one query (where a caller
   * would otherwise look them up one at a time, e.g. a batch request).
   */
  async getMany(pluginIds: string[]): Promise<Map<string, PluginRecord>> {
    const found = new Map<string, PluginRecord>();
    const ids = [...new Set(pluginIds)];
    for (let i = 0; i < ids.length; i += MANY_CHUNK) {
      const chunk = ids.slice(i, i + MANY_CHUNK);
      const rows = this.#isPostgres
        ? (await this.#getMany(chunk)).filter(
            (r): r is PluginRow => r !== undefined,
          )
        : ((await this.#db<PluginRow>('plugins')
            .select(PLUGIN_COLUMNS)
            .whereIn('id', chunk)) as unknown as PluginRow[]);
      for (const row of rows) found.set(row.id, rowToPlugin(row));
    }
    return found;
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
      /** Only plugins of these tenants (a caller's scope). */
      tenants?: string[];
      /** A page: plugins with ids after this one... */
      after?: string;
      /** ...at most this many. */
      limit?: number;
    } = {},
  ): Promise<PluginRecord[]> {
    const query = this.#db<PluginRow>('plugins')
      .select(PLUGIN_COLUMNS)
      .orderBy('id');
    if (filter.state) query.where('state', filter.state);
    if (filter.tenant) query.where('tenant', filter.tenant);
    if (filter.entityRef) query.where('entity_ref', filter.entityRef);
    if (filter.tenants) query.whereIn('tenant', filter.tenants);
    if (filter.after !== undefined) query.where('id', '>', filter.after);
    if (filter.limit !== undefined) query.limit(filter.limit);
    return ((await query) as unknown as PluginRow[]).map(rowToPlugin);
  }

  /** Creates a plugin in the `inactive` state. */
  async create(input: NewPlugin): Promise<PluginRecord> {
    const timestamp = now();
    const row = newPluginRow(input, timestamp);
    try {
      if (this.#isPostgres) {
        await runNamed(this.#db, 'plt_create_plugin', PG_CREATE, [
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
        await this.#db<PluginRow>('plugins').insert(row);
      }
    } catch (error) {
      if (await this.get(input.id)) {
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
  async createMany(inputs: NewPlugin[]): Promise<PluginRecord[]> {
    if (inputs.length === 0) return [];
    const timestamp = now();
    const rows = inputs.map(input => newPluginRow(input, timestamp));
    try {
      if (this.#isPostgres) {
        // One statement whatever the number (the rows are one JSON
        // parameter, not eleven bindings each): atomic on its own.
        await runNamed(this.#db, 'plt_create_plugins', PG_CREATE_MANY, [
          JSON.stringify(rows),
        ]);
      } else {
        await this.#db.transaction(async tx => {
          for (let i = 0; i < rows.length; i += MANY_CHUNK) {
            await tx<PluginRow>('plugins').insert(
              rows.slice(i, i + MANY_CHUNK),
            );
          }
        });
      }
    } catch (error) {
      const existing = await this.getMany(inputs.map(i => i.id));
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

  /** The manifest dependencies of every plugin's current version, in one query. */
  async dependencyView(): Promise<
    Array<{
      id: string;
      tenant: string;
      state: LifecycleState;
      dependencies: string[];
    }>
  > {
    const rows = await this.#db('plugins as p')
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
    if (this.#isPostgres) {
      // One statement, atomic on its own: the update and its history entry
      // (every lifecycle action makes two of these), shared with the
      // transitions other operations make at the same moment.
      if (!(await this.#transitions.submit({ input, timestamp }))) {
        await this.#conflict(input);
      }
      return { updatedAt: timestamp };
    }
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
    const changed = await this.#db.transaction(async tx => {
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
    if (!changed) await this.#conflict(input);
    return { updatedAt: timestamp };
  }

  /** Why a transition did not apply: the plugin is gone or moved on. */
  async #conflict(input: TransitionInput): Promise<never> {
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

  /** PostgreSQL: transitions of distinct plugins in one statement; which applied. */
  async #transitionMany(writes: TransitionWrite[]): Promise<boolean[]> {
    const input = writes.map(({ input: t, timestamp }, ord) => {
      const patch = patchToRow(t.patch ?? {}) as Record<string, unknown>;
      const row: Record<string, unknown> = {
        ord,
        id: t.pluginId,
        from_state: t.from,
        expected: t.expectedRevision,
        to_state: t.to,
        // A transitional state belongs to the operation that entered it.
        operation_id: isTransitional(t.to) ? t.operationId ?? null : null,
        updated_at: timestamp,
        action: t.action,
        history_operation_id: t.operationId ?? null,
        actor: t.actor ?? null,
        reason: t.reason ?? null,
      };
      for (const [column] of PATCH_COLUMNS) {
        // as knex's update does, a patch field given as undefined is left alone
        if (patch[column] !== undefined) {
          row[column] = patch[column];
          row[`set_${column}`] = true;
        }
      }
      return row;
    });
    // in plugin id order (see OperationStore's outcomes)
    input.sort((a, b) => (String(a.id) < String(b.id) ? -1 : 1));
    const { rows } = await runNamed(
      this.#db,
      'plt_transitions',
      PG_TRANSITIONS,
      [JSON.stringify(input)],
    );
    const moved = new Set(rows.map((r: { plugin_id: string }) => r.plugin_id));
    return writes.map(w => moved.has(w.input.pluginId));
  }

  async history(
    pluginId: string,
    options: { limit?: number; afterId?: number } = {},
  ): Promise<StateTransition[]> {
    const query = this.#db<TransitionRow>('state_transitions')
      .select('*')
      .where({ plugin_id: pluginId })
      .orderBy('id', 'asc')
      .limit(options.limit ?? 500);
    if (options.afterId !== undefined) query.where('id', '>', options.afterId);
    const rows = await query;
    return rows.map(rowToTransition);
  }

  /** The plugin's latest state transition, if any. */
  async lastTransition(pluginId: string): Promise<StateTransition | undefined> {
    const row = await this.#db<TransitionRow>('state_transitions')
      .select('*')
      .where({ plugin_id: pluginId })
      .orderBy('id', 'desc')
      .first();
    return row && rowToTransition(row);
  }

  async putVersion(version: StoredVersion): Promise<void> {
    if (this.#isPostgres) {
      await this.#versions.submit(version);
      return;
    }
    await this.#db<VersionRow>('plugin_versions')
      .insert(versionToRow(version))
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
