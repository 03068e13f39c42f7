import { setMaxListeners } from 'node:events';
import { LoggerService } from '@backstage/backend-plugin-api';
import { InputError, NotFoundError } from '@backstage/errors';
import {
  InstanceHealth,
  PluginHealth,
  ProbeDefinition,
  ProbeHealth,
  probeSchema,
} from '@internal/plugin-lifecycle-common';
import { Knex } from 'knex';
import { z } from 'zod';
import {
  HealthResultRecord,
  HealthStatusRecord,
  HealthStore,
  InstanceTargetRecord,
  StatusCursor,
} from '../../database/HealthStore';
import { PluginStore } from '../../database/PluginStore';
import {
  RendezvousAssigner,
  stableFraction,
} from '../../domain/health/assignment';
import {
  ProbeSettings,
  ProbeState,
  initialProbeState,
  instanceProbeGate,
  nextProbeDue,
  probeSettings,
  recordOutcome,
} from '../../domain/health/probeStatus';
import {
  DEFAULT_RESTART_BACKOFF,
  InstanceRemedyState,
  INITIAL_REMEDY_STATE,
  RemediationAction,
  RemediationPolicy,
  RestartBackoff,
  decideRemediation,
  remediationPolicy,
} from '../../domain/health/remediation';
import {
  DEFAULT_VERDICT_OPTIONS,
  HealthVerdict,
  INITIAL_PROBE_TREND,
  PassiveHealth,
  ProbeTrend,
  TrendOptions,
  TrendSummary,
  VerdictOptions,
  combineTrends,
  healthVerdict,
  probeBreakerOptions,
  recordTrend,
  summarizeTrend,
  trendOptions,
} from '../../domain/health/trends';
import {
  BreakerOptions,
  BreakerState,
  INITIAL_BREAKER_STATE,
  breakerAllows,
  breakerRecord,
} from '../../domain/orchestration/circuitBreaker';
import { SystemEvents } from '../../system/SystemEvents';
import { ALL_TENANTS, Tenancy, TenantScope } from '../../system/Tenancy';
import { zodMessage } from '../../system/zodMessage';
import { probeTimeoutMs } from './probers/deadline';
import { ProberRegistry } from './probers/ProberRegistry';
import { ProbeOutcome, ProbeTarget } from './probers/types';
import { ProbeScheduler } from './ProbeScheduler';

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
 * Options of {@link HealthMonitor.create}.
 *
 * @public
 */
export interface HealthMonitorOptions {
  db: Knex;
  logger: LoggerService;
  events: SystemEvents;
  /** This backend replica (see `newReplicaId`). */
  replicaId: string;
  /** The probers; a default registry (closed on stop) when not given. */
  probers?: ProberRegistry;
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
   * `health:remediation`.
   */
  remediation?: (action: RemediationAction) => Promise<void>;
  /** Remediation per plugin id; `*` is the default for all plugins. */
  remediationPolicies?: Record<string, Partial<RemediationPolicy>>;
  restartBackoff?: Partial<RestartBackoff>;
  /** Instance statuses that are probed. Only `running` by default. */
  instanceStatuses?: string[];
}

/**
 * Payload of `health:verdictChanged`.
 *
 * @public
 */
export interface HealthVerdictChange {
  targetId: string;
  pluginId: string;
  instanceId: string;
  ready: boolean;
  live: boolean;
  verdict: HealthVerdict;
  /** 0 to 1: the weight factor for health-weighted load balancing. */
  healthScore: number;
  previous?: HealthVerdict;
  reasons: string[];
  /** The replica that probed the target. */
  reportedBy: string;
}

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

interface TargetHealth {
  verdict: HealthVerdict;
  healthScore: number;
  ready: boolean;
  live: boolean;
  started: boolean;
  reasons: string[];
}

interface Target {
  readonly id: string;
  readonly pluginId: string;
  readonly instanceId: string;
  readonly host: string;
  readonly port: number;
  readonly startedAt: number;
  readonly probeTarget: ProbeTarget;
  slots: Slot[];
  /** The probes as last given, to skip comparing an unchanged list. */
  probesRef: ProbeDefinition[];
  probesJson: string;
  assigned: boolean;
  removed: boolean;
  /** Its slots' states are loaded and it is being probed. */
  active: boolean;
  health?: TargetHealth;
  /** What was last announced and written. */
  published?: TargetHealth;
}

interface Slot {
  readonly target: Target;
  readonly probe: ProbeDefinition;
  readonly probeJson: string;
  readonly settings: ProbeSettings;
  readonly timeoutMs: number;
  readonly breakerOptions?: BreakerOptions;
  readonly phase: number;
  state: ProbeState;
  trend: ProbeTrend;
  summary: TrendSummary;
  breaker?: BreakerState;
  lastLatencyMs?: number;
  lastSampledAt: number;
  lastSampledOk?: boolean;
  /** When the row is rewritten if nothing changes before. */
  refreshAt: number;
  dueAt?: number;
  removed: boolean;
}

interface RemoteHealth extends TargetHealth {
  pluginId: string;
  instanceId: string;
  reportedBy: string;
  updatedAt: number;
}

const probesSchema = z.array(probeSchema);
const EMPTY_SUMMARY: TrendSummary = Object.freeze({
  degrading: false,
  flapping: false,
  reasons: [],
}) as TrendSummary;
/** A score change this large is announced even when the verdict stays. */
const SCORE_STEP = 0.1;
const RETENTION_LEADER_KEY = 'plugin-lifecycle:health:retention';

/**
 * The health monitor: probes every running plugin instance (and targets
 * registered in process) with its plugin's startup, readiness and liveness
 * probes, with Kubernetes semantics, and turns the results into one verdict
 * per instance.
 *
 * With several backend replicas, each target is probed by exactly one of
 * them, chosen by rendezvous hashing over the replicas whose heartbeat is
 * recent, so a replica that goes away hands its targets over within
 * `replicaTimeoutMs` (at once when it stops cleanly). The replica that
 * probes a target writes its state changes to `health_status`, announces
 * them as `health:verdictChanged` and remediates; the others read the
 * changes (polling by `updated_at`) and announce them in their process too.
 *
 * The hot path touches no database: probe runs come from a min-heap of due
 * times with bounded concurrency; state changes and sampled results are
 * written in batches every `flushIntervalMs`.
 *
 * @public
 */
