import {
  ProbeDefinition,
  ServiceLoadBalancingStrategy,
  ServiceType,
} from '@internal/plugin-lifecycle-common';
import { Knex } from 'knex';
import { fromJson, optional, toIso, toJson } from '../../mappers';
import {
  InstanceOverride,
  RunningInstance,
  ServiceInput,
  StoredService,
} from './serviceTypes';

/**
 * Service ids are unique across tenants, so one another tenant holds cannot
 * be given; the answer says no more than that: neither whose it is nor that
 * a tenant is involved.
 */
export function serviceIdUnavailable(serviceId: string): string {
  return `Service id '${serviceId}' is not available; register under another id, or leave serviceId out to get a generated one`;
}

/** A row of `services`. */
export type ServiceRow = {
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

/** A row of `service_instance_overrides`. */
export type OverrideRow = {
  instance_id: string;
  weight: number | null;
  max_connections: number | null;
  ready: boolean | number | null;
  health_score: number | null;
  updated_at: Date | string;
  revision: number | string;
};

/** The columns of {@link ServiceRow}, for statements that list them. */
export const SERVICE_COLUMNS = [
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
export const SERVING_STATUS = 'running';
/** Instance statuses whose overrides are kept. */
export const ACTIVE_STATUSES = ['starting', 'running', 'stopping'];

/** The services table, its columns listed. */
export function selectServices(db: Knex | Knex.Transaction) {
  return db<ServiceRow>('services').select([...SERVICE_COLUMNS]);
}

/** Row -> service. */
export function rowToService(row: ServiceRow): StoredService {
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

/** Row -> override. */
export function rowToOverride(row: OverrideRow): InstanceOverride {
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
export function deadlines(
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
export const RUNNING_INSTANCE_COLUMNS = [
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

/** Row -> running instance. */
export function rowToRunningInstance(row: {
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
export function serviceFields(input: ServiceInput, now: Date) {
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

/** Items in slices of at most `size`. */
export function chunks<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size)
    out.push(items.slice(i, i + size));
  return out;
}
