import { setMaxListeners } from 'node:events';
import { LoggerService } from '@backstage/backend-plugin-api';
import {
  instanceProbeGate,
  nextProbeDue,
  recordOutcome,
} from '../../domain/health/probeStatus';
import {
  PassiveHealth,
  combineTrends,
  healthVerdict,
  recordTrend,
  summarizeTrend,
} from '../../domain/health/trends';
import {
  INITIAL_BREAKER_STATE,
  breakerAllows,
  breakerRecord,
} from '../../domain/orchestration/circuitBreaker';
import { SystemEvents } from '../../events/SystemEvents';
import { HealthWriter } from './HealthWriter';
import {
  MonitorCounters,
  SCORE_STEP,
  Slot,
  Target,
  TargetHealth,
  isHeld,
} from './model';
import { ProberRegistry } from './probers/ProberRegistry';
import { ProbeOutcome } from './probers/types';
import { ProbeScheduler } from './ProbeScheduler';
import { Remediator } from './Remediator';
import { HealthVerdictChange, MonitorSettings, ProbeRun } from './types';

/**
 * Probes the targets this replica was given, each probe on its period, and
 * turns the results into one verdict per target, which it announces and
 * hands to the remediation.
 */
export class TargetEvaluator {
  readonly #settings: MonitorSettings;
  readonly #logger: LoggerService;
  readonly #events: SystemEvents;
  readonly #replicaId: string;
  readonly #clock: () => number;
  readonly #probers: ProberRegistry;
  readonly #targets: ReadonlyMap<string, Target>;
  readonly #writer: HealthWriter;
  readonly #remediator: Remediator;
  readonly #counters: MonitorCounters;
  readonly #scheduler: ProbeScheduler<Slot>;
  /**
   * Signals that abort the probes in flight on stop. Each probe listens on
   * one of a few, round robin: a signal's listeners are a list, and adding
   * and removing one costs as much as the list is long.
   */
  readonly #lanes = Array.from({ length: 32 }, () => new AbortController());
  #lane = 0;
  readonly #passive = new Map<string, PassiveHealth>();
  readonly #onProbe?: (run: ProbeRun) => void;
  #stopped = false;

  constructor(options: {
    settings: MonitorSettings;
    logger: LoggerService;
    events: SystemEvents;
    replicaId: string;
    clock: () => number;
    probers: ProberRegistry;
    targets: ReadonlyMap<string, Target>;
    writer: HealthWriter;
    remediator: Remediator;
    counters: MonitorCounters;
    onProbe?: (run: ProbeRun) => void;
  }) {
    this.#onProbe = options.onProbe;
    this.#settings = options.settings;
    this.#logger = options.logger;
    this.#events = options.events;
    this.#replicaId = options.replicaId;
    this.#clock = options.clock;
    this.#probers = options.probers;
    this.#targets = options.targets;
    this.#writer = options.writer;
    this.#remediator = options.remediator;
    this.#counters = options.counters;
    const maxConcurrent = this.#settings.maxConcurrentProbes;
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
  }

  get running(): number {
    return this.#scheduler.running;
  }

  get pending(): number {
    return this.#scheduler.pending;
  }

  /** Aborts the probes in flight and runs no more. */
  stop(): Promise<void> {
    this.#stopped = true;
    for (const lane of this.#lanes) {
      lane.abort(new Error('the health monitor is stopping'));
    }
    return this.#scheduler.stop();
  }

  /**
   * Takes what the proxy saw of a target into account; at once for a
   * target this replica probes.
   */
  reportPassive(targetId: string, passive: PassiveHealth) {
    this.#passive.set(targetId, passive);
    const target = this.#targets.get(targetId);
    if (target?.active && target.health) this.evaluate(target, this.#clock());
  }

  /** Forgets what the proxy saw of a target that is gone. */
  forget(targetId: string) {
    this.#passive.delete(targetId);
  }

  unschedule(slot: Slot) {
    this.#scheduler.unschedule(slot);
  }

  /**
   * The first run of a probe: after its initial delay, spread over up to a
   * second so that many targets starting together do not probe together.
   */
  scheduleFirst(slot: Slot, now: number) {
    if (slot.removed || !slot.target.active || isHeld(slot)) return;
    const due = nextProbeDue(slot.state, slot.probe);
    if (due === undefined) return;
    const spread = slot.phase * Math.min(slot.settings.periodMs, 1_000);
    slot.dueAt = Math.max(due, now) + spread;
    this.#scheduler.schedule(slot, slot.dueAt);
  }

  /** Recomputes a target's verdict; announces and remediates changes. */
  evaluate(target: Target, now: number) {
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
      this.#settings.verdictOptions,
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
          this.scheduleFirst(slot, now);
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
      for (const slot of slots) this.#writer.markDirty(slot);
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
      this.#events.publish('healthMonitor', 'verdictChanged', change);
    }
    this.#remediator.consider(target, gate, now);
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
    if (isHeld(slot)) {
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
    if (isHeld(slot)) {
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
      if (slot.breaker.status !== before) this.#writer.markDirty(slot);
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
    const { trendOptions, retention } = this.#settings;
    this.#counters.probesRun++;
    if (!outcome.ok) this.#counters.probesFailed++;
    if (this.#onProbe) {
      try {
        this.#onProbe({
          pluginId: slot.target.pluginId,
          targetId: slot.target.id,
          probeName: slot.probe.name,
          probeType: slot.probe.type,
          method: slot.probe.method,
          ok: outcome.ok,
          latencyMs: outcome.latencyMs,
        });
      } catch {
        // The hook's failure is not the probe's.
      }
    }
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
      trendOptions,
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
    const summary = summarizeTrend(slot.trend, trendOptions, slot.timeoutMs);
    const previous = slot.summary;
    const changed =
      before !== slot.state.status ||
      summary.degrading !== previous.degrading ||
      summary.flapping !== previous.flapping ||
      circuit !== slot.breaker?.status;
    if (changed) this.#writer.markDirty(slot);
    slot.summary = summary;
    if (before !== 'failing' && slot.state.status === 'failing') {
      this.#publishFailure(slot, outcome, now);
    }

    if (
      slot.lastSampledOk !== outcome.ok ||
      now - slot.lastSampledAt >= retention.sampleIntervalMs
    ) {
      slot.lastSampledAt = now;
      slot.lastSampledOk = outcome.ok;
      this.#writer.queueResult({
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
      this.#remediator.isRestarting(target.id)
    ) {
      this.evaluate(target, now);
    }
  }

  /** See {@link HealthCheckFailure}: once per failing streak of a probe. */
  #publishFailure(slot: Slot, outcome: ProbeOutcome, now: number) {
    const target = slot.target;
    this.#events.publish('healthMonitor', 'healthCheckFailed', {
      pluginId: target.pluginId,
      instanceId: target.instanceId,
      targetId: target.id,
      ...(target.probeTarget.serviceName !== undefined
        ? { serviceName: target.probeTarget.serviceName }
        : {}),
      probeName: slot.probe.name,
      probeType: slot.probe.type,
      method: slot.probe.method,
      consecutiveFailures: slot.state.consecutiveFailures,
      failureThreshold: slot.settings.failureThreshold,
      ...(outcome.message !== undefined ? { message: outcome.message } : {}),
      latencyMs: outcome.latencyMs,
      checkedAt: new Date(now).toISOString(),
      reportedBy: this.#replicaId,
    });
  }
}