export class HealthMonitor {
  readonly #store: HealthStore;
  readonly #plugins: PluginStore;
  readonly #logger: LoggerService;
  readonly #events: SystemEvents;
  readonly #replicaId: string;
  readonly #probers: ProberRegistry;
  readonly #ownsProbers: boolean;
  readonly #clock: () => number;
  readonly #heartbeatIntervalMs: number;
  readonly #replicaTimeoutMs: number;
  readonly #targetRefreshIntervalMs: number;
  readonly #flushIntervalMs: number;
  readonly #feedIntervalMs: number;
  readonly #retention: HealthRetention;
  readonly #trendOptions: TrendOptions;
  readonly #verdictOptions: VerdictOptions;
  readonly #remediation?: (action: RemediationAction) => Promise<void>;
  readonly #policies: Map<string, RemediationPolicy>;
  readonly #defaultPolicy: RemediationPolicy;
  readonly #backoff: RestartBackoff;
  readonly #instanceStatuses: string[];
  readonly #scheduler: ProbeScheduler<Slot>;
  /**
   * Signals that abort the probes in flight on stop. Each probe listens on
   * one of a few, round robin: a signal's listeners are a list, and adding
   * and removing one costs as much as the list is long.
   */
  readonly #lanes = Array.from({ length: 32 }, () => new AbortController());
  #lane = 0;

  readonly #targets = new Map<string, Target>();
  readonly #extra = new Map<string, HealthTarget>();
  #instanceRows: InstanceTargetRecord[] = [];
  /** What the targets were last built from, to skip rebuilding the same. */
  #appliedSignature?: string;
  #extraVersion = 0;
  #assigner: RendezvousAssigner;

  #dirty = new Set<Slot>();
  #results: HealthResultRecord[] = [];
  #deletedTargets = new Set<string>();
  #deletedProbes: Array<{ targetId: string; probeName: string }> = [];

  readonly #remedy = new Map<string, InstanceRemedyState>();
  readonly #pluginWindows = new Map<string, number[]>();
  /** The latest restart of each plugin, for instances that replace others. */
  readonly #pluginStreaks = new Map<
    string,
    { restarts: number; lastRestartAt: number }
  >();
  readonly #passive = new Map<string, PassiveHealth>();

  readonly #remote = new Map<string, RemoteHealth>();
  /** What was last read of each probe row: target id → probe → stamp. */
  readonly #seen = new Map<string, Map<string, string>>();
  #feedCursor = 0;

