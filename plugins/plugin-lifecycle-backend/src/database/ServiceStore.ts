import { ConflictError } from '@backstage/errors';
import {
  ProbeDefinition,
  ServiceLoadBalancingStrategy,
  ServiceType,
} from '@internal/plugin-lifecycle-common';
import { Knex } from 'knex';
import { fromJson, optional, toIso, toJson } from './mappers';

import {
  SERVICES_NOTIFY_CHANNEL,
  ServiceChangeKind,
  recordServiceChange,
} from './serviceChanges';

export { SERVICES_NOTIFY_CHANNEL };

/**
 * Service ids are unique across tenants, so one another tenant holds cannot
 * be given; the answer says no more than that: neither whose it is nor that
 * a tenant is involved.
 */
function serviceIdUnavailable(serviceId: string): string {
  return `Service id '${serviceId}' is not available; register under another id, or leave serviceId out to get a generated one`;
}

/**
 * A service instance registered through the discovery API.
 *
 * @public
 */
export interface StoredService {
  serviceId: string;
  tenant: string;
  pluginId?: string;
  serviceName: string;
  serviceType: ServiceType;
  version?: string;
  host: string;
  port: number;
  protocol: string;
  weight: number;
  maxConnections?: number;
  strategy?: ServiceLoadBalancingStrategy;
  tags: string[];
  metadata: Record<string, string>;
  healthCheck?: ProbeDefinition;
  ttlMs?: number;
  deregisterAfterMs?: number;
  lastHeartbeatAt: string;
  expiresAt?: string;
  deregisterAt?: string;
  /** When the TTL passed without a heartbeat; cleared by the next one. */
  expiredAt?: string;
  ready: boolean;
  healthScore: number;
  registeredAt: string;
  updatedAt: string;
  revision: number;
}

/** What a registration gives; the store keeps the rest. */
export type ServiceInput = Omit<
  StoredService,
  | 'lastHeartbeatAt'
  | 'expiresAt'
  | 'deregisterAt'
  | 'expiredAt'
  | 'registeredAt'
  | 'updatedAt'
  | 'revision'
  | 'ready'
  | 'healthScore'
>;

/** Live settings; `maxConnections: null` removes the limit. */
export interface ServicePatch {
  weight?: number;
  maxConnections?: number | null;
  ready?: boolean;
  healthScore?: number;
}

/** Live settings of a plugin instance that differ from its defaults. */
export interface InstanceOverride {
  instanceId: string;
  weight?: number;
  maxConnections?: number;
  ready?: boolean;
  healthScore?: number;
  updatedAt: string;
  revision: number;
}

/** A plugin instance a runtime reports as running, with its plugin's tenant. */
export interface RunningInstance {
  instanceId: string;
  pluginId: string;
  tenant: string;
  /** The runtime that runs it (`process`, `external`, ...). */
  runtime: string;
  version: string;
  track: string;
  host: string;
  port: number;
  protocol: string;
}

/** One entry of the change log. */
export interface ServiceChange {
  revision: number;
  /** A service id, or an instance id for an override or an instance. */
  serviceId: string;
  kind: ServiceChangeKind;
}

type ServiceRow = {
  service_id: string;
  tenant: string;
  plugin_id: string | null;
  service_name: string;
  service_type: string;
  version: string | null;
  host: string;
  port: number;
  protocol: string;
  weight: number;
  max_connections: number | null;
  strategy: string | null;
  tags: string;
  metadata: string;
  health_check: string | null;
  ttl_ms: number | null;
  deregister_after_ms: number | null;
  last_heartbeat_at: Date | string;
  expires_at: Date | string | null;
  deregister_at: Date | string | null;
  expired_at: Date | string | null;
  ready: boolean | number;
  health_score: number;
  registered_at: Date | string;
  updated_at: Date | string;
  revision: number | string;
};

type OverrideRow = {
  instance_id: string;
  weight: number | null;
  max_connections: number | null;
  ready: boolean | number | null;
  health_score: number | null;
  updated_at: Date | string;
  revision: number | string;
};

