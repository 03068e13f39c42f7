import {
  InstanceStatus,
  PluginInstance,
} from '@internal/plugin-lifecycle-common';
import { Knex } from 'knex';
import { now, optional, toIso } from './mappers';
import { recordServiceChange } from './serviceChanges';

type InstanceRow = {
  id: string;
  plugin_id: string;
  version: string;
  track: string;
  runtime: string;
  host: string;
  port: number;
  protocol: string;
  pid: number | null;
  status: string;
  owner: string;
  started_at: Date | string;
  stopped_at: Date | string | null;
  exit_code: number | null;
  last_error: string | null;
  config_revision?: number | string | null;
  process_group?: number | null;
  process_start_time?: string | null;
};

/**
 * An instance with what identifies its process for good (a local process
 * runtime's): what a restarted backend needs to adopt or reap it.
 */
export type InstanceWithProcess = PluginInstance & {
  processGroup?: number;
  processStartTime?: string;
};

/** Instances that are, or are about to be, serving. */
export const ACTIVE_INSTANCE_STATUSES: InstanceStatus[] = [
  'starting',
  'running',
  'stopping',
];

function rowToInstance(row: InstanceRow): PluginInstance {
  return {
    id: row.id,
    pluginId: row.plugin_id,
    version: row.version,
    track: row.track,
    runtime: row.runtime,
    host: row.host,
    port: Number(row.port),
    protocol: row.protocol,
    pid: optional(row.pid),
    status: row.status as InstanceStatus,
    owner: row.owner,
    startedAt: toIso(row.started_at),
    stoppedAt: toIso(row.stopped_at),
    exitCode: row.exit_code,
    lastError: optional(row.last_error),
    ...(row.config_revision === null || row.config_revision === undefined
      ? {}
      : { configRevision: Number(row.config_revision) }),
  };
}

/** A track as subset keys can hold it (see {@link InstanceStore.setTrack}). */
export function assertTrack(track: string): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$/.test(track)) {
    throw new TypeError(
      `Invalid track '${track}': 1 to 32 letters, digits, '_', '.' or '-', starting with a letter or digit`,
    );
  }
}

/** Plugin instances as the runtimes report them. */
export class InstanceStore {
  readonly #db: Knex;

  private constructor(db: Knex) {
    this.#db = db;
  }

  static create(options: { db: Knex }): InstanceStore {
    return new InstanceStore(options.db);
  }

