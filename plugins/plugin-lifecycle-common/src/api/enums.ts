import { z } from 'zod';

// The enums of the original design (ProbeType.STARTUP,
// LoadBalancingStrategy.HEALTH_WEIGHTED, ...) as const objects whose values
// are our wire strings, so `ProbeType.STARTUP === 'startup'` and code written
// against the design sends what the API takes. Their schemas also take the
// key names, so a caller who wrote the key (`"type": "STARTUP"` in JSON, a
// YAML template) is not refused. DeploymentStrategy (api/deployments.ts) is
// built the same way.

/**
 * A schema for one of `values` that also takes the key of `keys` naming it
 * (`STARTUP` for `startup`), and says which values it takes otherwise.
 *
 * @public
 */
export function enumWithKeyNames<
  const T extends string,
  const K extends string,
>(keys: Readonly<Record<K, T>>, values: readonly [T, ...T[]]) {
  const keyNames = Object.keys(keys) as [K, ...K[]];
  const message = `must be one of ${values.join(', ')}`;
  // A union (not a preprocess) so the input type and the OpenAPI document
  // say both spellings are taken.
  return z.union(
    [
      z.enum(values as [T, ...T[]]),
      z.enum(keyNames).transform((key): T => keys[key]),
    ],
    { error: message },
  );
}

/**
 * When in an instance's life a probe runs (Kubernetes' probe kinds).
 *
 * @public
 */
export const ProbeType = {
  /** Until it first passes; the other probes wait for it. */
  STARTUP: 'startup',
  /** Whether the instance takes traffic. */
  READINESS: 'readiness',
  /** Whether the instance must be restarted. */
  LIVENESS: 'liveness',
} as const;

/** @public */
// eslint-disable-next-line @typescript-eslint/no-redeclare -- the type of the values of the const of the same name
export type ProbeType = (typeof ProbeType)[keyof typeof ProbeType];

/** The wire values of {@link ProbeType}. @public */
export const PROBE_TYPES = Object.values(ProbeType) as [
  ProbeType,
  ...ProbeType[],
];

/** A probe type by its wire value or its key name (`STARTUP`). @public */
export const probeTypeSchema = enumWithKeyNames(ProbeType, PROBE_TYPES);

/**
 * How a probe checks an instance.
 *
 * @public
 */
export const ProbeMethod = {
  /** An HTTP GET of `http.path`; `http.expectedStatusCodes` pass (default 200-399). */
  HTTP: 'http',
  /** A TCP connection to the port. */
  TCP: 'tcp',
  /** The gRPC health checking protocol (`grpc.health.v1.Health/Check`). */
  GRPC: 'grpc',
  /** A command on the backend's host (only commands the operator allowed); exit code 0 passes. */
  EXEC: 'exec',
  /** A probe kind another backend module registered (the -node extension point), by `custom.name`. */
  CUSTOM: 'custom',
} as const;

/** @public */
// eslint-disable-next-line @typescript-eslint/no-redeclare -- the type of the values of the const of the same name
export type ProbeMethod = (typeof ProbeMethod)[keyof typeof ProbeMethod];

/** The wire values of {@link ProbeMethod}. @public */
export const PROBE_METHODS = Object.values(ProbeMethod) as [
  ProbeMethod,
  ...ProbeMethod[],
];

/** A probe method by its wire value or its key name (`HTTP`). @public */
export const probeMethodSchema = enumWithKeyNames(ProbeMethod, PROBE_METHODS);

/**
 * How discovery spreads a service's traffic over its instances (the
 * `strategy` of `GET /services/{name}/resolve`, a registration's
 * `loadBalancing.strategy`, `pluginLifecycle.discovery.defaultStrategy`).
 * `WEIGHTED` is the design's short name of `WEIGHTED_ROUND_ROBIN`.
 *
 * @public
 */
export const LoadBalancingStrategy = {
  /** Each eligible instance in turn. */
  ROUND_ROBIN: 'round-robin',
  /** nginx's smooth weighted round robin on the instances' weights. */
  WEIGHTED_ROUND_ROBIN: 'weighted-round-robin',
  /** The same as `WEIGHTED_ROUND_ROBIN`. */
  WEIGHTED: 'weighted-round-robin',
  /** The instance with the fewest active connections per unit of weight. */
  LEAST_CONNECTIONS: 'least-connections',
  /** Consistent hashing of the client's sticky key or IP address. */
  IP_HASH: 'ip-hash',
  /** Smooth weighted round robin on weight × health score. */
  HEALTH_WEIGHTED: 'health-weighted',
} as const;

/** @public */
// eslint-disable-next-line @typescript-eslint/no-redeclare -- the type of the values of the const of the same name
export type LoadBalancingStrategy =
  (typeof LoadBalancingStrategy)[keyof typeof LoadBalancingStrategy];
