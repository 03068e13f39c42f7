import { z } from 'zod';
import { LoadBalancingStrategy, enumWithKeyNames } from './enums';
import {
  decimalIntegerParam,
  pluginIdSchema,
  probeSchema,
  ProbeDefinition,
} from './schemas';

/**
 * The ways the discovery service spreads a service's traffic over its
 * instances. The backend's load balancer implements exactly these.
 *
 * @public
 */
export const SERVICE_LOAD_BALANCING_STRATEGIES = [
  'round-robin',
  'weighted-round-robin',
  'least-connections',
  'ip-hash',
  'health-weighted',
] as const satisfies readonly LoadBalancingStrategy[];

/** @public */
export type ServiceLoadBalancingStrategy =
  (typeof SERVICE_LOAD_BALANCING_STRATEGIES)[number];

/**
 * A strategy by its wire value or its key name in
 * {@link LoadBalancingStrategy} (`HEALTH_WEIGHTED`).
 *
 * @public
 */
export const serviceLoadBalancingStrategySchema = enumWithKeyNames(
  LoadBalancingStrategy,
  SERVICE_LOAD_BALANCING_STRATEGIES,
);

/**
 * What a service speaks. The original design's `'backend'` (a Backstage
 * backend plugin's service) is taken as `http`, which is what a backend
 * plugin serves.
 *
 * @public
 */
export const serviceTypeSchema = z.union(
  [
    z.enum(['http', 'grpc', 'tcp']),
    z.literal('backend').transform(() => 'http' as const),
  ],
  { error: 'must be one of http, grpc, tcp (or backend, which is http)' },
);

/** @public */
export type ServiceType = z.infer<typeof serviceTypeSchema>;

/**
 * A service name: what clients resolve and what follows `/proxy/`. A managed
 * plugin's instances are registered under the plugin id.
 *
 * @public
 */
export const serviceNameSchema = z
  .string({ error: 'is required: a service name such as billing' })
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$/,
    'must be letters, digits, "_", "-" and "." (1-255 characters, starting with a letter or digit)',
  );

/** @public */
export const serviceIdSchema = z
  .string()
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,254}$/,
    'must be letters, digits, "_", "-", "." and ":" (1-255 characters, starting with a letter or digit)',
  );

const weightSchema = z
  .number()
  .int('must be a whole number')
  .min(0, 'must be at least 0 (0 drains the instance)')
  .max(1_000_000);

const maxConnectionsSchema = z
  .number()
  .int('must be a whole number')
  .min(1, 'must be at least 1')
  .max(1_000_000);

const durationMsSchema = z
  .number()
  .int('must be a whole number of milliseconds')
  .min(1_000, 'must be at least 1000 (one second)')
  .max(7 * 24 * 3_600_000, 'must be at most a week');

/**
 * The short health check of the original design (`{ endpoint: '/health',
 * interval: 30000, timeout: 5000 }`, milliseconds), as the HTTP readiness
 * probe it stands for: a failing instance leaves load balancing.
 *
 * @public
 */
export const shortHealthCheckSchema = z
  .object({
    endpoint: z.string().startsWith('/', 'must be a path such as /health'),
    interval: z.number().int().min(1_000).max(3_600_000).optional(),
    timeout: z.number().int().min(1).max(600_000).optional(),
  })
  .strict()
  .transform(
    (check): ProbeDefinition => ({
      name: 'health-check',
      type: 'readiness',
      method: 'http',
      http: { path: check.endpoint },
      ...(check.interval ? { periodSeconds: check.interval / 1000 } : {}),
      ...(check.timeout ? { timeoutSeconds: check.timeout / 1000 } : {}),
    }),
  );

/** @public */
export const serviceHealthCheckSchema = z.union([
  probeSchema,
  shortHealthCheckSchema,
]);

/**
 * `POST /services`: registers (or, for a known serviceId, replaces) one
 * instance of a service. Without `ttlMs` the registration stays until it is
 * deregistered; with it, the instance must heartbeat at least that often or
 * it takes no traffic, and with `deregisterAfterMs` it is removed that long
 * after its last heartbeat.
 *
 * @public
 */
