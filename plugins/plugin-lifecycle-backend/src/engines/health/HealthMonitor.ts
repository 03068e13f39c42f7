import { LoggerService } from '@backstage/backend-plugin-api';
import { InputError, NotFoundError } from '@backstage/errors';
import {
  PluginHealth,
  ProbeDefinition,
} from '@internal/plugin-lifecycle-common';
import { HealthStore } from '../../database/HealthStore';
import { PluginStore } from '../../database/PluginStore';
import { PassiveHealth } from '../../domain/health/trends';
import { SystemEvents } from '../../events/SystemEvents';
import { ALL_TENANTS, inTenantScope, TenantScope } from '../../domain/tenancy';
import { ExecProbePolicy } from './execProbePolicy';
import { HealthFeed } from './HealthFeed';
import { buildPluginHealth } from './healthView';
import { HealthWriter } from './HealthWriter';
import { MonitorCounters, Target, TargetHealth, yieldToLoop } from './model';
import { ProberRegistry } from './probers/ProberRegistry';
import { Remediator } from './Remediator';
import { TargetAssignment } from './TargetAssignment';
import { TargetEvaluator } from './TargetEvaluator';
import {
  HealthMonitorOptions,
  HealthMonitorStats,
  HealthTarget,
  MonitorSettings,
  monitorSettings,
  validateProbes,
} from './types';

