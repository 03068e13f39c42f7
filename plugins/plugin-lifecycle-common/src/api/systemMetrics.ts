import { LifecycleState } from '../lifecycle/states';
import { DeploymentPhase } from './deployments';

/**
 * Active instances by health: `degraded` is a degrading or flapping
 * verdict, `unknown` an instance not probed yet (or before its startup
 * probe passed), `notChecked` one of a plugin without probes.
 *
 * @public
 */
export interface InstancesByHealth {
  healthy: number;
  degraded: number;
  unhealthy: number;
  unknown: number;
  notChecked: number;
}

/**
 * What `getSystemMetrics()` and `GET /metrics/system` answer: the original
 * design's `healthMonitoring`, `deployment` and `serviceDiscovery`, plus
 * the counts by state and status. Everything is within the caller's
 * tenants; `serviceDiscovery` and `operations.runningHere` are of the
 * backend replica that answers.
 *
 * @public
 */
export interface SystemMetrics {
  plugins: { total: number; byState: Record<LifecycleState, number> };
  instances: {
    /** Active instances whose runtime status is `running`. */
    running: number;
    /** Every active instance (starting, running, stopping) by health. */
    byHealth: InstancesByHealth;
  };
  operations: { byStatus: Record<string, number>; runningHere: number };
  /** The design's `metrics.healthMonitoring`. */
  healthMonitoring: {
    /**
     * Running plugins with at least one healthy instance and none degraded
     * or unhealthy.
     */
    healthyPlugins: number;
    /** Plugins with a degraded instance and none unhealthy. */
    degradedPlugins: number;
    /**
     * Plugins in the `error` state, with an unhealthy instance, or
     * `running` without an active instance.
     */
    unhealthyPlugins: number;
    /** Running plugins whose instances have no verdict yet or no probes. */
    uncheckedPlugins: number;
    instancesByHealth: InstancesByHealth;
  };
  /** The design's `metrics.deployment`. */
  deployment: {
    /** Deployments not ended: pending, progressing, paused, awaiting approval, rolling back. */
    activeDeployments: number;
    byPhase: Partial<Record<DeploymentPhase, number>>;
    /** Deployments that ended (succeeded, rolled back, aborted, failed). */
    completedDeployments: number;
    /**
     * Percent of ended deployments that succeeded (rolled back, aborted and
     * failed count against it); undefined before the first one ends.
     */
    successRate?: number;
  };
  /**
   * The design's `metrics.serviceDiscovery`: requests proxied by this
   * replica's data planes (Node proxy and nginx) since it started.
   */
  serviceDiscovery: {
    /** Mean time to the upstream's response headers, ms; 0 without requests. */
    averageResponseTime: number;
    /** Proxied request attempts. */
    totalRequests: number;
    /** `(5xx + no answer) / requests`, 0 to 1; 0 without requests. */
    errorRate: number;
    /** Requests in flight now. */
    activeConnections: number;
    /** Services (by name and tenant) that got a request. */
    servicesWithTraffic: number;
  };
}
