import {
  ResolvedService,
  ServiceRegistration,
  ServiceType,
} from '@internal/plugin-lifecycle-common';
import {
  InstanceOverride,
  RunningInstance,
  StoredService,
} from '../../database/ServiceStore';

/**
 * One instance of a service as discovery's view holds it: what the API
 * shows, what a pick answers and what the balancer weighs. Built from a
 * registration or a running plugin instance, never changed in place.
 */
export interface Entry {
  id: string;
  /** The pool it belongs to (see {@link poolKey}). */
  key: string;
  source: 'registered' | 'instance';
  registration: Omit<ServiceRegistration, 'activeConnections' | 'ejectedUntil'>;
  resolved: Omit<ResolvedService, 'strategy' | 'panic'>;
  weight: number;
  maxConnections?: number;
  healthScore: number;
  routable: boolean;
}

/** Pool keys: tenant and service name, which neither may contain. */
export const poolKey = (tenant: string, serviceName: string) =>
  `${tenant}\u0000${serviceName}`;

/** The tenant and service name of a pool key. */
export function splitPoolKey(
  key: string,
): [tenant: string, serviceName: string] {
  const at = key.indexOf('\u0000');
  return [key.slice(0, at), key.slice(at + 1)];
}

export function urlOf(protocol: string, host: string, port: number) {
  const h = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
  return `${protocol}://${h}:${port}`;
}

function typeOfProtocol(protocol: string): ServiceType {
  if (protocol === 'grpc') return 'grpc';
  if (protocol === 'tcp') return 'tcp';
  return 'http';
}

/** The entry of a service registered through the API. */
export function serviceEntry(service: StoredService, key: string): Entry {
  const expired = service.expiredAt !== undefined;
  const shared = {
    serviceId: service.serviceId,
    source: 'registered' as const,
    tenant: service.tenant,
    serviceName: service.serviceName,
    serviceType: service.serviceType,
    host: service.host,
    port: service.port,
    protocol: service.protocol,
    weight: service.weight,
    tags: service.tags,
    metadata: service.metadata,
    ...(service.pluginId ? { pluginId: service.pluginId } : {}),
    ...(service.version ? { version: service.version } : {}),
    ...(service.maxConnections !== undefined
      ? { maxConnections: service.maxConnections }
      : {}),
  };
  return {
    id: service.serviceId,
    key,
    source: 'registered',
    registration: {
      ...shared,
      ...(service.strategy ? { strategy: service.strategy } : {}),
      ...(service.healthCheck ? { healthCheck: service.healthCheck } : {}),
      ...(service.ttlMs !== undefined ? { ttlMs: service.ttlMs } : {}),
      ...(service.deregisterAfterMs !== undefined
        ? { deregisterAfterMs: service.deregisterAfterMs }
        : {}),
      lastHeartbeatAt: service.lastHeartbeatAt,
      registeredAt: service.registeredAt,
      updatedAt: service.updatedAt,
      ready: service.ready,
      healthScore: service.healthScore,
      expired,
    },
    resolved: {
      ...shared,
      url: urlOf(service.protocol, service.host, service.port),
    },
    weight: service.weight,
    maxConnections: service.maxConnections,
    healthScore: service.healthScore,
    routable: service.ready && !expired,
  };
}

/** The entry of a running plugin instance, with its live override if any. */
export function instanceEntry(
  instance: RunningInstance,
  key: string,
  override: InstanceOverride | undefined,
): Entry {
  const weight = override?.weight ?? 100;
  const maxConnections = override?.maxConnections;
  const ready = override?.ready ?? true;
  const healthScore = override?.healthScore ?? 1;
  const shared = {
    serviceId: instance.instanceId,
    source: 'instance' as const,
    tenant: instance.tenant,
    pluginId: instance.pluginId,
    serviceName: instance.pluginId,
    serviceType: typeOfProtocol(instance.protocol),
    version: instance.version,
    track: instance.track,
    host: instance.host,
    port: instance.port,
    protocol: instance.protocol,
    weight,
    ...(maxConnections !== undefined ? { maxConnections } : {}),
    tags: [],
    metadata: {},
  };
  return {
    id: instance.instanceId,
    key,
    source: 'instance',
    registration: {
      ...shared,
      ...(override ? { updatedAt: override.updatedAt } : {}),
      ready,
      healthScore,
      expired: false,
    },
    resolved: {
      ...shared,
      url: urlOf(instance.protocol, instance.host, instance.port),
    },
    weight,
    maxConnections,
    healthScore,
    routable: ready,
  };
}