const SERVICE_COLUMNS = [
  'service_id',
  'tenant',
  'plugin_id',
  'service_name',
  'service_type',
  'version',
  'host',
  'port',
  'protocol',
  'weight',
  'max_connections',
  'strategy',
  'tags',
  'metadata',
  'health_check',
  'ttl_ms',
  'deregister_after_ms',
  'last_heartbeat_at',
  'expires_at',
  'deregister_at',
  'expired_at',
  'ready',
  'health_score',
  'registered_at',
  'updated_at',
  'revision',
] as const;

/** Instance statuses that take traffic. */
const SERVING_STATUS = 'running';
/** Instance statuses whose overrides are kept. */
const ACTIVE_STATUSES = ['starting', 'running', 'stopping'];

function rowToService(row: ServiceRow): StoredService {
  const service: StoredService = {
    serviceId: row.service_id,
    tenant: row.tenant,
    serviceName: row.service_name,
    serviceType: row.service_type as ServiceType,
    host: row.host,
    port: Number(row.port),
    protocol: row.protocol,
    weight: Number(row.weight),
    tags: fromJson<string[]>(row.tags, []),
    metadata: fromJson<Record<string, string>>(row.metadata, {}),
    lastHeartbeatAt: toIso(row.last_heartbeat_at),
    ready: Boolean(row.ready),
    healthScore: Number(row.health_score),
    registeredAt: toIso(row.registered_at),
    updatedAt: toIso(row.updated_at),
    revision: Number(row.revision),
  };
  const pluginId = optional(row.plugin_id);
  if (pluginId !== undefined) service.pluginId = pluginId;
  const version = optional(row.version);
  if (version !== undefined) service.version = version;
  if (row.max_connections !== null)
    service.maxConnections = Number(row.max_connections);
  if (row.strategy !== null)
    service.strategy = row.strategy as ServiceLoadBalancingStrategy;
  if (row.health_check !== null)
    service.healthCheck = fromJson<ProbeDefinition>(
      row.health_check,
      undefined as unknown as ProbeDefinition,
    );
  if (row.ttl_ms !== null) service.ttlMs = Number(row.ttl_ms);
  if (row.deregister_after_ms !== null)
    service.deregisterAfterMs = Number(row.deregister_after_ms);
  const expiresAt = toIso(row.expires_at);
  if (expiresAt) service.expiresAt = expiresAt;
  const deregisterAt = toIso(row.deregister_at);
  if (deregisterAt) service.deregisterAt = deregisterAt;
  const expiredAt = toIso(row.expired_at);
  if (expiredAt) service.expiredAt = expiredAt;
  return service;
}

function rowToOverride(row: OverrideRow): InstanceOverride {
  const override: InstanceOverride = {
    instanceId: row.instance_id,
    updatedAt: toIso(row.updated_at),
    revision: Number(row.revision),
  };
  if (row.weight !== null) override.weight = Number(row.weight);
  if (row.max_connections !== null)
    override.maxConnections = Number(row.max_connections);
  if (row.ready !== null) override.ready = Boolean(row.ready);
  if (row.health_score !== null)
    override.healthScore = Number(row.health_score);
  return override;
}

/** The heartbeat-derived deadlines, as ISO strings (they compare as text on SQLite). */
function deadlines(
  ttlMs: number | undefined,
  deregisterAfterMs: number | undefined,
  heartbeatAt: Date,
) {
  const at = heartbeatAt.getTime();
  return {
    last_heartbeat_at: heartbeatAt.toISOString(),
    expires_at: ttlMs === undefined ? null : new Date(at + ttlMs).toISOString(),
    deregister_at:
      deregisterAfterMs === undefined
        ? null
        : new Date(at + deregisterAfterMs).toISOString(),
  };
}

/** The columns of a running instance with its plugin's tenant. */
const RUNNING_INSTANCE_COLUMNS = [
  'p.id as plugin_id',
  'p.tenant as tenant',
  'p.runtime as runtime',
  'i.id as instance_id',
  'i.version as version',
  'i.track as track',
  'i.host as host',
  'i.port as port',
  'i.protocol as protocol',
] as const;