  async insert(
    instance: Omit<
      PluginInstance,
      'startedAt' | 'stoppedAt' | 'exitCode' | 'lastError' | 'configRevision'
    > & {
      configRevision?: number;
      processGroup?: number;
      processStartTime?: string;
    },
  ): Promise<PluginInstance> {
    const row: InstanceRow = {
      id: instance.id,
      plugin_id: instance.pluginId,
      version: instance.version,
      track: instance.track,
      runtime: instance.runtime,
      host: instance.host,
      port: instance.port,
      protocol: instance.protocol,
      pid: instance.pid ?? null,
      status: instance.status,
      owner: instance.owner,
      started_at: now(),
      stopped_at: null,
      exit_code: null,
      last_error: null,
      config_revision: instance.configRevision ?? null,
      process_group: instance.processGroup ?? null,
      process_start_time: instance.processStartTime ?? null,
    };
    await this.#db.transaction(async tx => {
      await tx<InstanceRow>('plugin_instances').insert(row);
      // Discovery follows the log instead of re-reading every instance.
      await recordServiceChange(tx, row.id, 'instance', String(row.started_at));
    });
    return rowToInstance(row);
  }

  /**
   * Makes `to` the owner of an instance that `from` owned (a replica that is
   * gone): false when another replica took it over first.
   */
  async claim(instanceId: string, from: string, to: string): Promise<boolean> {
    const timestamp = now();
    return this.#db.transaction(async tx => {
      const updated = await tx<InstanceRow>('plugin_instances')
        .where({ id: instanceId, owner: from })
        .whereIn('status', ACTIVE_INSTANCE_STATUSES)
        .update({ owner: to });
      if (updated > 0) {
        await recordServiceChange(tx, instanceId, 'instance', timestamp);
      }
      return updated > 0;
    });
  }

  async setStatus(
    instanceId: string,
    status: InstanceStatus,
    details: { exitCode?: number | null; lastError?: string } = {},
  ): Promise<void> {
    const ended = status === 'stopped' || status === 'crashed';
    const timestamp = now();
    await this.#db.transaction(async tx => {
      await tx<InstanceRow>('plugin_instances')
        .where({ id: instanceId })
        .update({
          status,
          ...(ended ? { stopped_at: timestamp } : {}),
          ...('exitCode' in details
            ? { exit_code: details.exitCode ?? null }
            : {}),
          ...('lastError' in details
            ? { last_error: details.lastError ?? null }
            : {}),
        });
      await recordServiceChange(tx, instanceId, 'instance', timestamp);
    });
  }

  /**
   * Moves instances to another track (a promoted canary becomes `stable`):
   * discovery groups them under the new subset key (`track/version`) when
   * it applies the change log, as it does for a start or a stop: at once on
   * PostgreSQL (NOTIFY), within its poll interval otherwise, or at
   * `discovery.refresh()`. Throws a
   * `TypeError` for a track that is empty, longer than 32 characters or
   * holds a `/` (the subset key's separator). Returns how many changed.
   */
  async setTrack(instanceIds: string[], track: string): Promise<number> {
    assertTrack(track);
    if (instanceIds.length === 0) return 0;
    const timestamp = now();
    return this.#db.transaction(async tx => {
      let changed = 0;
      for (const id of [...new Set(instanceIds)]) {
        const updated = await tx<InstanceRow>('plugin_instances')
          .where({ id })
          .whereNot({ track })
          .update({ track });
        if (updated === 0) continue;
        changed += updated;
        await recordServiceChange(tx, id, 'instance', timestamp);
      }
      return changed;
    });
  }

  /**
   * Tells discovery to re-read a plugin's active instances (a change log
   * entry each), for a change outside their rows that decides whether they
   * serve: the plugin entering or leaving maintenance.
   */
  async announceInstances(pluginId: string): Promise<number> {
    const timestamp = now();
    return this.#db.transaction(async tx => {
      const rows = await tx<InstanceRow>('plugin_instances')
        .where({ plugin_id: pluginId })
        .whereIn('status', ACTIVE_INSTANCE_STATUSES)
        .select('id');
      for (const { id } of rows) {
        await recordServiceChange(tx, id, 'instance', timestamp);
      }
      return rows.length;
    });
  }

  /** Records the configuration revision an instance reloaded with. */
  async setConfigRevision(instanceId: string, revision: number) {
    await this.#db('plugin_instances')
      .where({ id: instanceId })
      .update({ config_revision: revision });
  }

  async get(instanceId: string): Promise<PluginInstance | undefined> {
    const row = await this.#db<InstanceRow>('plugin_instances')
      .where({ id: instanceId })
      .first();
    return row ? rowToInstance(row) : undefined;
  }

  /** The plugin's instances: active ones, then the most recent ended ones. */
  async listForPlugin(
    pluginId: string,
    options: { activeOnly?: boolean; endedOnly?: boolean; limit?: number } = {},
  ): Promise<PluginInstance[]> {
    const query = this.#db<InstanceRow>('plugin_instances')
      .where({ plugin_id: pluginId })
      .orderBy('started_at', 'desc')
      .limit(options.limit ?? 50);
    if (options.activeOnly) query.whereIn('status', ACTIVE_INSTANCE_STATUSES);
    if (options.endedOnly) {
      query.whereNotIn('status', ACTIVE_INSTANCE_STATUSES);
    }
    return (await query).map(rowToInstance);
  }

  /**
   * Forgets all but the latest `keep` ended instances of each plugin: the
   * instance list is a bounded history, not a log of every start.
   */
  async pruneEnded(keep: number): Promise<number> {
    const ranked = this.#db('plugin_instances')
      .whereNotIn('status', ACTIVE_INSTANCE_STATUSES)
      .select(
        'id',
        this.#db.raw(
          'ROW_NUMBER() OVER (PARTITION BY plugin_id ORDER BY started_at DESC, id DESC) AS n',
        ),
      )
      .as('ranked');
    return this.#db('plugin_instances')
      .whereIn('id', this.#db.from(ranked).where('n', '>', keep).select('id'))
      .delete();
  }

  /**
   * Forgets every ended instance of one plugin (an uninstalled plugin's
   * instances ran versions that are gone): returns how many.
   */
  async deleteEnded(pluginId: string): Promise<number> {
    return this.#db('plugin_instances')
      .where({ plugin_id: pluginId })
      .whereNotIn('status', ACTIVE_INSTANCE_STATUSES)
      .delete();
  }

  /** When the plugin's instances crashed since `since` (ms since the epoch). */
  async crashTimes(pluginId: string, since: number): Promise<number[]> {
    // The latest few are enough for any budget; compared here, not in SQL,
    // where SQLite keeps text and PostgreSQL timestamps.
    const rows = await this.#db<InstanceRow>('plugin_instances')
      .where({ plugin_id: pluginId, status: 'crashed' })
      .whereNotNull('stopped_at')
      .orderBy('stopped_at', 'desc')
      .limit(1000)
      .select('stopped_at');
    return rows
      .map(r => Date.parse(toIso(r.stopped_at!)))
      .filter(t => t > since);
  }

  /**
   * Active instances of one runtime, across plugins (for reconciliation),
   * with their process's identity.
   */
  async listActive(
    filter: { runtime?: string; owner?: string } = {},
  ): Promise<InstanceWithProcess[]> {
    const query = this.#db<InstanceRow>('plugin_instances').whereIn(
      'status',
      ACTIVE_INSTANCE_STATUSES,
    );
    if (filter.runtime) query.where('runtime', filter.runtime);
    if (filter.owner) query.where('owner', filter.owner);
    return (await query).map(rowToInstanceWithProcess);
  }

  /** One instance with what identifies its process (see {@link InstanceWithProcess}). */
  async getWithProcess(
    instanceId: string,
  ): Promise<InstanceWithProcess | undefined> {
    const row = await this.#db<InstanceRow>('plugin_instances')
      .where({ id: instanceId })
      .first();
    return row ? rowToInstanceWithProcess(row) : undefined;
  }
}

function rowToInstanceWithProcess(row: InstanceRow): InstanceWithProcess {
  return {
    ...rowToInstance(row),
    ...(row.process_group === null || row.process_group === undefined
      ? {}
      : { processGroup: Number(row.process_group) }),
    ...(row.process_start_time
      ? { processStartTime: row.process_start_time }
      : {}),
  };
}
