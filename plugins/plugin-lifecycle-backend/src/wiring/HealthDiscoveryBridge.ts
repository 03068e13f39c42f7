import { LoggerService } from '@backstage/backend-plugin-api';
import {
  HealthMonitor,
  HealthTarget,
  HealthVerdictChange,
} from '../engines/health/HealthMonitor';
import { ProxyMetrics } from '../engines/discovery/ProxyMetrics';
import {
  HealthCheckedService,
  ServiceDiscovery,
} from '../engines/discovery/ServiceDiscovery';
import { SystemEvents } from '../events/SystemEvents';

/** Health targets of registered services carry this prefix (instances use their own id). */
export const SERVICE_TARGET_PREFIX = 'service:';

/** The probe target of a registered service with a health check. */
export function serviceHealthTarget(
  service: HealthCheckedService,
): HealthTarget | undefined {
  if (service.source !== 'registered' || !service.healthCheck) {
    return undefined;
  }
  return {
    id: `${SERVICE_TARGET_PREFIX}${service.serviceId}`,
    instanceId: service.serviceId,
    // Remediation policies are per plugin; a service of no plugin goes by its name.
    pluginId: service.pluginId ?? service.serviceName,
    serviceName: service.serviceName,
    host: service.host,
    port: service.port,
    probes: [service.healthCheck],
  };
}

/** Options of {@link HealthDiscoveryBridge.create}. */
export interface HealthDiscoveryBridgeOptions {
  health: HealthMonitor;
  discovery: ServiceDiscovery;
  metrics: ProxyMetrics;
  events: SystemEvents;
  logger: LoggerService;
  replicaId: string;
  /** How often registered services are read for health checks. Default 5000. */
  syncIntervalMs?: number;
  /** How often the proxy's recent counts are passed on. Default 5000. */
  passiveIntervalMs?: number;
  /**
   * Off: registered services' health checks are not run; their instances
   * take traffic as registered (`discovery.healthChecks`, the design's
   * `serviceDiscovery.enableHealthChecks`). Default true.
   */
  serviceHealthChecks?: boolean;
}

/**
 * Connects the health monitor and service discovery, which know nothing of
 * each other:
 *
 * - a registered service with a health check becomes a probe target (on
 *   every replica, so the monitor can assign it to any of them);
 * - the health score of a verdict this replica reached goes to discovery
 *   for health-weighted balancing (readiness goes through remediation);
 * - what the proxy saw of each instance lately goes to the monitor as
 *   passive health.
 */
export class HealthDiscoveryBridge {
  readonly #o: Required<HealthDiscoveryBridgeOptions>;
  /** Registered targets added, by id, with their probes as JSON. */
  readonly #targets = new Map<string, string>();
  /** Per instance: counts at the last passive report. */
  readonly #lastCounts = new Map<
    string,
    { requests: number; errors: number }
  >();
  #timers: NodeJS.Timeout[] = [];
  #syncing?: Promise<void>;
  /** The run that has not started yet, which later calls join. */
  #queued?: Promise<void>;
  readonly #onVerdict = (change: HealthVerdictChange) => {
    if (change.reportedBy !== this.#o.replicaId) return;
    this.#o.discovery
      .setInstanceHealth(change.instanceId, {
        healthScore: change.healthScore,
      })
      .catch(error => {
        // An instance that ended meanwhile has nothing to route.
        if ((error as Error).name !== 'NotFoundError') {
          this.#o.logger.warn(
            `health score of ${change.instanceId} not passed on: ${error}`,
          );
        }
      });
  };
  readonly #onServicesChanged = () => {
    this.sync().catch(() => {});
  };

  static create(options: HealthDiscoveryBridgeOptions): HealthDiscoveryBridge {
    return new HealthDiscoveryBridge(options);
  }

  private constructor(options: HealthDiscoveryBridgeOptions) {
    this.#o = {
      syncIntervalMs: 5_000,
      passiveIntervalMs: 5_000,
      serviceHealthChecks: true,
      ...options,
    };
  }

  async start(): Promise<void> {
    const { events } = this.#o;
    events.on('healthMonitor:verdictChanged', this.#onVerdict);
    events.on('serviceDiscovery:serviceRegistered', this.#onServicesChanged);
    events.on('serviceDiscovery:serviceDeregistered', this.#onServicesChanged);
    await this.sync();
    this.#timers = [
      setInterval(this.#onServicesChanged, this.#o.syncIntervalMs),
      setInterval(() => this.reportPassive(), this.#o.passiveIntervalMs),
    ];
    this.#timers.forEach(t => t.unref());
  }

  async stop(): Promise<void> {
    const { events } = this.#o;
    events.off('healthMonitor:verdictChanged', this.#onVerdict);
    events.off('serviceDiscovery:serviceRegistered', this.#onServicesChanged);
    events.off('serviceDiscovery:serviceDeregistered', this.#onServicesChanged);
    this.#timers.forEach(t => clearInterval(t));
    this.#timers = [];
    await this.#syncing;
  }

  /** Brings the monitor's service targets in line with the registrations. */
  sync(): Promise<void> {
    // One at a time; calls during a run share the one run after it (a bulk
    // of 1,000 registrations is 1,000 events, not 1,000 runs).
    if (this.#queued) return this.#queued;
    const run = (this.#syncing ?? Promise.resolve())
      .catch(() => {})
      .then(() => {
        this.#queued = undefined;
        return this.#sync();
      });
    this.#queued = run;
    this.#syncing = run.catch(error => {
      this.#o.logger.warn(`syncing service health checks failed: ${error}`);
    });
    return run;
  }

  async #sync(): Promise<void> {
    const { discovery, health } = this.#o;
    const wanted = new Map<string, HealthTarget>();
    const services = this.#o.serviceHealthChecks
      ? await discovery.listHealthChecked()
      : [];
    for (const service of services) {
      const target = serviceHealthTarget(service);
      if (target) wanted.set(target.id, target);
    }
    const added: HealthTarget[] = [];
    for (const [id, target] of wanted) {
      const json = JSON.stringify(target);
      if (this.#targets.get(id) !== json) {
        added.push(target);
        this.#targets.set(id, json);
      }
    }
    const removed = [...this.#targets.keys()].filter(id => !wanted.has(id));
    removed.forEach(id => this.#targets.delete(id));
    if (added.length > 0) await health.addTargets(added);
    if (removed.length > 0) await health.removeTargets(removed);
  }

  /** Passes on what the proxy saw of each instance since the last report. */
  reportPassive(): void {
    const { metrics, health } = this.#o;
    for (const stats of metrics.snapshot().instances) {
      const errors = stats.status['5xx'] + stats.status.errors;
      const last = this.#lastCounts.get(stats.serviceId) ?? {
        requests: 0,
        errors: 0,
      };
      this.#lastCounts.set(stats.serviceId, {
        requests: stats.requests,
        errors,
      });
      const targetId = this.#targets.has(
        `${SERVICE_TARGET_PREFIX}${stats.serviceId}`,
      )
        ? `${SERVICE_TARGET_PREFIX}${stats.serviceId}`
        : stats.serviceId;
      const window = {
        requests: stats.requests - last.requests,
        errors: errors - last.errors,
      };
      // A quiet interval clears what an earlier one reported.
      if (window.requests > 0 || last.requests > 0) {
        health.reportPassive(targetId, window);
      }
    }
  }
}