function rowToRunningInstance(row: {
  instance_id: string;
  plugin_id: string;
  tenant: string;
  runtime: string;
  version: string;
  track: string;
  host: string;
  port: number | string;
  protocol: string;
}): RunningInstance {
  return {
    instanceId: row.instance_id,
    pluginId: row.plugin_id,
    tenant: row.tenant,
    runtime: row.runtime,
    version: row.version,
    track: row.track,
    host: row.host,
    port: Number(row.port),
    protocol: row.protocol,
  };
}

/** The columns a registration sets (a replacement sets the same ones). */
function serviceFields(input: ServiceInput, now: Date) {
  return {
    tenant: input.tenant,
    plugin_id: input.pluginId ?? null,
    service_name: input.serviceName,
    service_type: input.serviceType,
    version: input.version ?? null,
    host: input.host,
    port: input.port,
    protocol: input.protocol,
    weight: input.weight,
    max_connections: input.maxConnections ?? null,
    strategy: input.strategy ?? null,
    tags: toJson(input.tags),
    metadata: toJson(input.metadata),
    health_check:
      input.healthCheck === undefined ? null : toJson(input.healthCheck),
    ttl_ms: input.ttlMs ?? null,
    deregister_after_ms: input.deregisterAfterMs ?? null,
    ...deadlines(input.ttlMs, input.deregisterAfterMs, now),
    expired_at: null,
    updated_at: now.toISOString(),
  };
}

function chunks<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size)
    out.push(items.slice(i, i + size));
  return out;
}

function isUniqueViolation(error: unknown): boolean {
  const e = error as { code?: string; message?: string };
  return (
    e?.code === '23505' ||
    e?.code === 'SQLITE_CONSTRAINT_PRIMARYKEY' ||
    e?.code === 'SQLITE_CONSTRAINT_UNIQUE' ||
    /UNIQUE constraint failed/.test(e?.message ?? '')
  );
}

/**
 * Services registered through the discovery API, the live settings of
 * plugin instances, and the change log the other backend replicas follow.
 * Every write appends to the log in its own transaction; on PostgreSQL it
 * also notifies {@link SERVICES_NOTIFY_CHANNEL}, delivered on commit.
 */
export class ServiceStore {
  readonly #db: Knex;
  readonly #isPostgres: boolean;

  private constructor(db: Knex) {
    this.#db = db;
    this.#isPostgres = db.client.config.client === 'pg';
  }

  static create(options: { db: Knex }): ServiceStore {
    return new ServiceStore(options.db);
  }

