import {
  ProbeDefinition,
  ServiceLoadBalancingStrategy,
  ServiceType,
} from '@internal/plugin-lifecycle-common';
import { ServiceChangeKind } from '../../serviceChanges';

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
