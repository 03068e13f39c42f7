import { ExecProbePolicy } from './execProbePolicy';
import { LoggerService } from '@backstage/backend-plugin-api';
import { InputError } from '@backstage/errors';
import {
  InstanceHealth,
  PluginHealth,
  ProbeDefinition,
  ProbeHealth,
  probeListSchema,
  validationMessage,
} from '@internal/plugin-lifecycle-common';
import { Knex } from 'knex';
import {
  DEFAULT_RESTART_BACKOFF,
  RemediationAction,
  RemediationPolicy,
  RestartBackoff,
  remediationPolicy,
} from '../../domain/health/remediation';
import {
  DEFAULT_VERDICT_OPTIONS,
  TrendOptions,
  VerdictOptions,
  trendOptions,
} from '../../domain/health/trends';
import { SystemEvents } from '../../events/SystemEvents';
import { ProberRegistry } from './probers/ProberRegistry';

/**
 * Something to probe besides the running plugin instances, which the
 * monitor finds itself.
 *
 * @public
 */
export interface HealthTarget {
  /** Unique among all targets (instance ids included). */
  id: string;
  pluginId: string;
  /** The instance it stands for; its id by default. */
  instanceId?: string;
  host: string;
  port: number;
  probes: ProbeDefinition[];
  /**
   * Set for a registered service's health check (not a plugin's probes):
   * its exec probes go by the commands allowed for every probe only.
   */
  serviceName?: string;
  /** When it started, in ms; `initialDelaySeconds` counts from here. */
  startedAt?: number;
}

/**
 * How many results and for how long the monitor keeps them.
 *
 * @public
 */
export interface HealthRetention {
  /** Results kept per probe of a target (newest). */
  maxResultsPerProbe: number;
  /** Results older than this are deleted. */
  maxAgeMs: number;
  /**
   * A result is stored when it differs from the previous one and otherwise
   * at most once per this interval per probe.
   */
  sampleIntervalMs: number;
  /**
   * A probe's status row is rewritten at least this often, so others can
   * tell it is current; rows not rewritten for ten times this are deleted.
   */
  statusRefreshMs: number;
  /** How often old results and statuses are deleted. */
  pruneIntervalMs: number;
  /** Results waiting to be written, at most; the oldest are dropped. */
  maxPendingResults: number;
}

/** @public */
export const DEFAULT_HEALTH_RETENTION: Readonly<HealthRetention> =
  Object.freeze({
    maxResultsPerProbe: 100,
    maxAgeMs: 24 * 3_600_000,
    sampleIntervalMs: 60_000,
    statusRefreshMs: 60_000,
    pruneIntervalMs: 300_000,
    maxPendingResults: 20_000,
  });

/**
 * One probe run, as {@link HealthMonitorOptions.onProbe} hears of it.
 *
 * @public
 */
export interface ProbeRun {
  pluginId: string;
  targetId: string;
  probeName: string;
  /** startup, readiness or liveness. */
  probeType: string;
  /** http, tcp, grpc, exec or custom. */
  method: string;
  ok: boolean;
  latencyMs: number;
}

/**
 * Options of {@link HealthMonitor.create}.
 *
 * @public
 */
export interface HealthMonitorOptions {
  db: Knex;
  /**
   * Called with every probe run this replica makes (a metrics exporter's
   * hook); its failure is ignored.
   */
  onProbe?: (run: ProbeRun) => void;
  logger: LoggerService;
  events: SystemEvents;
  /** This backend replica (see `newReplicaId`). */
  replicaId: string;
  /** The probers; a default registry (closed on stop) when not given. */
  probers?: ProberRegistry;
  /**
   * The commands exec probes may run, checked when a plugin's probes are
   * registered (and by the default registry's exec prober). Default: none.
   * A registry given in `probers` brings its own exec prober's policy.
   */
  execProbes?: ExecProbePolicy;
  /**
   * The wall clock, in ms since the epoch. It must advance with real time:
   * the scheduler's timers wait on it.
   */
  clock?: () => number;
  /** How often this replica says it is alive and looks for others. 2 s. */
  heartbeatIntervalMs?: number;
  /** A replica silent this long is gone and its targets move. 10 s. */
  replicaTimeoutMs?: number;
  /**
   * Probes running at once. 64 by default: at 10,000 probes/s of about
   * 2 ms each, some 20 run at a time; more slots only let a slowed event
   * loop pile up completions (longer probes, more in flight, more lag). A
   * probe that hangs holds its slot until its timeout, so raise this for
   * many targets that time out (or give their probes a circuit breaker).
   */
  maxConcurrentProbes?: number;
  /** How often running instances and plugin probes are read. 5 s. */
  targetRefreshIntervalMs?: number;
  /** How often status changes and sampled results are written. 1 s. */
  flushIntervalMs?: number;
  /** How often other replicas' status changes are read. 1 s. */
  feedIntervalMs?: number;
  retention?: Partial<HealthRetention>;
  trends?: Partial<TrendOptions>;
  verdict?: Partial<VerdictOptions>;
  /**
   * Carries out a remediation (restart through the orchestrator, take out
   * of rotation, ...). Called on the replica that probes the instance; its
   * failure is logged. Every action is also published as
   * `healthMonitor:remediation`.
   */
  remediation?: (action: RemediationAction) => Promise<void>;
  /** Remediation per plugin id; `*` is the default for all plugins. */
  remediationPolicies?: Record<string, Partial<RemediationPolicy>>;
  restartBackoff?: Partial<RestartBackoff>;
  /** Instance statuses that are probed. Only `running` by default. */
  instanceStatuses?: string[];
  /**
   * What a probe that does not say gets instead of Kubernetes' defaults
   * (`periodSeconds` 10, `failureThreshold` 3).
   */
  probeDefaults?: ProbeDefaults;
  /**
   * Off: probes' `circuitBreaker` settings are ignored (every probe runs
   * each period). Default on.
   */
  circuitBreakers?: boolean;
}