  /**
   * Registers a service instance, or replaces the registration with the
   * same id; a replacement keeps its health verdict and registration time
   * and counts as a heartbeat. Throws a `ConflictError` if the id is taken
   * in another tenant (saying only that it is not available).
   */
  async register(
    input: ServiceInput,
    now: Date,
  ): Promise<{ service: StoredService; created: boolean }> {
    const timestamp = now.toISOString();
    const fields = serviceFields(input, now);
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#db.transaction(async tx => {
          const existing = await this.#select(tx)
            .where({ service_id: input.serviceId })
            .forUpdate()
            .first();
          if (existing && existing.tenant !== input.tenant) {
            throw new ConflictError(serviceIdUnavailable(input.serviceId));
          }
          const revision = await this.#record(
            tx,
            input.serviceId,
            'upsert',
            timestamp,
          );
          if (existing) {
            await tx('services')
              .where({ service_id: input.serviceId })
              .update({ ...fields, revision });
          } else {
            await tx('services').insert({
              service_id: input.serviceId,
              ...fields,
              ready: true,
              health_score: 1,
              registered_at: timestamp,
              revision,
            });
          }
          const row = await this.#select(tx)
            .where({ service_id: input.serviceId })
            .first();
          return { service: rowToService(row!), created: !existing };
        });
      } catch (error) {
        // Two first registrations of one id at once: the loser updates.
        if (!isUniqueViolation(error) || attempt >= 3) throw error;
      }
    }
  }

  /**
   * Registers many services in one transaction, as {@link ServiceStore.register}
   * does one: all or none. Throws a `ConflictError` naming the first id taken
   * in another tenant. The ids must be distinct.
   */
  async registerMany(
    inputs: ServiceInput[],
    now: Date,
  ): Promise<Array<{ service: StoredService; created: boolean }>> {
    if (inputs.length === 0) return [];
    const timestamp = now.toISOString();
    const ids = inputs.map(i => i.serviceId);
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#db.transaction(async tx => {
          const existing = new Map<string, ServiceRow>();
          for (const chunk of chunks(ids, 500)) {
            const rows = await this.#select(tx)
              .whereIn('service_id', chunk)
              .forUpdate();
            for (const row of rows) existing.set(row.service_id, row);
          }
          for (const input of inputs) {
            const row = existing.get(input.serviceId);
            if (row && row.tenant !== input.tenant) {
              throw new ConflictError(serviceIdUnavailable(input.serviceId));
            }
          }
          const revisions = await this.#recordMany(tx, ids, timestamp);
          const rows = inputs.map(input => ({
            service_id: input.serviceId,
            ...serviceFields(input, now),
            ready: true,
            health_score: 1,
            registered_at: timestamp,
            revision: revisions.get(input.serviceId)!,
          }));
          // A replacement keeps its verdict and registration time.
          const merged = [
            ...Object.keys(serviceFields(inputs[0], now)),
            'revision',
          ];
          for (const chunk of chunks(rows, 200)) {
            await tx('services')
              .insert(chunk)
              .onConflict('service_id')
              .merge(merged);
          }
          const stored = new Map<string, StoredService>();
          for (const chunk of chunks(ids, 500)) {
            for (const row of await this.#select(tx).whereIn(
              'service_id',
              chunk,
            )) {
              stored.set(row.service_id, rowToService(row));
            }
          }
          return inputs.map(input => ({
            service: stored.get(input.serviceId)!,
            created: !existing.has(input.serviceId),
          }));
        });
      } catch (error) {
        if (!isUniqueViolation(error) || attempt >= 3) throw error;
      }
    }
  }

  /**
   * Heartbeats of many services: one UPDATE per distinct TTL setting in the
   * usual case, {@link ServiceStore.heartbeat} one by one for expired
   * services (a revival is logged) and for those changed meanwhile. Returns
   * the services renewed and the ids unknown.
   */
  async heartbeatMany(
    serviceIds: string[],
    now: Date,
  ): Promise<{
    renewed: Array<{ service: StoredService; revived: boolean }>;
    unknown: string[];
  }> {
    const rows = new Map<string, ServiceRow>();
    for (const chunk of chunks(serviceIds, 500)) {
      for (const row of await this.#select(this.#db).whereIn(
        'service_id',
        chunk,
      )) {
        rows.set(row.service_id, row);
      }
    }
    const renewed: Array<{ service: StoredService; revived: boolean }> = [];
    const slow: string[] = [];
    // Rows that share their TTL settings share their new deadlines.
    const groups = new Map<string, ServiceRow[]>();
    for (const row of rows.values()) {
      if (row.expired_at !== null) {
        slow.push(row.service_id);
        continue;
      }
      const key = `${row.ttl_ms}/${row.deregister_after_ms}`;
      const group = groups.get(key);
      if (group) group.push(row);
      else groups.set(key, [row]);
    }
    for (const group of groups.values()) {
      const { ttl_ms: ttl, deregister_after_ms: after } = group[0];
      const patch = deadlines(
        ttl === null ? undefined : Number(ttl),
        after === null ? undefined : Number(after),
        now,
      );
      let count = 0;
      for (const chunk of chunks(group, 500)) {
        const query = this.#db('services')
          .whereIn(
            'service_id',
            chunk.map(r => r.service_id),
          )
          .whereNull('expired_at');
        // Guarded like heartbeat(): a row re-registered with other settings
        // meanwhile is left to the slow path.
        if (ttl === null) query.whereNull('ttl_ms');
        else query.where('ttl_ms', ttl);
        if (after === null) query.whereNull('deregister_after_ms');
        else query.where('deregister_after_ms', after);
        count += await query.update(patch);
      }
      if (count === group.length) {
        for (const row of group) {
          renewed.push({
            service: rowToService({ ...row, ...patch }),
            revived: false,
          });
        }
      } else {
        slow.push(...group.map(r => r.service_id));
      }
    }
    const unknown = serviceIds.filter(id => !rows.has(id));
    for (const serviceId of slow) {
      const result = await this.heartbeat(serviceId, now);
      if (result) renewed.push(result);
      else unknown.push(serviceId);
    }
    return { renewed, unknown };
  }

  async get(serviceId: string): Promise<StoredService | undefined> {
    const row = await this.#select(this.#db)
      .where({ service_id: serviceId })
      .first();
    return row ? rowToService(row) : undefined;
  }

  /** Services by id, for the ids that still exist. */
  async getMany(serviceIds: string[]): Promise<StoredService[]> {
    if (serviceIds.length === 0) return [];
    const rows = await this.#select(this.#db).whereIn('service_id', serviceIds);
    return rows.map(rowToService);
  }

  /** Services, by tenants and name when given, ordered by name and id. */
  async list(
    filter: { tenants?: string[]; serviceName?: string } = {},
  ): Promise<StoredService[]> {
    const query = this.#select(this.#db).orderBy([
      'service_name',
      'service_id',
    ]);
    if (filter.tenants) query.whereIn('tenant', filter.tenants);
    if (filter.serviceName) query.where('service_name', filter.serviceName);
    return (await query).map(rowToService);
  }

  /**
   * Removes a registration: the removed service, its revision that of the
   * deletion; undefined if unknown.
   */
  async deregister(
    serviceId: string,
    now: Date = new Date(),
  ): Promise<StoredService | undefined> {
    return this.#db.transaction(async tx => {
      const row = await this.#select(tx)
        .where({ service_id: serviceId })
        .forUpdate()
        .first();
      if (!row) return undefined;
      await tx('services').where({ service_id: serviceId }).delete();
      const revision = await this.#record(
        tx,
        serviceId,
        'delete',
        now.toISOString(),
      );
      return { ...rowToService(row), revision };
    });
  }

  /**
   * Records a heartbeat: pushes the TTL and deregistration deadlines out.
   * Usually a read and one guarded UPDATE with no log entry, since other
   * replicas need not know; a heartbeat that revives an expired service
   * is logged.
   * `undefined` for an unknown service.
   */
  async heartbeat(
    serviceId: string,
    now: Date,
  ): Promise<{ service: StoredService; revived: boolean } | undefined> {
    const timestamp = now.toISOString();
    const row = await this.#select(this.#db)
      .where({ service_id: serviceId })
      .first();
    if (!row) return undefined;
    const ttlMs = row.ttl_ms === null ? undefined : Number(row.ttl_ms);
    const deregisterAfterMs =
      row.deregister_after_ms === null
        ? undefined
        : Number(row.deregister_after_ms);
    const patch: Partial<ServiceRow> = deadlines(ttlMs, deregisterAfterMs, now);
    if (row.expired_at === null) {
      // The usual case: one UPDATE, guarded so that a concurrent
      // re-registration (other settings) or expiry takes the slow path.
      const count = await this.#db('services')
        .where({ service_id: serviceId, revision: row.revision })
        .whereNull('expired_at')
        .update(patch);
      if (count === 1) {
        return { service: rowToService({ ...row, ...patch }), revived: false };
      }
    }
    return this.#db.transaction(async tx => {
      const current = await this.#select(tx)
        .where({ service_id: serviceId })
        .forUpdate()
        .first();
      if (!current) return undefined;
      const slow: Partial<ServiceRow> = deadlines(
        current.ttl_ms === null ? undefined : Number(current.ttl_ms),
        current.deregister_after_ms === null
          ? undefined
          : Number(current.deregister_after_ms),
        now,
      );
      const revived = current.expired_at !== null;
      if (revived) {
        slow.expired_at = null;
        slow.updated_at = timestamp;
        slow.revision = await this.#record(tx, serviceId, 'upsert', timestamp);
      }
      await tx('services').where({ service_id: serviceId }).update(slow);
      return { service: rowToService({ ...current, ...slow }), revived };
    });
  }

  /**
   * Changes live settings; the updated service, or undefined if unknown.
   * Logs a change only when a value actually changed.
   */
  async update(
    serviceId: string,
    patch: ServicePatch,
    now: Date = new Date(),
  ): Promise<StoredService | undefined> {
    const timestamp = now.toISOString();
    return this.#db.transaction(async tx => {
      const row = await this.#select(tx)
        .where({ service_id: serviceId })
        .forUpdate()
        .first();
      if (!row) return undefined;
      const changes: Partial<ServiceRow> = {};
      if (patch.weight !== undefined && patch.weight !== Number(row.weight))
        changes.weight = patch.weight;
      if (patch.maxConnections !== undefined) {
        const current =
          row.max_connections === null ? null : Number(row.max_connections);
        if (patch.maxConnections !== current)
          changes.max_connections = patch.maxConnections;
      }
      if (patch.ready !== undefined && patch.ready !== Boolean(row.ready))
        changes.ready = patch.ready;
      if (
        patch.healthScore !== undefined &&
        patch.healthScore !== Number(row.health_score)
      )
        changes.health_score = patch.healthScore;
      if (Object.keys(changes).length === 0) return rowToService(row);
      changes.updated_at = timestamp;
      changes.revision = await this.#record(tx, serviceId, 'upsert', timestamp);
      await tx('services').where({ service_id: serviceId }).update(changes);
      return rowToService({ ...row, ...changes });
    });
  }

  setWeight(serviceId: string, weight: number) {
    return this.update(serviceId, { weight });
  }

  setMaxConnections(serviceId: string, maxConnections: number | null) {
    return this.update(serviceId, { maxConnections });
  }

  setReady(serviceId: string, ready: boolean) {
    return this.update(serviceId, { ready });
  }

  setHealthScore(serviceId: string, healthScore: number) {
    return this.update(serviceId, { healthScore });
  }

  /**
   * Marks services whose TTL passed without a heartbeat as expired (no
   * traffic until the next heartbeat) and removes those past their
   * deregistration deadline. Safe to run on every replica at once: each
   * change is made, and logged, by one of them.
   */
  async expire(
    now: Date,
  ): Promise<{ expired: string[]; deregistered: string[] }> {
    const timestamp = now.toISOString();
    const deregistered: string[] = [];
    const doomed = await this.#db('services')
      .where('deregister_at', '<=', timestamp)
      .pluck('service_id');
    for (const serviceId of doomed) {
      const removed = await this.#db.transaction(async tx => {
        const count = await tx('services')
          .where({ service_id: serviceId })
          .where('deregister_at', '<=', timestamp)
          .delete();
        if (count === 0) return false; // a heartbeat or another replica won
        await this.#record(tx, serviceId, 'delete', timestamp);
        return true;
      });
      if (removed) deregistered.push(serviceId);
    }
    const expired: string[] = [];
    const overdue = await this.#db('services')
      .where('expires_at', '<=', timestamp)
      .whereNull('expired_at')
      .pluck('service_id');
    for (const serviceId of overdue) {
      const marked = await this.#db.transaction(async tx => {
        const count = await tx('services')
          .where({ service_id: serviceId })
          .where('expires_at', '<=', timestamp)
          .whereNull('expired_at')
          .update({ expired_at: timestamp, updated_at: timestamp });
        if (count === 0) return false; // a heartbeat or another replica won
        const revision = await this.#record(tx, serviceId, 'upsert', timestamp);
        await tx('services')
          .where({ service_id: serviceId })
          .update({ revision });
        return true;
      });
      if (marked) expired.push(serviceId);
    }
    return { expired, deregistered };
  }

  /** Log entries after a revision, oldest first. */
  async changesSince(revision: number, limit = 500): Promise<ServiceChange[]> {
    const rows = await this.#db('service_changes')
      .where('revision', '>', revision)
      .orderBy('revision', 'asc')
      .limit(limit)
      .select(['revision', 'service_id', 'kind']);
    return rows.map(r => ({
      revision: Number(r.revision),
      serviceId: r.service_id,
      kind: r.kind,
    }));
  }

  async maxRevision(): Promise<number> {
    const row = await this.#db('service_changes')
      .max({ r: 'revision' })
      .first();
    return Number(row?.r ?? 0);
  }

  /** The oldest revision still in the log (0 when it is empty). */
  async minRevision(): Promise<number> {
    const row = await this.#db('service_changes')
      .min({ r: 'revision' })
      .first();
    return Number(row?.r ?? 0);
  }

  /** Deletes log entries older than `before`, always keeping the newest. */
  async pruneChanges(before: Date): Promise<number> {
    const newest = await this.maxRevision();
    return this.#db('service_changes')
      .where('created_at', '<', before.toISOString())
      .where('revision', '<', newest)
      .delete();
  }

  /**
   * Sets live settings of a plugin instance (undefined leaves a field,
   * null clears it back to the default). Logs a change when something
   * changed; returns the override.
   */
  async setInstanceOverride(
    instanceId: string,
    patch: {
      weight?: number | null;
      maxConnections?: number | null;
      ready?: boolean | null;
      healthScore?: number | null;
    },
    now: Date = new Date(),
  ): Promise<InstanceOverride> {
    const timestamp = now.toISOString();
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#db.transaction(async tx => {
          const row: OverrideRow | undefined = await tx(
            'service_instance_overrides',
          )
            .where({ instance_id: instanceId })
            .forUpdate()
            .first();
          const current = {
            weight: row?.weight ?? null,
            max_connections: row?.max_connections ?? null,
            ready:
              row?.ready === null || row?.ready === undefined
                ? null
                : Boolean(row.ready),
            health_score: row?.health_score ?? null,
          };
          const next = {
            weight: patch.weight === undefined ? current.weight : patch.weight,
            max_connections:
              patch.maxConnections === undefined
                ? current.max_connections
                : patch.maxConnections,
            ready: patch.ready === undefined ? current.ready : patch.ready,
            health_score:
              patch.healthScore === undefined
                ? current.health_score
                : patch.healthScore,
          };
          const same =
            row !== undefined &&
            (Object.keys(next) as Array<keyof typeof next>).every(
              key =>
                (next[key] === null ? null : Number(next[key])) ===
                (current[key] === null ? null : Number(current[key])),
            );
          if (same) return rowToOverride(row);
          const revision = await this.#record(
            tx,
            instanceId,
            'override',
            timestamp,
          );
          const written = { ...next, updated_at: timestamp, revision };
          if (row) {
            await tx('service_instance_overrides')
              .where({ instance_id: instanceId })
              .update(written);
          } else {
            await tx('service_instance_overrides').insert({
              instance_id: instanceId,
              ...written,
            });
          }
          return rowToOverride({ instance_id: instanceId, ...written });
        });
      } catch (error) {
        if (!isUniqueViolation(error) || attempt >= 3) throw error;
      }
    }
  }

  /** Overrides, of the given instances or all. */
  async listInstanceOverrides(
    instanceIds?: string[],
  ): Promise<InstanceOverride[]> {
    const query = this.#db<OverrideRow>('service_instance_overrides');
    if (instanceIds) {
      if (instanceIds.length === 0) return [];
      query.whereIn('instance_id', instanceIds);
    }
    return (await query).map(rowToOverride);
  }

  /** Deletes the overrides of instances that are no longer active. */
  async pruneInstanceOverrides(): Promise<number> {
    return this.#db('service_instance_overrides')
      .whereNotIn(
        'instance_id',
        this.#db('plugin_instances')
          .whereIn('status', ACTIVE_STATUSES)
          .select('id'),
      )
      .delete();
  }

  /**
   * Running plugin instances with their plugin's tenant, and every managed
   * plugin (so a plugin with no running instance is known, not unknown).
   */
  async listRunningInstances(): Promise<{
    plugins: Array<{ pluginId: string; tenant: string }>;
    instances: RunningInstance[];
  }> {
    const rows = await this.#db('plugins as p')
      .leftJoin('plugin_instances as i', function onRunning() {
        this.on('i.plugin_id', '=', 'p.id').andOnVal(
          'i.status',
          '=',
          SERVING_STATUS,
        );
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
  async getRunningInstances(instanceIds: string[]): Promise<RunningInstance[]> {
    const found: RunningInstance[] = [];
    for (const chunk of chunks(instanceIds, 500)) {
      const rows = await this.#db('plugin_instances as i')
        .join('plugins as p', 'p.id', 'i.plugin_id')
        .whereIn('i.id', chunk)
        .where('i.status', SERVING_STATUS)
        .select([...RUNNING_INSTANCE_COLUMNS]);
      for (const row of rows) found.push(rowToRunningInstance(row));
    }
    return found;
  }

  /**
   * How many plugins exist. Plugins are never deleted (an uninstalled one
   * is inactive), so a new count means new plugins.
   */
  async countPlugins(): Promise<number> {
    const [{ n }] = await this.#db('plugins').count({ n: '*' });
    return Number(n);
  }

  /** Every managed plugin and its tenant. */
  async listPlugins(): Promise<Array<{ pluginId: string; tenant: string }>> {
    const rows = await this.#db('plugins').select(['id', 'tenant']);
    return rows.map(r => ({ pluginId: r.id, tenant: r.tenant }));
  }

  /** Whether a plugin instance has this id (registrations may not reuse it). */
  async isInstanceId(id: string): Promise<boolean> {
    const row = await this.#db('plugin_instances').where({ id }).first('id');
    return row !== undefined;
  }

  /** Which of these ids are plugin instances. */
  async instanceIds(ids: string[]): Promise<Set<string>> {
    const found = new Set<string>();
    for (const chunk of chunks(ids, 500)) {
      for (const row of await this.#db('plugin_instances')
        .whereIn('id', chunk)
        .select('id')) {
        found.add(row.id);
      }
    }
    return found;
  }

  /** The tenant of a managed plugin, or undefined. */
  async pluginTenant(pluginId: string): Promise<string | undefined> {
    const row = await this.#db('plugins')
      .where({ id: pluginId })
      .first('tenant');
    return row?.tenant;
  }

  /** Which of `ids` are plugins (in any tenant): one query, in chunks for SQLite's variable limit. */
  async existingPluginIds(ids: readonly string[]): Promise<Set<string>> {
    const found = new Set<string>();
    for (let i = 0; i < ids.length; i += 500) {
      const rows = await this.#db('plugins')
        .whereIn('id', ids.slice(i, i + 500))
        .select('id');
      for (const row of rows) found.add(row.id);
    }
    return found;
  }

  #select(db: Knex | Knex.Transaction) {
    return db<ServiceRow>('services').select([...SERVICE_COLUMNS]);
  }

  /** Appends one upsert per id to the log; their revisions by id. */
  async #recordMany(
    tx: Knex.Transaction,
    serviceIds: string[],
    timestamp: string,
  ): Promise<Map<string, number>> {
    const revisions = new Map<string, number>();
    for (const chunk of chunks(serviceIds, 500)) {
      const inserted = await tx('service_changes').insert(
        chunk.map(service_id => ({
          service_id,
          kind: 'upsert',
          created_at: timestamp,
        })),
        ['revision', 'service_id'],
      );
      for (const row of inserted as Array<{
        revision: number;
        service_id: string;
      }>) {
        revisions.set(row.service_id, Number(row.revision));
      }
    }
    if (this.#isPostgres) {
      await tx.raw('SELECT pg_notify(?, ?)', [
        SERVICES_NOTIFY_CHANNEL,
        String(Math.max(...revisions.values())),
      ]);
    }
    return revisions;
  }

  /** Appends to the log; NOTIFY on PostgreSQL is delivered on commit. */
  #record(
    tx: Knex.Transaction,
    serviceId: string,
    kind: ServiceChange['kind'],
    timestamp: string,
  ): Promise<number> {
    return recordServiceChange(tx, serviceId, kind, timestamp);
  }
}
