import { LoggerService } from '@backstage/backend-plugin-api';
import { ProbeDefinition } from '@internal/plugin-lifecycle-common';
import { HealthStore, InstanceTargetRecord } from '../../database/HealthStore';
import { RendezvousAssigner } from '../../domain/health/assignment';
import {
  initialProbeState,
  instanceProbeGate,
} from '../../domain/health/probeStatus';
import {
  INITIAL_PROBE_TREND,
  summarizeTrend,
} from '../../domain/health/trends';
import { HealthFeed } from './HealthFeed';
import { HealthWriter } from './HealthWriter';
import {
  Slot,
  Target,
  TargetHealth,
  newSlot,
  newTarget,
  stateFromRow,
  yieldToLoop,
} from './model';
import { Remediator } from './Remediator';
import { TargetEvaluator } from './TargetEvaluator';
import { HealthTarget, MonitorSettings } from './types';

/**
 * Which targets there are (running instances and those added in process)
 * and which of them this replica probes: the replicas say they are alive
 * with heartbeats, and each target goes to one of the live ones by
 * rendezvous hashing.
 */
export class TargetAssignment {
  readonly #store: HealthStore;
  readonly #settings: MonitorSettings;
  readonly #logger: LoggerService;
  readonly #clock: () => number;
  readonly #replicaId: string;
  readonly #targets: Map<string, Target>;
  readonly #evaluator: TargetEvaluator;
  readonly #writer: HealthWriter;
  readonly #feed: HealthFeed;
  readonly #remediator: Remediator;

  readonly #extra = new Map<string, HealthTarget>();
  #instanceRows: InstanceTargetRecord[] = [];
  /** What the targets were last built from, to skip rebuilding the same. */
  #appliedSignature?: string;
  #extraVersion = 0;
  #assigner: RendezvousAssigner;
  #serial: Promise<unknown> = Promise.resolve();

  constructor(options: {
    store: HealthStore;
    settings: MonitorSettings;
    logger: LoggerService;
    clock: () => number;
    replicaId: string;
    targets: Map<string, Target>;
    evaluator: TargetEvaluator;
    writer: HealthWriter;
    feed: HealthFeed;
    remediator: Remediator;
  }) {
    this.#store = options.store;
    this.#settings = options.settings;
    this.#logger = options.logger;
    this.#clock = options.clock;
    this.#replicaId = options.replicaId;
    this.#targets = options.targets;
    this.#evaluator = options.evaluator;
    this.#writer = options.writer;
    this.#feed = options.feed;
    this.#remediator = options.remediator;
    this.#assigner = new RendezvousAssigner([this.#replicaId]);
  }

  /** The live replicas, this one included. */
  get replicas(): readonly string[] {
    return this.#assigner.replicas;
  }

  /** Whether this replica is the one a key hashes to. */
  owns(key: string): boolean {
    return this.#assigner.owner(key) === this.#replicaId;
  }

  /** Runs membership changes one at a time. */
  serialize<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#serial.then(fn, fn);
    this.#serial = run.catch(() => {});
    return run;
  }

  /** Waits for the membership changes under way. */
  async settled(): Promise<void> {
    await this.#serial.catch(() => {});
  }

  /** Adds targets (or replaces those with the same ids). */
  async addTargets(targets: HealthTarget[]): Promise<void> {
    for (const target of targets) this.#extra.set(target.id, target);
    this.#extraVersion++;
    await this.serialize(() => this.#applyTargets());
  }

  /** Removes targets added with {@link TargetAssignment.addTargets}. */
  async removeTargets(targetIds: string[]): Promise<void> {
    for (const id of targetIds) this.#extra.delete(id);
    this.#extraVersion++;
    await this.serialize(() => this.#applyTargets());
  }

  async heartbeat(): Promise<void> {
    const now = this.#clock();
    await this.#store.heartbeat(this.#replicaId, now);
    const live = await this.#store.liveReplicas(
      now - this.#settings.replicaTimeoutMs,
    );
    if (!live.includes(this.#replicaId)) live.push(this.#replicaId);
    const assigner = new RendezvousAssigner(live);
    if (sameList(assigner.replicas, this.#assigner.replicas)) return;
    await this.serialize(async () => {
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

  /** Leaves the replicas, so others take the targets over at once. */
  async leave(): Promise<void> {
    await this.#store
      .removeReplica(this.#replicaId)
      .catch(error =>
        this.#logger.warn(`leaving the health replicas failed: ${error}`),
      );
  }

  async refreshTargets(serialize = true): Promise<void> {
    const rows = await this.#store.listInstanceTargets(
      this.#settings.instanceStatuses,
    );
    const apply = async () => {
      this.#instanceRows = rows;
      // Most refreshes find what the last one found: skip going over every
      // target again then.
      const signature = `${this.#extraVersion}|${JSON.stringify(rows)}`;
      if (signature === this.#appliedSignature) return;
      await this.#applyTargets();
      this.#appliedSignature = signature;
    };
    if (serialize) await this.serialize(apply);
    else await apply();
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
    for (const slot of target.slots) this.#evaluator.unschedule(slot);
    this.#remediator.forget(target.id);
    this.#feed.release(target);
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
              this.#settings.trendOptions,
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
            now - slot.phase * this.#settings.retention.sampleIntervalMs;
        }
        if (health) {
          const gate = instanceProbeGate(target.slots.map(s => s.state));
          target.health = { ...health, started: gate.started };
          target.published = target.health;
        }
        target.active = true;
        for (const slot of target.slots) {
          // Rewritten soon, so every replica sees who probes it now.
          this.#writer.markDirty(slot);
          this.#evaluator.scheduleFirst(slot, now);
        }
      }
    }
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
      const target = newTarget(spec, startedAt, this.#settings);
      this.#targets.set(target.id, target);
      changed.push(target);
      if (changed.length % 500 === 0) await yieldToLoop();
    }
    await this.#reassign(changed);
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
      const slot = newSlot(target, probe, this.#settings);
      slot.state = initialProbeState(slot.probe, now);
      slots.push(slot);
    }
    for (const gone of old.values()) {
      this.#dropSlot(gone);
      if (target.assigned && !probes.some(p => p.name === gone.probe.name)) {
        this.#writer.probeGone(target.id, gone.probe.name);
      }
    }
    target.slots = slots;
    target.probesJson = probesJson;
    if (target.active) {
      for (const slot of slots) {
        if (slot.dueAt === undefined) this.#evaluator.scheduleFirst(slot, now);
      }
      if (target.health) this.#evaluator.evaluate(target, now);
    }
  }

  #removeTarget(target: Target) {
    target.removed = true;
    for (const slot of target.slots) this.#dropSlot(slot);
    this.#targets.delete(target.id);
    this.#feed.forget(target.id);
    this.#evaluator.forget(target.id);
    this.#remediator.forget(target.id);
    if (target.assigned) this.#writer.targetGone(target.id);
    target.assigned = false;
    target.active = false;
  }

  #dropSlot(slot: Slot) {
    slot.removed = true;
    this.#evaluator.unschedule(slot);
    this.#writer.discard(slot);
  }
}

function sameList(a: readonly string[], b: readonly string[]) {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}
