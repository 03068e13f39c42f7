import { ProbeDefinition } from '@internal/plugin-lifecycle-common';
import { Knex } from 'knex';
import { ACTIVE_INSTANCE_STATUSES } from './InstanceStore';
import type { ProbeStatus, ProbeType } from '../domain/health/probeStatus';
import type { HealthVerdict, ProbeTrend } from '../domain/health/trends';
import { fromJson, optional, toIso, toJson } from './mappers';

type ReplicaRow = {
  replica_id: string;
  heartbeat_at: Date | string;
  started_at: Date | string;
};

type StatusRow = {
  target_id: string;
  probe_name: string;
  plugin_id: string;
  instance_id: string | null;
  probe_type: string;
  status: string;
  consecutive_successes: number;
  consecutive_failures: number;
  last_ok: boolean | number | null;
  last_message: string | null;
  last_latency_ms: number | null;
  last_checked_at: Date | string | null;
  last_transition_at: Date | string | null;
  circuit: string | null;
  trend: string | null;
  verdict: string;
  health_score: number;
  ready: boolean | number;
  live: boolean | number;
  updated_at: Date | string;
  reported_by: string;
};

type ResultRow = {
  id?: number | string;
  target_id: string;
  plugin_id: string;
  probe_name: string;
  ok: boolean | number;
  latency_ms: number;
  message: string | null;
  checked_at: Date | string;
};

/**
 * The health of one probe of one target as stored, with the verdict of the
 * target as a whole. Times are ms since the epoch.
 *
 * @public
 */
export interface HealthStatusRecord {
  targetId: string;
  probeName: string;
  pluginId: string;
  instanceId?: string;
  probeType: ProbeType;
  status: ProbeStatus;
  consecutiveSuccesses: number;
  consecutiveFailures: number;
  lastOk?: boolean;
  lastMessage?: string;
  lastLatencyMs?: number;
  lastCheckedAt?: number;
  lastTransitionAt?: number;
  circuit?: 'closed' | 'open' | 'half-open';
  trend?: ProbeTrend;
  verdict: HealthVerdict;
  healthScore: number;
  ready: boolean;
  live: boolean;
  updatedAt: number;
  reportedBy: string;
}

/**
 * One sampled probe result. Times are ms since the epoch.
 *
 * @public
 */
export interface HealthResultRecord {
  id?: number;
  targetId: string;
  pluginId: string;
  probeName: string;
  ok: boolean;
  latencyMs: number;
  message?: string;
  checkedAt: number;
}

/**
 * A running plugin instance with its plugin's probes: a target.
 *
 * @public
 */
export interface InstanceTargetRecord {
  instanceId: string;
  pluginId: string;
  host: string;
  port: number;
  startedAt: number;
  probes: ProbeDefinition[];
}

/** A position in the change feed of {@link HealthStore.statusesUpdatedSince}. */
export interface StatusCursor {
  updatedAt: number;
  targetId: string;
  probeName: string;
}

const STATUS_COLUMNS = [
  'target_id',
  'probe_name',
  'plugin_id',
  'instance_id',
  'probe_type',
  'status',
  'consecutive_successes',
  'consecutive_failures',
  'last_ok',
  'last_message',
  'last_latency_ms',
  'last_checked_at',
  'last_transition_at',
  'circuit',
  'trend',
  'verdict',
  'health_score',
  'ready',
  'live',
  'updated_at',
  'reported_by',
];

/**
 * Rows per statement: well inside the limits on bound parameters, and short
 * enough that building the statement (knex, on the event loop) and, on
 * SQLite, running it (also on the event loop) never hold it for long.
 */
const CHUNK = 100;

const iso = (ms: number) => new Date(ms).toISOString();
const ms = (value: Date | string) => Date.parse(toIso(value));
const msOrUndefined = (value: Date | string | null) =>
  value === null || value === undefined ? undefined : ms(value);