  #serial: Promise<unknown> = Promise.resolve();
  #flushing?: Promise<void>;
  readonly #loops: Array<{ timer?: NodeJS.Timeout; running?: Promise<void> }> =
    [];
  #started = false;
  #stopped = false;
  readonly #stats = {
    probesRun: 0,
    probesFailed: 0,
    statusRowsWritten: 0,
    resultsWritten: 0,
    resultsDropped: 0,
  };

  private constructor(options: HealthMonitorOptions) {
    this.#store = HealthStore.create({ db: options.db });
    this.#plugins = PluginStore.create({ db: options.db });
    this.#logger = options.logger;
    this.#events = options.events;
    this.#replicaId = options.replicaId;
    this.#ownsProbers = !options.probers;
    this.#probers = options.probers ?? ProberRegistry.create();
    this.#clock = options.clock ?? Date.now;
    this.#heartbeatIntervalMs = positive(
      options.heartbeatIntervalMs ?? 2_000,
      'heartbeatIntervalMs',
    );
    this.#replicaTimeoutMs = positive(
      options.replicaTimeoutMs ?? 10_000,
      'replicaTimeoutMs',
    );
    if (this.#replicaTimeoutMs <= this.#heartbeatIntervalMs) {
      throw new InputError(
        `replicaTimeoutMs (${
          this.#replicaTimeoutMs
        }) must be longer than heartbeatIntervalMs (${
          this.#heartbeatIntervalMs
        })`,
      );
    }
    this.#targetRefreshIntervalMs = positive(
      options.targetRefreshIntervalMs ?? 5_000,
      'targetRefreshIntervalMs',
    );
    this.#flushIntervalMs = positive(
      options.flushIntervalMs ?? 1_000,
      'flushIntervalMs',
    );
    this.#feedIntervalMs = positive(
      options.feedIntervalMs ?? 1_000,
      'feedIntervalMs',
    );
    this.#retention = { ...DEFAULT_HEALTH_RETENTION };
    for (const [key, value] of Object.entries(options.retention ?? {})) {
      if (value !== undefined) {
        (this.#retention as any)[key] = positive(value, `retention.${key}`);
      }
    }
    this.#trendOptions = trendOptions(options.trends);
    this.#verdictOptions = { ...DEFAULT_VERDICT_OPTIONS, ...options.verdict };
    this.#remediation = options.remediation;
    const { '*': defaults, ...perPlugin } = options.remediationPolicies ?? {};
    this.#defaultPolicy = remediationPolicy(defaults);
    this.#policies = new Map(
      Object.entries(perPlugin).map(([id, p]) => [
        id,
        remediationPolicy(defaults, p),
      ]),
    );
    this.#backoff = { ...DEFAULT_RESTART_BACKOFF, ...options.restartBackoff };
    this.#instanceStatuses = options.instanceStatuses ?? ['running'];
    const maxConcurrent = positive(
      options.maxConcurrentProbes ?? 64,
      'maxConcurrentProbes',
    );
    // Every running probe listens on one of these signals until it ends.
    for (const lane of this.#lanes) {
      setMaxListeners(
        Math.ceil(maxConcurrent / this.#lanes.length) + 64,
        lane.signal,
      );
    }
    this.#scheduler = new ProbeScheduler<Slot>({
      run: slot => this.#runSlot(slot),
      maxConcurrent,
      now: this.#clock,
      onError: (error, slot) =>
        this.#logger.error(
          `probe '${slot.probe.name}' of ${slot.target.id} failed unexpectedly: ${error}`,
        ),
    });
    this.#assigner = new RendezvousAssigner([this.#replicaId]);
  }

  static create(options: HealthMonitorOptions): HealthMonitor {
    return new HealthMonitor(options);
  }

  get replicaId(): string {
    return this.#replicaId;
  }

  /**
   * Joins the replicas, reads the targets and starts probing those this
   * replica is assigned, and the loops that keep all of it current.
   */
  async start(): Promise<void> {
    if (this.#started) return;
    this.#started = true;
    await this.#heartbeat();
    await this.#loadRemoteSnapshot();
    await this.#refreshTargets();
    this.#loop(this.#heartbeatIntervalMs, () => this.#heartbeat(), 'heartbeat');
    this.#loop(
      this.#targetRefreshIntervalMs,
      () => this.#refreshTargets(),
      'reading targets',
    );
    this.#loop(this.#flushIntervalMs, () => this.flush(), 'writing health');
    this.#loop(this.#feedIntervalMs, () => this.#pollFeed(), 'reading health');
    this.#loop(
      this.#retention.pruneIntervalMs,
      () => this.#prune(),
      'pruning health results',
    );
  }

  /**
   * Stops probing (aborting probes in flight), writes what is pending and
   * leaves the replicas, so others take the targets over at once.
   */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    for (const loop of this.#loops) clearTimeout(loop.timer);
    for (const lane of this.#lanes) {
      lane.abort(new Error('the health monitor is stopping'));
    }
    await this.#scheduler.stop();
    await Promise.all(this.#loops.map(l => l.running));
    await this.#serial.catch(() => {});
    await this.flush();
    if (this.#started) {
      await this.#store
        .removeReplica(this.#replicaId)
        .catch(error =>
          this.#logger.warn(`leaving the health replicas failed: ${error}`),
        );
    }
    if (this.#ownsProbers) await this.#probers.close();
  }

  /**
   * Adds targets besides the plugin instances (or replaces those with the
   * same ids). With several replicas, add the same targets on each (from
   * config or a module's init): each target is probed by one replica, and
   * only replicas that know a target can be assigned it.
   *
   * @throws InputError for an invalid target or probe
   */
  async addTargets(targets: HealthTarget[]): Promise<void> {
    for (const [i, target] of targets.entries()) {
      if (i % 500 === 499) await yieldToLoop();
      if (!target.id || !target.pluginId || !target.host) {
        throw new InputError(
          'A health target needs an id, a pluginId and a host',
        );
      }
      if (
        !Number.isInteger(target.port) ||
        target.port < 1 ||
        target.port > 65535
      ) {
        throw new InputError(
          `Health target '${target.id}' has an invalid port ${target.port}`,
        );
      }
      validateProbes(target.probes);
    }
    for (const target of targets) this.#extra.set(target.id, target);
    this.#extraVersion++;
    await this.#serialize(() => this.#applyTargets());
  }

  /** Removes targets added with {@link HealthMonitor.addTargets}. */
  async removeTargets(targetIds: string[]): Promise<void> {
    for (const id of targetIds) this.#extra.delete(id);
    this.#extraVersion++;
    await this.#serialize(() => this.#applyTargets());
  }

  /**
   * Sets a plugin's probes: stored on the plugin (every replica reads them
   * at its next target refresh) and in effect on this replica at once.
   *
   * @throws InputError for invalid probes or two with one name
   * @throws NotFoundError for a plugin that does not exist (in the scope)
   */
  async registerPluginProbes(
    pluginId: string,
    probes: ProbeDefinition[],
    options: { scope?: TenantScope } = {},
  ): Promise<ProbeDefinition[]> {
    const parsed = validateProbes(probes);
    const plugin = await this.#plugins.get(pluginId);
    if (
      !plugin ||
      !Tenancy.includes(options.scope ?? ALL_TENANTS, plugin.tenant)
    ) {
      throw new NotFoundError(`No plugin with id '${pluginId}'`);
    }
    await this.#plugins.update(pluginId, { probes: parsed });
    if (this.#started && !this.#stopped) {
      await this.#serialize(() => this.#refreshTargets(false));
    }
    this.#events.publish('health', 'probesChanged', {
      pluginId,
      probes: parsed.map(p => ({ name: p.name, type: p.type })),
    });
    return parsed;
  }

  /**
   * Tells the monitor what the proxy saw of a target recently; the verdict
   * of a target this replica probes takes it into account at once.
   */
  reportPassive(targetId: string, passive: PassiveHealth): void {
    this.#passive.set(targetId, passive);
    const target = this.#targets.get(targetId);
    if (target?.active && target.health) this.#evaluate(target, this.#clock());
  }

  /**
   * The latest verdict on a target known to this replica: its own when it
   * probes the target, else what the probing replica wrote.
   */
  getInstanceHealth(
    targetId: string,
  ): (Omit<TargetHealth, 'started'> & { reportedBy: string }) | undefined {
    const target = this.#targets.get(targetId);
    if (target?.active && target.health) {
      const { started: _s, ...health } = target.health;
      return { ...health, reportedBy: this.#replicaId };
    }
    const remote = this.#remote.get(targetId);
    if (!remote) return undefined;
    const { verdict, healthScore, ready, live, reasons, reportedBy } = remote;
    return { verdict, healthScore, ready, live, reasons, reportedBy };
  }

  /**
   * Status, latency and trend of every probe of every instance of a plugin,
   * from whichever replica probes each.
   *
   * @throws NotFoundError for a plugin that does not exist (in the scope)
   */
  async getPluginHealth(
    pluginId: string,
    options: { scope?: TenantScope; recentPerProbe?: number } = {},
  ): Promise<PluginHealth> {
    const scope = options.scope ?? ALL_TENANTS;
    const recentPerProbe = options.recentPerProbe ?? 10;
    const plugin = await this.#plugins.get(pluginId);
    const targets = [...this.#targets.values()].filter(
      t => t.pluginId === pluginId,
    );
    if (
      plugin
        ? !Tenancy.includes(scope, plugin.tenant)
        : targets.length === 0 || !scope.all
    ) {
      throw new NotFoundError(`No plugin with id '${pluginId}'`);
    }
    const [statuses, results] = await Promise.all([
      this.#store.getStatuses({ pluginId }),
      this.#store.recentResults(pluginId, {
        limit: Math.max(100, recentPerProbe * 50),
      }),
    ]);
    const rowsByTarget = groupBy(statuses, r => r.targetId);
    const recentByProbe = groupBy(
      results,
      r => `${r.targetId}\u0000${r.probeName}`,
    );
    const ids = new Set([...targets.map(t => t.id), ...rowsByTarget.keys()]);
    const instances = [...ids]
      .sort()
      .map(id =>
        this.#instanceHealth(
          id,
          rowsByTarget.get(id) ?? [],
          recentByProbe,
          recentPerProbe,
        ),
      );
    const counts: Partial<Record<HealthVerdict, number>> = {};
    for (const i of instances) counts[i.verdict] = (counts[i.verdict] ?? 0) + 1;
    const verdicts = Object.keys(counts) as HealthVerdict[];
    let verdict: PluginHealth['verdict'] = 'unknown';
    if (verdicts.length === 1) verdict = verdicts[0];
    else if (verdicts.length > 1) verdict = 'degrading';
    return {
      pluginId,
      verdict,
      counts,
      probes: plugin?.probes ?? targets[0]?.slots.map(s => s.probe) ?? [],
      instances,
      generatedAt: new Date(this.#clock()).toISOString(),
    };
  }

  /** Counters, for benchmarks and metrics. */
  stats(): HealthMonitorStats {
    let assigned = 0;
    for (const t of this.#targets.values()) if (t.active) assigned++;
    return {
      replicas: [...this.#assigner.replicas],
      targets: this.#targets.size,
      assignedTargets: assigned,
      ...this.#stats,
      probesRunning: this.#scheduler.running,
      probesPending: this.#scheduler.pending,
      pendingStatusRows: this.#dirty.size,
      pendingResults: this.#results.length,
    };
  }

  /** Reads the replicas and targets now (otherwise done periodically). */
  async refresh(): Promise<void> {
    await this.#heartbeat();
    await this.#serialize(() => this.#refreshTargets(false));
  }

  /** Writes pending status changes and sampled results now. */
  flush(): Promise<void> {
    if (this.#flushing) {
      return this.#flushing.then(() => this.flush());
    }
    this.#flushing = this.#flush().finally(() => {
      this.#flushing = undefined;
    });
    return this.#flushing;
  }

  // --- loops ---------------------------------------------------------------

  #loop(intervalMs: number, fn: () => Promise<unknown>, what: string) {
    const loop: { timer?: NodeJS.Timeout; running?: Promise<void> } = {};
    this.#loops.push(loop);
    const tick = () => {
      if (this.#stopped) return;
      loop.running = fn()
        .then(
          () => undefined,
          error =>
            this.#logger.warn(`health monitor: ${what} failed: ${error}`),
        )
        .finally(() => {
          loop.running = undefined;
          if (!this.#stopped) {
            loop.timer = setTimeout(tick, intervalMs);
            loop.timer.unref();
          }
        });
    };
    loop.timer = setTimeout(tick, intervalMs);
    loop.timer.unref();
  }

  /** Runs membership changes one at a time. */
  #serialize<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#serial.then(fn, fn);
    this.#serial = run.catch(() => {});
    return run;
  }

  // --- replicas and assignment ---------------------------------------------

  async #heartbeat(): Promise<void> {
    const now = this.#clock();
    await this.#store.heartbeat(this.#replicaId, now);
    const live = await this.#store.liveReplicas(now - this.#replicaTimeoutMs);
    if (!live.includes(this.#replicaId)) live.push(this.#replicaId);
    const assigner = new RendezvousAssigner(live);
    if (sameList(assigner.replicas, this.#assigner.replicas)) return;
    await this.#serialize(async () => {
      const before = this.#assigner.replicas;
      this.#assigner = assigner;
      this.#logger.info(
        `health monitor replicas: ${assigner.replicas.join(
          ', ',
        )} (were ${before.join(', ')})`,
      );
      await this.#reassign([...this.#targets.values()]);
    });
  }

  /** Gives targets to this replica or takes them away, as the hash says. */
  async #reassign(targets: Target[]): Promise<void> {
    const gained: Target[] = [];
    for (const [i, target] of targets.entries()) {
      if (i % 1000 === 999) await yieldToLoop();
      if (target.removed) continue;
      const mine = this.#assigner.owner(target.id) === this.#replicaId;
      if (mine && !target.assigned) {
        target.assigned = true;
        gained.push(target);
      } else if (!mine && target.assigned) {
        this.#release(target);
      }
    }
    if (gained.length) await this.#adopt(gained);
  }

  #release(target: Target) {
    target.assigned = false;
    target.active = false;
    for (const slot of target.slots) this.#scheduler.unschedule(slot);
    this.#remedy.delete(target.id);
    // Until the new owner's rows are read, what this replica saw last is
    // the view; any row read beats it (hence no time).
    const remote = this.#remote.get(target.id);
    if (target.health && !remote) {
      this.#remote.set(target.id, {
        ...target.health,
        pluginId: target.pluginId,
        instanceId: target.instanceId,
        reportedBy: this.#replicaId,
        updatedAt: -Infinity,
      });
    } else if (remote && target.published) {
      this.#announceRemote(target.id, target.published, remote);
    }
  }

  /**
   * Starts probing targets this replica was given, continuing from the
   * state the previous replica wrote (so a hand-over changes no verdict).
   */
  async #adopt(targets: Target[]): Promise<void> {
    const now = this.#clock();
    for (let i = 0; i < targets.length; i += 500) {
      const batch = targets.slice(i, i + 500);
      const rows = await this.#store.getStatuses({
        targetIds: batch.map(t => t.id),
      });
      const byKey = new Map(
        rows.map(r => [`${r.targetId}\u0000${r.probeName}`, r]),
      );
      for (const target of batch) {
        if (target.removed || !target.assigned || target.active) continue;
        let health: TargetHealth | undefined;
        for (const slot of target.slots) {
          const row = byKey.get(`${target.id}\u0000${slot.probe.name}`);
          if (row && row.probeType === slot.probe.type) {
            slot.state = stateFromRow(row, slot.state);
            slot.trend = row.trend ?? INITIAL_PROBE_TREND;
            slot.summary = summarizeTrend(
              slot.trend,
              this.#trendOptions,
              slot.timeoutMs,
            );
            slot.lastLatencyMs = row.lastLatencyMs;
            health = {
              verdict: row.verdict,
              healthScore: row.healthScore,
              ready: row.ready,
              live: row.live,
              started: row.verdict !== 'starting',
              reasons: [],
            };
          }
          // Spread the samples of many targets over time.
          slot.lastSampledAt =
            now - slot.phase * this.#retention.sampleIntervalMs;
        }
        if (health) {
          const gate = instanceProbeGate(target.slots.map(s => s.state));
          target.health = { ...health, started: gate.started };
          target.published = target.health;
        }
        target.active = true;
        for (const slot of target.slots) {
          // Rewritten soon, so every replica sees who probes it now.
          this.#dirty.add(slot);
          this.#scheduleFirst(slot, now);
        }
      }
    }
  }

  // --- targets ---------------------------------------------------------------

  async #refreshTargets(serialize = true): Promise<void> {
    const rows = await this.#store.listInstanceTargets(this.#instanceStatuses);
    const apply = async () => {
      this.#instanceRows = rows;
      // Most refreshes find what the last one found: skip going over every
      // target again then.
      const signature = `${this.#extraVersion}|${JSON.stringify(rows)}`;
      if (signature === this.#appliedSignature) return;
      await this.#applyTargets();
      this.#appliedSignature = signature;
    };
    if (serialize) await this.#serialize(apply);
    else await apply();
  }

  /** Brings the targets in line with the instances read and those added. */
  async #applyTargets(): Promise<void> {
    this.#appliedSignature = undefined;
    const desired = new Map<string, HealthTarget>();
    for (const row of this.#instanceRows) {
      desired.set(row.instanceId, {
        id: row.instanceId,
        pluginId: row.pluginId,
        instanceId: row.instanceId,
        host: row.host,
        port: row.port,
        startedAt: row.startedAt,
        probes: row.probes,
      });
    }
    for (const [id, target] of this.#extra) {
      if (!desired.has(id)) desired.set(id, target);
    }
    for (const target of this.#targets.values()) {
      if (!desired.has(target.id)) this.#removeTarget(target);
    }
    const changed: Target[] = [];
    for (const spec of desired.values()) {
      const existing = this.#targets.get(spec.id);
      const startedAt = spec.startedAt ?? existing?.startedAt ?? this.#clock();
      if (
        existing &&
        (existing.host !== spec.host ||
          existing.port !== spec.port ||
          existing.pluginId !== spec.pluginId ||
          existing.startedAt !== startedAt)
      ) {
        this.#removeTarget(existing);
      } else if (existing) {
        if (spec.probes !== existing.probesRef) {
          const probesJson = JSON.stringify(spec.probes);
          if (probesJson !== existing.probesJson) {
            this.#updateProbes(existing, spec.probes, probesJson);
          }
          existing.probesRef = spec.probes;
        }
        continue;
      }
      const target = this.#newTarget(spec, startedAt);
      this.#targets.set(target.id, target);
      changed.push(target);
      if (changed.length % 500 === 0) await yieldToLoop();
    }
    await this.#reassign(changed);
  }

  #newTarget(spec: HealthTarget, startedAt: number): Target {
    const instanceId = spec.instanceId ?? spec.id;
    const target: Target = {
      id: spec.id,
      pluginId: spec.pluginId,
      instanceId,
      host: spec.host,
      port: spec.port,
      startedAt,
      probeTarget: {
        host: spec.host,
        port: spec.port,
        instanceId,
        pluginId: spec.pluginId,
      },
      slots: [],
      probesRef: spec.probes,
      probesJson: JSON.stringify(spec.probes),
      assigned: false,
      removed: false,
      active: false,
    };
    target.slots = spec.probes.map(p => this.#newSlot(target, p));
    return target;
  }

  #newSlot(target: Target, probe: ProbeDefinition): Slot {
    return {
      target,
      probe,
      probeJson: JSON.stringify(probe),
      settings: probeSettings(probe),
      timeoutMs: probeTimeoutMs(probe),
      breakerOptions: probeBreakerOptions(probe),
      phase: stableFraction(`${target.id}\u0000${probe.name}`),
      state: initialProbeState(probe, target.startedAt),
      trend: INITIAL_PROBE_TREND,
      summary: EMPTY_SUMMARY,
      lastSampledAt: -Infinity,
      refreshAt: -Infinity,
      removed: false,
    };
  }

  /** Keeps unchanged probes' state; starts changed and new ones afresh. */
  #updateProbes(target: Target, probes: ProbeDefinition[], probesJson: string) {
    const now = this.#clock();
    const old = new Map(target.slots.map(s => [s.probe.name, s]));
    const slots: Slot[] = [];
    for (const probe of probes) {
      const current = old.get(probe.name);
      if (current && current.probeJson === JSON.stringify(probe)) {
        slots.push(current);
        old.delete(probe.name);
        continue;
      }
      const slot = this.#newSlot(target, probe);
      slot.state = initialProbeState(probe, now);
      slots.push(slot);
    }
    for (const gone of old.values()) {
      this.#dropSlot(gone);
      if (target.assigned && !probes.some(p => p.name === gone.probe.name)) {
        this.#deletedProbes.push({
          targetId: target.id,
          probeName: gone.probe.name,
        });
      }
    }
    target.slots = slots;
    target.probesJson = probesJson;
    if (target.active) {
      for (const slot of slots) {
        if (slot.dueAt === undefined) this.#scheduleFirst(slot, now);
      }
      if (target.health) this.#evaluate(target, now);
    }
  }

  #removeTarget(target: Target) {
    target.removed = true;
    for (const slot of target.slots) this.#dropSlot(slot);
    this.#targets.delete(target.id);
    this.#remote.delete(target.id);
    this.#passive.delete(target.id);
    this.#remedy.delete(target.id);
    this.#seen.delete(target.id);
    if (target.assigned) this.#deletedTargets.add(target.id);
    target.assigned = false;
    target.active = false;
  }

  #dropSlot(slot: Slot) {
    slot.removed = true;
    this.#scheduler.unschedule(slot);
    this.#dirty.delete(slot);
  }

  // --- probing ---------------------------------------------------------------

  #isHeld(slot: Slot): boolean {
    return (
      slot.probe.type !== 'startup' &&
      slot.target.slots.some(
        s => s.probe.type === 'startup' && s.state.status !== 'passing',
      )
    );
  }

  /**
   * The first run of a probe: after its initial delay, spread over up to a
   * second so that many targets starting together do not probe together.
   */
  #scheduleFirst(slot: Slot, now: number) {
    if (slot.removed || !slot.target.active || this.#isHeld(slot)) return;
    const due = nextProbeDue(slot.state, slot.probe);
    if (due === undefined) return;
    const spread = slot.phase * Math.min(slot.settings.periodMs, 1_000);
    slot.dueAt = Math.max(due, now) + spread;
    this.#scheduler.schedule(slot, slot.dueAt);
  }

  /**
   * The next run, one period after the previous was due (no drift). A run
   * that is late skips the periods it missed rather than running at once:
   * many late probes would otherwise all become due together and stay in
   * step from then on.
   */
  #scheduleNext(slot: Slot, now: number) {
    if (slot.removed || !slot.target.active) return;
    if (nextProbeDue(slot.state, slot.probe) === undefined) return;
    if (this.#isHeld(slot)) {
      slot.dueAt = undefined;
      return;
    }
    const period = slot.settings.periodMs;
    let next = (slot.dueAt ?? now) + period;
    if (next < now) next += Math.ceil((now - next) / period) * period;
    slot.dueAt = next;
    this.#scheduler.schedule(slot, next);
  }

  async #runSlot(slot: Slot): Promise<void> {
    const target = slot.target;
    if (slot.removed || !target.active || this.#stopped) return;
    const now = this.#clock();
    if (this.#isHeld(slot)) {
      slot.dueAt = undefined;
      return;
    }
    if (slot.breakerOptions) {
      const before = slot.breaker?.status;
      const decision = breakerAllows(
        slot.breaker ?? INITIAL_BREAKER_STATE,
        now,
        slot.breakerOptions,
      );
      slot.breaker = decision.state;
      if (slot.breaker.status !== before) this.#dirty.add(slot);
      if (!decision.allowed) {
        this.#scheduleNext(slot, now);
        return;
      }
    }
    this.#lane = (this.#lane + 1) % this.#lanes.length;
    const outcome = await this.#probers.run(
      target.probeTarget,
      slot.probe,
      this.#lanes[this.#lane].signal,
    );
    if (slot.removed || !target.active || this.#stopped) return;
    const finished = this.#clock();
    this.#record(slot, outcome, finished);
    this.#scheduleNext(slot, finished);
  }

  #record(slot: Slot, outcome: ProbeOutcome, now: number) {
    this.#stats.probesRun++;
    if (!outcome.ok) this.#stats.probesFailed++;
    const before = slot.state.status;
    slot.state = recordOutcome(slot.state, slot.probe, outcome, now);
    slot.trend = recordTrend(
      slot.trend,
      {
        ok: outcome.ok,
        latencyMs: Math.max(0, outcome.latencyMs),
        status: slot.state.status,
      },
      now,
      this.#trendOptions,
    );
    slot.lastLatencyMs = outcome.latencyMs;
    const circuit = slot.breaker?.status;
    if (slot.breakerOptions) {
      slot.breaker = breakerRecord(
        slot.breaker ?? INITIAL_BREAKER_STATE,
        outcome.ok ? 'success' : 'failure',
        now,
        slot.breakerOptions,
      );
    }
    const summary = summarizeTrend(
      slot.trend,
      this.#trendOptions,
      slot.timeoutMs,
    );
    const previous = slot.summary;
    const changed =
      before !== slot.state.status ||
      summary.degrading !== previous.degrading ||
      summary.flapping !== previous.flapping ||
      circuit !== slot.breaker?.status;
    if (changed) this.#dirty.add(slot);
    slot.summary = summary;

    if (
      slot.lastSampledOk !== outcome.ok ||
      now - slot.lastSampledAt >= this.#retention.sampleIntervalMs
    ) {
      slot.lastSampledAt = now;
      slot.lastSampledOk = outcome.ok;
      if (this.#results.length >= this.#retention.maxPendingResults) {
        this.#results.shift();
        this.#stats.resultsDropped++;
      }
      this.#results.push({
        targetId: slot.target.id,
        pluginId: slot.target.pluginId,
        probeName: slot.probe.name,
        ok: outcome.ok,
        latencyMs: outcome.latencyMs,
        message: outcome.message,
        checkedAt: now,
      });
    }
    // The verdict and score can only have moved when one of their inputs
    // did; most results of a steady target change none (the hot path).
    const target = slot.target;
    const health = target.health;
    if (
      changed ||
      !health ||
      !health.live ||
      summary.successRate !== previous.successRate ||
      (this.#remedy.get(target.id)?.restarts ?? 0) > 0
    ) {
      this.#evaluate(target, now);
    }
  }

  /** Recomputes a target's verdict; announces and remediates changes. */
  #evaluate(target: Target, now: number) {
    const slots = target.slots;
    const gate = instanceProbeGate(slots.map(s => s.state));
    const pending = slots.some(
      s => s.probe.type === 'readiness' && s.state.status === 'unknown',
    );
    // A startup probe that passed is done: its failures while the instance
    // was booting say nothing about how it does now.
    const trend = combineTrends(
      slots
        .filter(s => s.probe.type !== 'startup' || s.state.status !== 'passing')
        .map(s => s.summary),
    );
    const assessment = healthVerdict(
      {
        gate,
        trend,
        passive: this.#passive.get(target.id),
        pending,
      },
      this.#verdictOptions,
    );
    const health: TargetHealth = {
      verdict: assessment.verdict,
      healthScore: assessment.healthScore,
      ready: gate.ready,
      live: gate.live,
      started: gate.started,
      reasons: assessment.reasons,
    };
    const previous = target.health;
    target.health = health;
    if (gate.started && (!previous || !previous.started)) {
      // The startup probe passed: the held probes start now.
      for (const slot of slots) {
        if (
          !this.#scheduler.isPending(slot) &&
          !this.#scheduler.isRunning(slot)
        ) {
          slot.dueAt = undefined;
          this.#scheduleFirst(slot, now);
        }
      }
    }
    const published = target.published;
    if (
      !published ||
      published.verdict !== health.verdict ||
      published.ready !== health.ready ||
      published.live !== health.live ||
      Math.abs(published.healthScore - health.healthScore) >= SCORE_STEP
    ) {
      target.published = health;
      for (const slot of slots) this.#dirty.add(slot);
      const change: HealthVerdictChange = {
        targetId: target.id,
        pluginId: target.pluginId,
        instanceId: target.instanceId,
        ready: health.ready,
        live: health.live,
        verdict: health.verdict,
        healthScore: health.healthScore,
        previous: published?.verdict,
        reasons: health.reasons,
        reportedBy: this.#replicaId,
      };
      this.#events.publish('health', 'verdictChanged', change);
    }
    const remedy = this.#remedy.get(target.id);
    if (
      !remedy ||
      remedy.ready !== gate.ready ||
      remedy.live !== gate.live ||
      !gate.live ||
      remedy.restarts > 0 ||
      (gate.readinessFailing && !remedy.outOfRotation)
    ) {
      this.#remediate(target, gate, now);
    }
  }

  #remediate(
    target: Target,
    gate: ReturnType<typeof instanceProbeGate>,
    now: number,
  ) {
    let instance = this.#remedy.get(target.id);
    if (!instance) {
      // A replacement of an instance that was restarted recently inherits
      // the back-off, so a plugin that keeps crashing waits longer and longer.
      const streak = this.#pluginStreaks.get(target.pluginId);
      instance =
        streak && now - streak.lastRestartAt < this.#backoff.stableMs
          ? { ...INITIAL_REMEDY_STATE, ...streak }
          : INITIAL_REMEDY_STATE;
    }
    const decision = decideRemediation({
      instance,
      pluginWindow: this.#pluginWindows.get(target.pluginId),
      gate,
      target: {
        pluginId: target.pluginId,
        instanceId: target.instanceId,
        targetId: target.id,
      },
      now,
      policy: this.#policies.get(target.pluginId) ?? this.#defaultPolicy,
      backoff: this.#backoff,
    });
    this.#remedy.set(target.id, decision.instance);
    this.#pluginWindows.set(target.pluginId, decision.pluginWindow);
    for (const action of decision.actions) {
      if (action.type === 'restart') {
        this.#pluginStreaks.set(target.pluginId, {
          restarts: action.attempt ?? 1,
          lastRestartAt: now,
        });
      }
      this.#logger.info(
        `health remediation: ${action.type} ${action.instanceId} of plugin '${
          action.pluginId
        }'${action.attempt ? ` (attempt ${action.attempt})` : ''}: ${
          action.reason
        }`,
      );
      this.#events.publish('health', 'remediation', action);
      if (this.#remediation) {
        Promise.resolve()
          .then(() => this.#remediation!(action))
          .catch(error =>
            this.#logger.warn(
              `health remediation ${action.type} of ${action.instanceId} failed: ${error}`,
            ),
          );
      }
    }
    for (const { action, reason } of decision.suppressed) {
      this.#logger.warn(
        `health remediation ${action.type} of ${action.instanceId} suppressed: ${reason}`,
      );
      this.#events.publish('health', 'remediationSuppressed', {
        ...action,
        suppressedBecause: reason,
      });
    }
  }

  // --- writing -------------------------------------------------------------

  async #flush(): Promise<void> {
    const now = this.#clock();
    // Rows of probes that ran no result lately (a passed startup probe, a
    // held or broken one) are rewritten too, so they never look stale.
    for (const target of this.#targets.values()) {
      if (!target.active) continue;
      for (const slot of target.slots) {
        if (now >= slot.refreshAt) {
          this.#dirty.add(slot);
        }
      }
    }
    const slots = [...this.#dirty].filter(s => !s.removed && s.target.active);
    this.#dirty = new Set();
    const results = this.#results;
    this.#results = [];
    const deletedTargets = [...this.#deletedTargets].filter(
      id => !this.#targets.get(id)?.assigned,
    );
    this.#deletedTargets = new Set();
    const deletedProbes = this.#deletedProbes;
    this.#deletedProbes = [];

    const records = slots.map(slot => {
      // Between half and one and a half intervals, fixed per probe: rows
      // written together (at start, say) are not rewritten together again.
      slot.refreshAt =
        now + (0.5 + slot.phase) * this.#retention.statusRefreshMs;
      return this.#statusRecord(slot, now);
    });
    try {
      await this.#store.writeStatuses(records);
      this.#stats.statusRowsWritten += records.length;
    } catch (error) {
      for (const slot of slots) this.#dirty.add(slot);
      throw error;
    } finally {
      if (results.length) {
        try {
          await this.#store.insertResults(results);
          this.#stats.resultsWritten += results.length;
        } catch (error) {
          this.#logger.warn(
            `writing ${results.length} health results failed: ${error}`,
          );
          this.#results = [...results, ...this.#results].slice(
            -this.#retention.maxPendingResults,
          );
        }
      }
      if (deletedTargets.length || deletedProbes.length) {
        try {
          await this.#store.deleteTargets(deletedTargets);
          await this.#store.deleteProbes(deletedProbes);
        } catch (error) {
          deletedTargets.forEach(id => this.#deletedTargets.add(id));
          this.#deletedProbes.push(...deletedProbes);
          this.#logger.warn(`deleting health of gone targets failed: ${error}`);
        }
      }
    }
  }

  #statusRecord(slot: Slot, now: number): HealthStatusRecord {
    const { target, state } = slot;
    const health = target.health;
    return {
      targetId: target.id,
      probeName: slot.probe.name,
      pluginId: target.pluginId,
      instanceId: target.instanceId,
      probeType: slot.probe.type,
      status: state.status,
      consecutiveSuccesses: state.consecutiveSuccesses,
      consecutiveFailures: state.consecutiveFailures,
      lastOk: state.lastOk,
      lastMessage: state.lastMessage,
      lastLatencyMs: slot.lastLatencyMs,
      lastCheckedAt: state.lastProbeAt,
      lastTransitionAt: state.lastTransitionAt,
      circuit: slot.breakerOptions
        ? slot.breaker?.status ?? 'closed'
        : undefined,
      trend: slot.trend,
      verdict: health?.verdict ?? 'starting',
      healthScore: health?.healthScore ?? 0,
      ready: health?.ready ?? false,
      live: health?.live ?? true,
      updatedAt: now,
      reportedBy: this.#replicaId,
    };
  }

  async #prune(): Promise<void> {
    const now = this.#clock();
    const owned = [...this.#targets.values()]
      .filter(t => t.active)
      .map(t => t.id);
    let deleted = await this.#store.pruneResults({
      maxPerProbe: this.#retention.maxResultsPerProbe,
      targetIds: owned,
    });
    // What belongs to nobody in particular, one replica prunes.
    if (this.#assigner.owner(RETENTION_LEADER_KEY) === this.#replicaId) {
      deleted += await this.#store.pruneResults({
        before: now - this.#retention.maxAgeMs,
      });
      await this.#store.pruneStatuses(
        now - 10 * this.#retention.statusRefreshMs,
      );
      await this.#store.pruneReplicas(now - 10 * this.#replicaTimeoutMs);
    }
    for (const [id, state] of this.#remedy) {
      if (!this.#targets.has(id) && state.live) this.#remedy.delete(id);
    }
    for (const [pluginId, streak] of this.#pluginStreaks) {
      if (now - streak.lastRestartAt >= this.#backoff.stableMs) {
        this.#pluginStreaks.delete(pluginId);
      }
    }
    if (deleted) this.#logger.debug(`pruned ${deleted} health results`);
  }

  // --- other replicas' results ---------------------------------------------

  /** What other replicas wrote so far, without announcing it. */
  async #loadRemoteSnapshot(): Promise<void> {
    await this.#readFeed(0, false);
    if (this.#feedCursor === 0) this.#feedCursor = this.#clock();
  }

  async #pollFeed(): Promise<void> {
    // Re-read a little before the cursor: a write that started earlier may
    // have committed after the last read (and clocks differ a little).
    const lookback = Math.max(3_000, 2 * this.#feedIntervalMs);
    await this.#readFeed(Math.max(0, this.#feedCursor - lookback), true);
  }

  async #readFeed(since: number, announce: boolean): Promise<void> {
    let after: StatusCursor | undefined;
    const latest = new Map<string, HealthStatusRecord>();
    for (;;) {
      const rows = await this.#store.statusesUpdatedSince({
        since,
        after,
        excludeReporter: this.#replicaId,
        limit: 500,
      });
      for (const row of rows) {
        const stamp = `${row.updatedAt}|${row.reportedBy}`;
        let seen = this.#seen.get(row.targetId);
        if (!seen) {
          seen = new Map();
          this.#seen.set(row.targetId, seen);
        }
        if (seen.get(row.probeName) === stamp) continue;
        seen.set(row.probeName, stamp);
        const known = latest.get(row.targetId);
        if (!known || known.updatedAt <= row.updatedAt) {
          latest.set(row.targetId, row);
        }
        if (row.updatedAt > this.#feedCursor) this.#feedCursor = row.updatedAt;
      }
      if (rows.length < 500) break;
      after = rows[rows.length - 1];
    }
    for (const row of latest.values()) {
      const target = this.#targets.get(row.targetId);
      const previous = this.#remote.get(row.targetId);
      const remote: RemoteHealth = {
        pluginId: row.pluginId,
        instanceId: row.instanceId ?? row.targetId,
        verdict: row.verdict,
        healthScore: row.healthScore,
        ready: row.ready,
        live: row.live,
        started: row.verdict !== 'starting',
        reasons: [],
        reportedBy: row.reportedBy,
        updatedAt: row.updatedAt,
      };
      if (previous && previous.updatedAt > remote.updatedAt) continue;
      this.#remote.set(row.targetId, remote);
      // A target this replica probes has its own, fresher view (kept for
      // when it moves); others are announced in this process.
      if (announce && !target?.active) {
        this.#announceRemote(row.targetId, previous, remote);
      }
    }
  }

  /** Announces in this process a verdict another replica reported. */
  #announceRemote(
    targetId: string,
    previous: TargetHealth | undefined,
    remote: RemoteHealth,
  ) {
    if (
      previous &&
      previous.verdict === remote.verdict &&
      previous.ready === remote.ready &&
      previous.live === remote.live &&
      Math.abs(previous.healthScore - remote.healthScore) < SCORE_STEP
    ) {
      return;
    }
    const change: HealthVerdictChange = {
      targetId,
      pluginId: remote.pluginId,
      instanceId: remote.instanceId,
      ready: remote.ready,
      live: remote.live,
      verdict: remote.verdict,
      healthScore: remote.healthScore,
      previous: previous?.verdict,
      reasons: [],
      reportedBy: remote.reportedBy,
    };
    // In this process only: the replica that probed it published it.
    this.#events.emit('health:verdictChanged', change);
    this.#events.emit('systemEvent', {
      component: 'health',
      event: 'verdictChanged',
      args: [change],
    });
  }

  // --- reading ---------------------------------------------------------------

  #instanceHealth(
    targetId: string,
    rows: HealthStatusRecord[],
    recentByProbe: Map<string, HealthResultRecord[]>,
    recentPerProbe: number,
  ): InstanceHealth {
    const target = this.#targets.get(targetId);
    const own = target?.active ? target : undefined;
    const rowByProbe = new Map(rows.map(r => [r.probeName, r]));
    const names = target
      ? target.slots.map(s => s.probe.name)
      : rows.map(r => r.probeName);
    const probes = names.map(name => {
      const slot = target?.slots.find(s => s.probe.name === name);
      const row = rowByProbe.get(name);
      const recent = (recentByProbe.get(`${targetId}\u0000${name}`) ?? [])
        .slice(0, recentPerProbe)
        .map(r => ({
          ok: r.ok,
          latencyMs: r.latencyMs,
          ...(r.message === undefined ? {} : { message: r.message }),
          checkedAt: new Date(r.checkedAt).toISOString(),
        }));
      if (own && slot) return this.#slotHealth(slot, recent);
      return this.#rowHealth(name, slot, row, recent);
    });
    const freshest = rows.reduce<HealthStatusRecord | undefined>(
      (a, b) => (!a || b.updatedAt > a.updatedAt ? b : a),
      undefined,
    );
    const health: Omit<TargetHealth, 'started'> | undefined =
      own?.health ??
      (freshest && {
        verdict: freshest.verdict,
        healthScore: freshest.healthScore,
        ready: freshest.ready,
        live: freshest.live,
        reasons: [],
      });
    const noProbes = target !== undefined && target.slots.length === 0;
    return {
      targetId,
      instanceId: target?.instanceId ?? freshest?.instanceId ?? targetId,
      ...(target ? { host: target.host, port: target.port } : {}),
      verdict: health?.verdict ?? (noProbes ? 'healthy' : 'starting'),
      healthScore: health?.healthScore ?? (noProbes ? 1 : 0),
      ready: health?.ready ?? noProbes,
      live: health?.live ?? true,
      reasons: health?.reasons ?? (noProbes ? ['no probes defined'] : []),
      reportedBy: own ? this.#replicaId : freshest?.reportedBy,
      ...(freshest || own
        ? {
            updatedAt: new Date(
              own ? this.#clock() : freshest!.updatedAt,
            ).toISOString(),
          }
        : {}),
      probes,
    };
  }

  #slotHealth(slot: Slot, recent: ProbeHealth['recent']): ProbeHealth {
    const { state, summary } = slot;
    const { successRate, ...trend } = summary;
    return {
      name: slot.probe.name,
      type: slot.probe.type,
      method: slot.probe.method,
      status: state.status,
      ...(state.lastOk === undefined ? {} : { lastOk: state.lastOk }),
      ...(state.lastMessage === undefined
        ? {}
        : { lastMessage: state.lastMessage }),
      ...(slot.lastLatencyMs === undefined
        ? {}
        : { lastLatencyMs: slot.lastLatencyMs }),
      ...(successRate === undefined ? {} : { successRate }),
      trend,
      ...(slot.breakerOptions
        ? { circuit: slot.breaker?.status ?? 'closed' }
        : {}),
      consecutiveSuccesses: state.consecutiveSuccesses,
      consecutiveFailures: state.consecutiveFailures,
      held: this.#isHeld(slot),
      ...(state.lastProbeAt === undefined
        ? {}
        : { lastCheckedAt: new Date(state.lastProbeAt).toISOString() }),
      ...(state.lastTransitionAt === undefined
        ? {}
        : {
            lastTransitionAt: new Date(state.lastTransitionAt).toISOString(),
          }),
      checkedBy: this.#replicaId,
      recent,
    };
  }

  #rowHealth(
    name: string,
    slot: Slot | undefined,
    row: HealthStatusRecord | undefined,
    recent: ProbeHealth['recent'],
  ): ProbeHealth {
    const summary = row?.trend
      ? summarizeTrend(row.trend, this.#trendOptions, slot?.timeoutMs)
      : EMPTY_SUMMARY;
    const { successRate, ...trend } = summary;
    return {
      name,
      type: slot?.probe.type ?? row!.probeType,
      ...(slot ? { method: slot.probe.method } : {}),
      status: row?.status ?? 'unknown',
      ...(row?.lastOk === undefined ? {} : { lastOk: row.lastOk }),
      ...(row?.lastMessage === undefined
        ? {}
        : { lastMessage: row.lastMessage }),
      ...(row?.lastLatencyMs === undefined
        ? {}
        : { lastLatencyMs: row.lastLatencyMs }),
      ...(successRate === undefined ? {} : { successRate }),
      trend,
      ...(row?.circuit ? { circuit: row.circuit } : {}),
      consecutiveSuccesses: row?.consecutiveSuccesses ?? 0,
      consecutiveFailures: row?.consecutiveFailures ?? 0,
      held: slot ? this.#isHeld(slot) : false,
      ...(row?.lastCheckedAt === undefined
        ? {}
        : { lastCheckedAt: new Date(row.lastCheckedAt).toISOString() }),
      ...(row?.lastTransitionAt === undefined
        ? {}
        : { lastTransitionAt: new Date(row.lastTransitionAt).toISOString() }),
      ...(row ? { checkedBy: row.reportedBy } : {}),
      recent,
    };
  }
}

