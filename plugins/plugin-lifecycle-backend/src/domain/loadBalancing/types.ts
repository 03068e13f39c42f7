/**
 * The ways a service's traffic can be spread over its instances.
 *
 * @public
 */
export const LoadBalancingStrategy = {
  /** Each eligible instance in turn. */
  RoundRobin: 'round-robin',
  /** nginx's smooth weighted round robin on the instances' weights. */
  WeightedRoundRobin: 'weighted-round-robin',
  /** The instance with the fewest active connections per unit of weight. */
  LeastConnections: 'least-connections',
  /** Consistent hashing of the client's sticky key or IP address. */
  IpHash: 'ip-hash',
  /** Smooth weighted round robin on weight × healthScore. */
  HealthWeighted: 'health-weighted',
} as const;

/**
 * One of the values of the `LoadBalancingStrategy` object.
 *
 * @public
 */
// eslint-disable-next-line @typescript-eslint/no-redeclare -- the const object and its type share the name, like an enum
export type LoadBalancingStrategy =
  (typeof LoadBalancingStrategy)[keyof typeof LoadBalancingStrategy];

/**
 * Every strategy, as a non-empty tuple so it can feed `z.enum(...)`.
 *
 * @public
 */
export const LOAD_BALANCING_STRATEGIES = [
  LoadBalancingStrategy.RoundRobin,
  LoadBalancingStrategy.WeightedRoundRobin,
  LoadBalancingStrategy.LeastConnections,
  LoadBalancingStrategy.IpHash,
  LoadBalancingStrategy.HealthWeighted,
] as const satisfies readonly LoadBalancingStrategy[];

/**
 * What the load balancer knows about one instance of a service.
 *
 * @public
 */
export interface BalancedInstance {
  /** Unique within the service. */
  id: string;
  /** Relative share of the traffic; at least 0. An instance of weight 0 is drained and gets nothing. */
  weight: number;
  /** Requests or connections in flight, as reported by the proxy. */
  activeConnections: number;
  /** The instance takes nothing more once activeConnections reaches this. */
  maxConnections?: number;
  /** From 0 (failing) to 1 (healthy); only the health-weighted strategy reads it. Missing means 1. */
  healthScore?: number;
  /** Whether the instance has passed its readiness checks. */
  ready: boolean;
  /** Passive outlier ejection: no traffic before this time, in ms since the epoch. */
  ejectedUntil?: number;
}

/**
 * The client a pick is made for; only the ip-hash strategy reads it.
 *
 * @public
 */
export interface ClientInfo {
  ip?: string;
  /** A sticky key such as a session id; when present it is hashed instead of the IP. */
  key?: string;
}

/**
 * The outcome of a pick: the chosen instance, and whether panic routing
 * chose it (too few eligible instances, so ejected ones were used too;
 * instances that are not ready never are).
 * `undefined` when no instance can take the request.
 *
 * @public
 */
export type PickResult =
  | { instance: BalancedInstance; panic: boolean }
  | undefined;

/**
 * A strategy bound to one snapshot of a service's instances.
 *
 * @public
 */
export interface Picker {
  /**
   * Chooses the instance for one request.
   *
   * @param now - ms since the epoch; decides which ejections have expired
   */
  pick(client: ClientInfo, now: number): BalancedInstance | undefined;
}

/**
 * Tuning shared by {@link createPicker} and {@link LoadBalancer}.
 *
 * @public
 */
export interface LoadBalancingOptions {
  /**
   * Envoy's panic threshold, from 0 to 1: when the share of eligible
   * instances falls below it, traffic goes to every ready instance with
   * spare capacity, ejected or not, rather than overloading the few
   * eligible ones. Instances that are not ready get nothing even then.
   * 0 disables panic routing. Default 0.5.
   */
  panicThreshold?: number;
  /**
   * Points on the ip-hash ring for an instance of average weight
   * (rounded to a power of two). Default 160.
   */
  virtualNodes?: number;
}