/**
 * Defaults for the probe settings a probe definition leaves out.
 *
 * @public
 */
export interface ProbeDefaults {
  periodSeconds?: number;
  failureThreshold?: number;
}

export type { HealthVerdictChange } from '../../events/eventMap';

// The answer of `GET /plugins/{id}/health` is typed in -common, where the
// frontend reads it too.
export type { InstanceHealth, PluginHealth, ProbeHealth };

/**
 * Counters of one monitor, for benchmarks and metrics.
 *
 * @public
 */
export interface HealthMonitorStats {
  replicas: string[];
  targets: number;
  /** Targets this replica probes. */
  assignedTargets: number;
  probesRun: number;
  probesFailed: number;
  probesRunning: number;
  probesPending: number;
  statusRowsWritten: number;
  resultsWritten: number;
  resultsDropped: number;
  pendingStatusRows: number;
  pendingResults: number;
}

/** The options of a monitor with defaults applied and checked. */
export interface MonitorSettings {
  heartbeatIntervalMs: number;
  replicaTimeoutMs: number;
  targetRefreshIntervalMs: number;
  flushIntervalMs: number;
  feedIntervalMs: number;
  retention: HealthRetention;
  trendOptions: TrendOptions;
  verdictOptions: VerdictOptions;
  remediation?: (action: RemediationAction) => Promise<void>;
  policies: Map<string, RemediationPolicy>;
  defaultPolicy: RemediationPolicy;
  backoff: RestartBackoff;
  instanceStatuses: string[];
  maxConcurrentProbes: number;
  probeDefaults: ProbeDefaults;
  circuitBreakers: boolean;
}

/**
 * Applies the defaults to a monitor's options.
 *
 * @throws InputError for an invalid option
 */
export function monitorSettings(
  options: HealthMonitorOptions,
): MonitorSettings {
  const heartbeatIntervalMs = positive(
    options.heartbeatIntervalMs ?? 2_000,
    'heartbeatIntervalMs',
  );
  const replicaTimeoutMs = positive(
    options.replicaTimeoutMs ?? 10_000,
    'replicaTimeoutMs',
  );
  if (replicaTimeoutMs <= heartbeatIntervalMs) {
    throw new InputError(
      `replicaTimeoutMs (${replicaTimeoutMs}) must be longer than heartbeatIntervalMs (${heartbeatIntervalMs})`,
    );
  }
  const targetRefreshIntervalMs = positive(
    options.targetRefreshIntervalMs ?? 5_000,
    'targetRefreshIntervalMs',
  );
  const flushIntervalMs = positive(
    options.flushIntervalMs ?? 1_000,
    'flushIntervalMs',
  );
  const feedIntervalMs = positive(
    options.feedIntervalMs ?? 1_000,
    'feedIntervalMs',
  );
  const retention: HealthRetention = { ...DEFAULT_HEALTH_RETENTION };
  for (const [key, value] of Object.entries(options.retention ?? {})) {
    if (value !== undefined) {
      (retention as any)[key] = positive(value, `retention.${key}`);
    }
  }
  const trends = trendOptions(options.trends);
  const verdictOptions = { ...DEFAULT_VERDICT_OPTIONS, ...options.verdict };
  const { '*': defaults, ...perPlugin } = options.remediationPolicies ?? {};
  const defaultPolicy = remediationPolicy(defaults);
  const policies = new Map(
    Object.entries(perPlugin).map(([id, p]) => [
      id,
      remediationPolicy(defaults, p),
    ]),
  );
  return {
    heartbeatIntervalMs,
    replicaTimeoutMs,
    targetRefreshIntervalMs,
    flushIntervalMs,
    feedIntervalMs,
    retention,
    trendOptions: trends,
    verdictOptions,
    remediation: options.remediation,
    policies,
    defaultPolicy,
    backoff: { ...DEFAULT_RESTART_BACKOFF, ...options.restartBackoff },
    instanceStatuses: options.instanceStatuses ?? ['running'],
    probeDefaults: options.probeDefaults ?? {},
    circuitBreakers: options.circuitBreakers ?? true,
    maxConcurrentProbes: positive(
      options.maxConcurrentProbes ?? 64,
      'maxConcurrentProbes',
    ),
  };
}

const probesSchema = probeListSchema;

/**
 * Checks probes against the shared schema and for unique names.
 *
 * @throws InputError naming the problem
 */
export function validateProbes(probes: unknown): ProbeDefinition[] {
  const parsed = probesSchema.safeParse(probes);
  if (!parsed.success) {
    throw new InputError(`Invalid probes: ${validationMessage(parsed.error)}`);
  }
  const names = new Set<string>();
  for (const probe of parsed.data) {
    if (names.has(probe.name)) {
      throw new InputError(
        `Invalid probes: two probes are named '${probe.name}'`,
      );
    }
    names.add(probe.name);
  }
  return parsed.data;
}

function positive(value: number, name: string): number {
  if (!Number.isFinite(value) || value <= 0) {
    throw new InputError(`${name} must be a positive number, got ${value}`);
  }
  return value;
}