function rowToStatus(row: StatusRow): HealthStatusRecord {
  return {
    targetId: row.target_id,
    probeName: row.probe_name,
    pluginId: row.plugin_id,
    instanceId: optional(row.instance_id),
    probeType: row.probe_type as ProbeType,
    status: row.status as ProbeStatus,
    consecutiveSuccesses: Number(row.consecutive_successes),
    consecutiveFailures: Number(row.consecutive_failures),
    lastOk:
      row.last_ok === null || row.last_ok === undefined
        ? undefined
        : Boolean(row.last_ok),
    lastMessage: optional(row.last_message),
    lastLatencyMs:
      row.last_latency_ms === null ? undefined : Number(row.last_latency_ms),
    lastCheckedAt: msOrUndefined(row.last_checked_at),
    lastTransitionAt: msOrUndefined(row.last_transition_at),
    circuit: optional(row.circuit) as HealthStatusRecord['circuit'],
    trend: fromJson<ProbeTrend | undefined>(row.trend, undefined),
    verdict: row.verdict as HealthVerdict,
    healthScore: Number(row.health_score),
    ready: Boolean(row.ready),
    live: Boolean(row.live),
    updatedAt: ms(row.updated_at),
    reportedBy: row.reported_by,
  };
}

function statusToRow(record: HealthStatusRecord): StatusRow {
  return {
    target_id: record.targetId,
    probe_name: record.probeName,
    plugin_id: record.pluginId,
    instance_id: record.instanceId ?? null,
    probe_type: record.probeType,
    status: record.status,
    consecutive_successes: record.consecutiveSuccesses,
    consecutive_failures: record.consecutiveFailures,
    last_ok: record.lastOk ?? null,
    last_message: record.lastMessage ?? null,
    last_latency_ms: record.lastLatencyMs ?? null,
    last_checked_at:
      record.lastCheckedAt === undefined ? null : iso(record.lastCheckedAt),
    last_transition_at:
      record.lastTransitionAt === undefined
        ? null
        : iso(record.lastTransitionAt),
    circuit: record.circuit ?? null,
    trend: record.trend ? toJson(record.trend) : null,
    verdict: record.verdict,
    health_score: record.healthScore,
    ready: record.ready,
    live: record.live,
    updated_at: iso(record.updatedAt),
    reported_by: record.reportedBy,
  };
}

function rowToResult(row: ResultRow): HealthResultRecord {
  return {
    id: Number(row.id),
    targetId: row.target_id,
    pluginId: row.plugin_id,
    probeName: row.probe_name,
    ok: Boolean(row.ok),
    latencyMs: Number(row.latency_ms),
    message: optional(row.message),
    checkedAt: ms(row.checked_at),
  };
}

/**
 * Lets other work run between the statements of a large write: on SQLite a
 * statement runs on the event loop and resolves at once, so without this a
 * whole batch would run as one long task.
 */
const yieldToLoop = () => new Promise<void>(resolve => setImmediate(resolve));

function chunks<T>(items: readonly T[], size = CHUNK): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) {
    out.push(items.slice(i, i + size));
  }
  return out;
}

/**
 * The health monitor's tables: replica heartbeats (to divide the targets),
 * the current health of each probe of each target, and sampled results.
 */
export class HealthStore {
  readonly #db: Knex;

  private constructor(db: Knex) {
    this.#db = db;
  }

  static create(options: { db: Knex }): HealthStore {
    return new HealthStore(options.db);
  }

  // --- replicas ------------------------------------------------------------

  /** Records that the replica is alive at `now`. */
  async heartbeat(replicaId: string, now: number): Promise<void> {
    await this.#db<ReplicaRow>('health_replicas')
      .insert({
        replica_id: replicaId,
        heartbeat_at: iso(now),
        started_at: iso(now),
      })
      .onConflict('replica_id')
      .merge(['heartbeat_at']);
  }

  /** The replicas whose last heartbeat is at or after `since`, sorted. */
  async liveReplicas(since: number): Promise<string[]> {
    const rows = await this.#db<ReplicaRow>('health_replicas')
      .where('heartbeat_at', '>=', iso(since))
      .orderBy('replica_id')
      .select('replica_id');
    return rows.map(r => r.replica_id);
  }

  /** Forgets a replica (it is stopping), so its targets move at once. */
  async removeReplica(replicaId: string): Promise<void> {
    await this.#db('health_replicas').where({ replica_id: replicaId }).delete();
  }

  /** Forgets replicas silent since before `before`; how many. */
  async pruneReplicas(before: number): Promise<number> {
    return this.#db('health_replicas')
      .where('heartbeat_at', '<', iso(before))
      .delete();
  }

  // --- targets -------------------------------------------------------------

