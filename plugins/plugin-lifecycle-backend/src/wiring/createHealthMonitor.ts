import { LoggerService } from '@backstage/backend-plugin-api';
import { Knex } from 'knex';
import { PluginLifecycleConfig } from '../config';
import { ServiceDiscovery } from '../engines/discovery/ServiceDiscovery';
import {
  HealthMonitor,
  HealthMonitorOptions,
} from '../engines/health/HealthMonitor';
import { ExecProbePolicy } from '../engines/health/execProbePolicy';
import { ProberRegistry } from '../engines/health/probers/ProberRegistry';
import { LifecycleCommands } from '../system/commands/lifecycleCommands';
import { SystemEvents } from '../events/SystemEvents';
import { remediate } from './healthRemediation';

/** Options of {@link createHealthMonitor}. */
export interface CreateHealthMonitorOptions {
  db: Knex;
  config: PluginLifecycleConfig;
  probers: ProberRegistry;
  execProbes: ExecProbePolicy;
  logger: LoggerService;
  events: SystemEvents;
  replicaId: string;
  /** What remediation acts through: restarts and errors go to the lifecycle commands. */
  lifecycle: Pick<LifecycleCommands, 'restartPlugin' | 'markPluginError'>;
  /** Rotation changes go to discovery. */
  discovery: ServiceDiscovery;
  /** Every probe run (the metrics exporter's hook). */
  onProbe?: HealthMonitorOptions['onProbe'];
}

/** The health monitor from app-config (pluginLifecycle.health), remediating through the lifecycle commands and discovery. */
export function createHealthMonitor(
  options: CreateHealthMonitorOptions,
): HealthMonitor {
  const { lifecycle, discovery, logger } = options;
  const h = options.config.health;
  return HealthMonitor.create({
    db: options.db,
    probers: options.probers,
    execProbes: options.execProbes,
    logger: logger.child({ engine: 'health' }),
    events: options.events,
    replicaId: options.replicaId,
    onProbe: options.onProbe,
    heartbeatIntervalMs: h.heartbeatInterval,
    replicaTimeoutMs: h.replicaTimeout,
    maxConcurrentProbes: h.maxConcurrentProbes,
    targetRefreshIntervalMs: h.targetRefreshInterval,
    flushIntervalMs: h.flushInterval,
    feedIntervalMs: h.feedInterval,
    retention: {
      maxResultsPerProbe: h.retention.maxResultsPerProbe,
      maxAgeMs: h.retention.maxAge,
      sampleIntervalMs: h.retention.sampleInterval,
      statusRefreshMs: h.retention.statusRefresh,
      pruneIntervalMs: h.retention.pruneInterval,
    },
    restartBackoff: {
      baseMs: h.restartBackoff.base,
      maxMs: h.restartBackoff.max,
      stableMs: h.restartBackoff.stable,
    },
    remediationPolicies: h.remediation,
    probeDefaults: h.probeDefaults,
    circuitBreakers: h.circuitBreakers,
    remediation: action =>
      remediate(action, {
        restartPlugin: (id, o) => lifecycle.restartPlugin(id, o),
        markPluginError: (id, o) => lifecycle.markPluginError(id, o),
        discovery,
        logger,
      }),
  });
}