/**
 * Checks probes against the shared schema and for unique names.
 *
 * @throws InputError naming the problem
 */
export function validateProbes(probes: unknown): ProbeDefinition[] {
  const parsed = probesSchema.safeParse(probes);
  if (!parsed.success) {
    throw new InputError(`Invalid probes: ${zodMessage(parsed.error)}`);
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

/** The state a row describes, on top of a fresh state for its probe. */
function stateFromRow(row: HealthStatusRecord, fresh: ProbeState): ProbeState {
  return {
    ...fresh,
    status: row.status,
    consecutiveSuccesses: row.consecutiveSuccesses,
    consecutiveFailures: row.consecutiveFailures,
    ...(row.lastCheckedAt === undefined
      ? {}
      : { lastProbeAt: row.lastCheckedAt }),
    ...(row.lastTransitionAt === undefined
      ? {}
      : { lastTransitionAt: row.lastTransitionAt }),
    ...(row.lastOk === undefined ? {} : { lastOk: row.lastOk }),
    ...(row.lastMessage === undefined ? {} : { lastMessage: row.lastMessage }),
  };
}

/** Lets other work run in the middle of handling thousands of targets. */
function yieldToLoop(): Promise<void> {
  return new Promise(resolve => setImmediate(resolve));
}

function groupBy<T>(items: T[], key: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const k = key(item);
    const group = groups.get(k);
    if (group) group.push(item);
    else groups.set(k, [item]);
  }
  return groups;
}

function sameList(a: readonly string[], b: readonly string[]) {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

function positive(value: number, name: string): number {
  if (!Number.isFinite(value) || value <= 0) {
    throw new InputError(`${name} must be a positive number, got ${value}`);
  }
  return value;
}