export {
  DEFAULT_HEALTH_RETENTION,
  validateProbes,
  type HealthMonitorOptions,
  type HealthMonitorStats,
  type HealthRetention,
  type HealthTarget,
  type HealthVerdictChange,
  type ProbeRun,
  type InstanceHealth,
  type PluginHealth,
  type ProbeHealth,
} from './types';

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
 * them as `healthMonitor:verdictChanged` and remediates; the others read the
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
  readonly #execProbes: ExecProbePolicy;
  readonly #ownsProbers: boolean;
  readonly #clock: () => number;
  readonly #settings: MonitorSettings;

  // The parts share the targets; only the assignment adds and removes them.
  readonly #targets = new Map<string, Target>();
  readonly #counters: MonitorCounters = {
    probesRun: 0,
    probesFailed: 0,
    statusRowsWritten: 0,
    resultsWritten: 0,
    resultsDropped: 0,
  };
  readonly #assignment: TargetAssignment;
  readonly #evaluator: TargetEvaluator;
  readonly #remediator: Remediator;
  readonly #writer: HealthWriter;
  readonly #feed: HealthFeed;

  readonly #loops: Array<{ timer?: NodeJS.Timeout; running?: Promise<void> }> =
    [];
  #started = false;
  #stopped = false;

  private constructor(options: HealthMonitorOptions) {
    this.#store = HealthStore.create({ db: options.db });
    this.#plugins = PluginStore.create({ db: options.db });
    this.#logger = options.logger;
    this.#events = options.events;
    this.#replicaId = options.replicaId;
    this.#ownsProbers = !options.probers;
    this.#execProbes = options.execProbes ?? ExecProbePolicy.create();
    this.#probers =
      options.probers ??
      ProberRegistry.create({ exec: { policy: this.#execProbes } });
    this.#clock = options.clock ?? Date.now;
    this.#settings = monitorSettings(options);

    const shared = {
      store: this.#store,
      settings: this.#settings,
      logger: this.#logger,
      events: this.#events,
      replicaId: this.#replicaId,
      clock: this.#clock,
      targets: this.#targets,
      counters: this.#counters,
    };
    this.#writer = new HealthWriter(shared);
    this.#feed = new HealthFeed({
      ...shared,
      feedIntervalMs: this.#settings.feedIntervalMs,
    });
    this.#remediator = new Remediator(shared);
    this.#evaluator = new TargetEvaluator({
      ...shared,
      onProbe: options.onProbe,
      probers: this.#probers,
      writer: this.#writer,
      remediator: this.#remediator,
    });
    this.#assignment = new TargetAssignment({
      ...shared,
      evaluator: this.#evaluator,
      writer: this.#writer,
      feed: this.#feed,
      remediator: this.#remediator,
    });
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
    const settings = this.#settings;
    await this.#assignment.heartbeat();
    await this.#feed.loadSnapshot();
    await this.#assignment.refreshTargets();
    this.#loop(
      settings.heartbeatIntervalMs,
      () => this.#assignment.heartbeat(),
      'heartbeat',
    );
    this.#loop(
      settings.targetRefreshIntervalMs,
      () => this.#assignment.refreshTargets(),
      'reading targets',
    );
    this.#loop(settings.flushIntervalMs, () => this.flush(), 'writing health');
    this.#loop(
      settings.feedIntervalMs,
      () => this.#feed.poll(),
      'reading health',
    );
    this.#loop(
      settings.retention.pruneIntervalMs,
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
    await this.#evaluator.stop();
    await Promise.all(this.#loops.map(l => l.running));
    await this.#assignment.settled();
    await this.flush();
    if (this.#started) await this.#assignment.leave();
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
    await this.#assignment.addTargets(targets);
  }

  /** Removes targets added with {@link HealthMonitor.addTargets}. */
  async removeTargets(targetIds: string[]): Promise<void> {
    await this.#assignment.removeTargets(targetIds);
  }

  /**
   * Sets a plugin's probes: stored on the plugin (every replica reads them
   * at its next target refresh) and in effect on this replica at once.
   *
   * @throws InputError for invalid probes or two with one name
   * @throws NotFoundError for a plugin that does not exist (in the scope)
   * @throws NotAllowedError for an exec probe whose command is not allowed
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
      !inTenantScope(options.scope ?? ALL_TENANTS, plugin.tenant)
    ) {
      throw new NotFoundError(`No plugin with id '${pluginId}'`);
    }
    this.#execProbes.assertAllowed(parsed, {
      kind: 'plugin',
      pluginId,
      origin: 'its registered probes',
    });
    await this.#plugins.change(pluginId, () => ({ probes: parsed }));
    if (this.#started && !this.#stopped) {
      await this.#assignment.serialize(() =>
        this.#assignment.refreshTargets(false),
      );
    }
    this.#events.publish('healthMonitor', 'probesChanged', {
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
    this.#evaluator.reportPassive(targetId, passive);
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
    const remote = this.#feed.get(targetId);
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
        ? !inTenantScope(scope, plugin.tenant)
        : targets.length === 0 || !scope.all
    ) {
      throw new NotFoundError(`No plugin with id '${pluginId}'`);
    }
    const [statuses, results, active] = await Promise.all([
      this.#store.getStatuses({ pluginId }),
      this.#store.recentResults(pluginId, {
        limit: Math.max(100, recentPerProbe * 50),
      }),
      this.#store.activeInstanceIds(pluginId),
    ]);
    return buildPluginHealth(
      {
        targets: this.#targets,
        replicaId: this.#replicaId,
        clock: this.#clock,
        trendOptions: this.#settings.trendOptions,
      },
      {
        pluginId,
        probes: plugin?.probes,
        expectedToServe: plugin?.state === 'running',
        activeInstanceIds: active,
        targets,
        statuses,
        results,
        recentPerProbe,
      },
    );
  }

  /** Counters, for benchmarks and metrics. */
  stats(): HealthMonitorStats {
    let assigned = 0;
    for (const t of this.#targets.values()) if (t.active) assigned++;
    return {
      replicas: [...this.#assignment.replicas],
      targets: this.#targets.size,
      assignedTargets: assigned,
      ...this.#counters,
      probesRunning: this.#evaluator.running,
      probesPending: this.#evaluator.pending,
      pendingStatusRows: this.#writer.pendingStatusRows,
      pendingResults: this.#writer.pendingResults,
    };
  }

  /** Reads the replicas and targets now (otherwise done periodically). */
  async refresh(): Promise<void> {
    await this.#assignment.heartbeat();
    await this.#assignment.serialize(() =>
      this.#assignment.refreshTargets(false),
    );
  }

  /** Writes pending status changes and sampled results now. */
  flush(): Promise<void> {
    return this.#writer.flush();
  }

  async #prune(): Promise<void> {
    const now = this.#clock();
    // What belongs to nobody in particular, one replica prunes.
    await this.#writer.prune(now, () =>
      this.#assignment.owns(RETENTION_LEADER_KEY),
    );
    this.#remediator.prune(this.#targets, now);
  }

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
}