export const registerServiceRequestSchema = z
  .object({
    /** Generated when missing. Registering a known id replaces that instance. */
    serviceId: serviceIdSchema.optional(),
    /** The managed plugin the service belongs to, if any. */
    pluginId: pluginIdSchema.optional(),
    serviceName: serviceNameSchema,
    serviceType: serviceTypeSchema.default('http'),
    version: z.string().min(1).max(255).optional(),
    host: z
      .string({ error: 'is required: a host name or an IP address' })
      .min(1)
      .max(255)
      .regex(/^[^\s/?#@]+$/, 'must be a host name or an IP address'),
    port: z
      .number({ error: 'is required: a port from 1 to 65535' })
      .int('must be a whole number')
      .min(1, 'must be from 1 to 65535')
      .max(65535, 'must be from 1 to 65535'),
    /** Default: http for http services, grpc for grpc, tcp for tcp. */
    protocol: z.enum(['http', 'https', 'grpc', 'tcp']).optional(),
    /**
     * How the health monitor checks the instance: a probe definition, or
     * the short form `{ endpoint, interval, timeout }` (an HTTP readiness
     * probe; milliseconds).
     */
    healthCheck: serviceHealthCheckSchema.optional(),
    loadBalancing: z
      .object({
        /** Relative share of the traffic. Default 100; 0 drains. */
        weight: weightSchema.optional(),
        /** Concurrent proxied requests the instance takes, per backend replica. */
        maxConnections: maxConnectionsSchema.optional(),
        /** The default strategy for the service name. */
        strategy: serviceLoadBalancingStrategySchema.optional(),
      })
      .strict()
      .optional(),
    tags: z.array(z.string().min(1).max(255)).max(64).optional(),
    metadata: z.record(z.string(), z.string().max(4096)).optional(),
    /** Heartbeats are due at least this often. */
    ttlMs: durationMsSchema.optional(),
    /** Remove the instance this long after its last heartbeat (needs ttlMs). */
    deregisterAfterMs: durationMsSchema.optional(),
    /** Default: the caller's only tenant, or the plugin's, or the default tenant. */
    tenant: z.string().min(1).max(255).optional(),
  })
  .strict()
  .superRefine((input, ctx) => {
    if (input.deregisterAfterMs !== undefined) {
      if (input.ttlMs === undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['deregisterAfterMs'],
          message: 'needs ttlMs: it counts from the last heartbeat',
        });
      } else if (input.deregisterAfterMs < input.ttlMs) {
        ctx.addIssue({
          code: 'custom',
          path: ['deregisterAfterMs'],
          message: `must be at least ttlMs (${input.ttlMs})`,
        });
      }
    }
    if (
      input.serviceType === 'http' &&
      input.protocol !== undefined &&
      input.protocol !== 'http' &&
      input.protocol !== 'https'
    ) {
      ctx.addIssue({
        code: 'custom',
        path: ['protocol'],
        message: 'an http service speaks http or https',
      });
    }
  });

/** @public */
export type RegisterServiceRequest = z.input<
  typeof registerServiceRequestSchema
>;

/**
 * `PATCH /services/{serviceId}`: live changes to an instance's share of the
 * traffic; the id may also be a plugin instance's. `maxConnections: null`
 * removes the limit.
 *
 * @public
 */
export const updateServiceRequestSchema = z
  .object({
    weight: weightSchema.optional(),
    maxConnections: maxConnectionsSchema.nullable().optional(),
  })
  .strict()
  .refine(
    patch => patch.weight !== undefined || patch.maxConnections !== undefined,
    { message: 'say what to change: weight and/or maxConnections' },
  );

/** @public */
export type UpdateServiceRequest = z.infer<typeof updateServiceRequestSchema>;

/** Most services one page of `GET /services` holds. @public */
export const MAX_SERVICES_PAGE = 1000;

/**
 * Query of `GET /services`: a page of at most `limit` services (default
 * 500) after `cursor` (the `nextCursor` of the page before).
 * @public
 */
export const listServicesQuerySchema = z
  .object({
    name: serviceNameSchema.optional(),
    tenant: z.string().min(1).max(255).optional(),
    limit: decimalIntegerParam({ min: 1, max: MAX_SERVICES_PAGE }).optional(),
    cursor: z.string().min(1).max(2048).optional(),
  })
  .strict();

/** Body of `POST /services/batch`: registrations, all or none. @public */
export const registerServicesRequestSchema = z
  .object({
    services: z.array(z.unknown()).min(1).max(MAX_SERVICES_PAGE),
  })
  .strict();

/** Body of `POST /services/heartbeats`. @public */
export const heartbeatsRequestSchema = z
  .object({
    serviceIds: z.array(z.string()).min(1).max(MAX_SERVICES_PAGE),
  })
  .strict();

/** Query of `GET /services/{name}/resolve`. @public */
export const resolveQuerySchema = z
  .object({
    strategy: serviceLoadBalancingStrategySchema.optional(),
    /** Needed only when the caller sees services of that name in several tenants. */
    tenant: z.string().min(1).max(255).optional(),
    /** A sticky key for ip-hash, such as a session id; default the caller's IP. */
    key: z.string().min(1).max(1024).optional(),
  })
  .strict();

/**
 * One instance of a service as discovery sees it: registered through the
 * API (`source: 'registered'`) or started by a runtime (`source:
 * 'instance'`, the service name being the plugin id).
 *
 * @public
 */
export interface ServiceRegistration {
  serviceId: string;
  source: 'registered' | 'instance';
  tenant: string;
  pluginId?: string;
  serviceName: string;
  serviceType: ServiceType;
  version?: string;
  /** For plugin instances: stable or canary. */
  track?: string;
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
  lastHeartbeatAt?: string;
  registeredAt?: string;
  updatedAt?: string;
  /** The health verdict. */
  ready: boolean;
  healthScore: number;
  /** The TTL passed without a heartbeat: no traffic until the next one. */
  expired: boolean;
  /** Passive outlier ejection by this backend replica: no traffic before then. */
  ejectedUntil?: string;
  /** Proxied requests in flight through this backend replica. */
  activeConnections: number;
}

/**
 * The instance picked for one request.
 *
 * @public
 */
export interface ResolvedService {
  serviceId: string;
  source: 'registered' | 'instance';
  serviceName: string;
  tenant: string;
  pluginId?: string;
  serviceType: ServiceType;
  version?: string;
  track?: string;
  host: string;
  port: number;
  protocol: string;
  /** `protocol://host:port` */
  url: string;
  weight: number;
  maxConnections?: number;
  tags: string[];
  metadata: Record<string, string>;
  strategy: ServiceLoadBalancingStrategy;
  /** Chosen by panic routing: too few instances were eligible. */
  panic: boolean;
}