  /** The ids of a plugin's instances that are starting, running or stopping. */
  async activeInstanceIds(pluginId: string): Promise<Set<string>> {
    const rows: Array<{ id: string }> = await this.#db('plugin_instances')
      .where({ plugin_id: pluginId })
      .whereIn('status', ACTIVE_INSTANCE_STATUSES)
      .select('id');
    return new Set(rows.map(r => r.id));
  }

  /**
   * The plugin instances to probe (by default the running ones), each with
   * its plugin's probes. Two queries, so that a plugin's probes are read
   * and parsed once however many instances it has.
   */
  async listInstanceTargets(
    statuses: readonly string[] = ['running'],
  ): Promise<InstanceTargetRecord[]> {
    const instances: Array<{
      id: string;
      plugin_id: string;
      host: string;
      port: number;
      started_at: Date | string;
    }> = await this.#db('plugin_instances')
      .whereIn('status', statuses)
      .orderBy('id')
      .select('id', 'plugin_id', 'host', 'port', 'started_at');
    if (instances.length === 0) return [];
    const pluginIds = [...new Set(instances.map(i => i.plugin_id))];
    const probes = new Map<string, ProbeDefinition[]>();
    for (const ids of chunks(pluginIds, 500)) {
      const rows: Array<{ id: string; probes: string | null }> = await this.#db(
        'plugins',
      )
        .whereIn('id', ids)
        .select('id', 'probes');
      for (const row of rows) {
        probes.set(row.id, fromJson<ProbeDefinition[]>(row.probes, []));
      }
    }
    return instances.map(i => ({
      instanceId: i.id,
      pluginId: i.plugin_id,
      host: i.host,
      port: Number(i.port),
      startedAt: ms(i.started_at),
      probes: probes.get(i.plugin_id) ?? [],
    }));
  }

  // --- current status ------------------------------------------------------

  /**
   * Writes (inserts or replaces) statuses: in chunks, in one transaction
   * (one commit, so one sync to disk on SQLite).
   */
  async writeStatuses(records: readonly HealthStatusRecord[]): Promise<void> {
    if (records.length === 0) return;
    await this.#db.transaction(async tx => {
      for (const [i, chunk] of chunks(records).entries()) {
        if (i > 0) await yieldToLoop();
        await tx<StatusRow>('health_status')
          .insert(chunk.map(statusToRow))
          .onConflict(['target_id', 'probe_name'])
          .merge();
      }
    });
  }

  /** The statuses of a plugin's targets, or of the given targets. */
  async getStatuses(filter: {
    pluginId?: string;
    targetIds?: readonly string[];
  }): Promise<HealthStatusRecord[]> {
    if (filter.targetIds) {
      const out: HealthStatusRecord[] = [];
      for (const [i, ids] of chunks(filter.targetIds, 500).entries()) {
        if (i > 0) await yieldToLoop();
        const query = this.#db<StatusRow>('health_status')
          .select(STATUS_COLUMNS)
          .whereIn('target_id', ids);
        if (filter.pluginId) query.where('plugin_id', filter.pluginId);
        out.push(...((await query) as unknown as StatusRow[]).map(rowToStatus));
      }
      return out;
    }
    const query = this.#db<StatusRow>('health_status')
      .select(STATUS_COLUMNS)
      .orderBy(['target_id', 'probe_name']);
    if (filter.pluginId) query.where('plugin_id', filter.pluginId);
    return ((await query) as unknown as StatusRow[]).map(rowToStatus);
  }

  /**
   * Statuses written after the cursor (or at or after `since`), in the
   * order (updated_at, target_id, probe_name), a page at a time; pass the
   * last one back as the cursor for the next page.
   */
  async statusesUpdatedSince(options: {
    since?: number;
    after?: StatusCursor;
    excludeReporter?: string;
    limit?: number;
  }): Promise<HealthStatusRecord[]> {
    const query = this.#db<StatusRow>('health_status')
      .select(STATUS_COLUMNS)
      .orderBy([
        { column: 'updated_at' },
        { column: 'target_id' },
        { column: 'probe_name' },
      ])
      .limit(options.limit ?? 500);
    const { after } = options;
    if (after) {
      const at = iso(after.updatedAt);
      query.where(q =>
        q
          .where('updated_at', '>', at)
          .orWhere(q2 =>
            q2
              .where('updated_at', '=', at)
              .andWhere(q3 =>
                q3
                  .where('target_id', '>', after.targetId)
                  .orWhere(q4 =>
                    q4
                      .where('target_id', '=', after.targetId)
                      .andWhere('probe_name', '>', after.probeName),
                  ),
              ),
          ),
      );
    } else if (options.since !== undefined) {
      query.where('updated_at', '>=', iso(options.since));
    }
    if (options.excludeReporter) {
      query.whereNot('reported_by', options.excludeReporter);
    }
    return ((await query) as unknown as StatusRow[]).map(rowToStatus);
  }

  /** Deletes the statuses of targets that are gone; how many rows. */
  async deleteTargets(targetIds: readonly string[]): Promise<number> {
    let deleted = 0;
    for (const ids of chunks(targetIds, 500)) {
      deleted += await this.#db('health_status')
        .whereIn('target_id', ids)
        .delete();
    }
    return deleted;
  }

  /** Deletes the statuses of probes a target no longer has. */
  async deleteProbes(
    probes: ReadonlyArray<{ targetId: string; probeName: string }>,
  ): Promise<number> {
    let deleted = 0;
    for (const chunk of chunks(probes)) {
      deleted += await this.#db('health_status')
        .where(q => {
          for (const p of chunk) {
            q.orWhere({ target_id: p.targetId, probe_name: p.probeName });
          }
        })
        .delete();
    }
    return deleted;
  }

  /**
   * Deletes statuses nobody refreshed since `before` (their target went
   * away with its replica); how many.
   */
  async pruneStatuses(before: number): Promise<number> {
    return this.#db('health_status')
      .where('updated_at', '<', iso(before))
      .delete();
  }

  // --- sampled results -----------------------------------------------------

  /** Adds sampled results: in chunks, in one transaction. */
  async insertResults(records: readonly HealthResultRecord[]): Promise<void> {
    if (records.length === 0) return;
    await this.#db.transaction(async tx => {
      for (const [i, chunk] of chunks(records).entries()) {
        if (i > 0) await yieldToLoop();
        await tx<ResultRow>('health_results').insert(
          chunk.map(r => ({
            target_id: r.targetId,
            plugin_id: r.pluginId,
            probe_name: r.probeName,
            ok: r.ok,
            latency_ms: r.latencyMs,
            message: r.message === undefined ? null : r.message.slice(0, 1000),
            checked_at: iso(r.checkedAt),
          })),
        );
      }
    });
  }

  /** A plugin's latest results, newest first. */
  async recentResults(
    pluginId: string,
    options: { limit?: number } = {},
  ): Promise<HealthResultRecord[]> {
    const rows = await this.#db<ResultRow>('health_results')
      .where({ plugin_id: pluginId })
      .orderBy('id', 'desc')
      .limit(options.limit ?? 500)
      .select('*');
    return rows.map(rowToResult);
  }

  /**
   * Deletes old results: those checked before `before`, and, of the given
   * targets, all but the newest `maxPerProbe` of each probe. How many.
   */
  async pruneResults(options: {
    before?: number;
    maxPerProbe?: number;
    targetIds?: readonly string[];
  }): Promise<number> {
    let deleted = 0;
    if (options.before !== undefined) {
      // In bounded batches: one huge delete would hold SQLite (and the
      // event loop with it) for long.
      for (;;) {
        const ids = await this.#db('health_results')
          .where('checked_at', '<', iso(options.before))
          .orderBy('id')
          .limit(1000)
          .pluck('id');
        if (ids.length === 0) break;
        await yieldToLoop();
        deleted += await this.#db('health_results').whereIn('id', ids).delete();
        if (ids.length < 1000) break;
      }
    }
    const { maxPerProbe, targetIds } = options;
    if (maxPerProbe !== undefined && targetIds?.length) {
      for (const [i, ids] of chunks(targetIds, 200).entries()) {
        if (i > 0) await yieldToLoop();
        const ranked = this.#db('health_results')
          .whereIn('target_id', ids)
          .select(
            'id',
            this.#db.raw(
              'ROW_NUMBER() OVER (PARTITION BY target_id, probe_name ORDER BY id DESC) AS rn',
            ),
          );
        deleted += await this.#db('health_results')
          .whereIn(
            'id',
            this.#db
              .from(ranked.as('ranked'))
              .where('rn', '>', maxPerProbe)
              .select('id'),
          )
          .delete();
      }
    }
    return deleted;
  }
}
