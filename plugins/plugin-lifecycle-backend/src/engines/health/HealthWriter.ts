import { LoggerService } from '@backstage/backend-plugin-api';
import {
  HealthResultRecord,
  HealthStatusRecord,
  HealthStore,
} from '../../database/HealthStore';
import { MonitorCounters, Slot, Target } from './model';
import { MonitorSettings } from './types';

/**
 * What this replica writes of the targets it probes: their status rows and
 * sampled results, gathered in memory and written in batches, and the
 * deletion of old results and rows.
 */
export class HealthWriter {
  readonly #store: HealthStore;
  readonly #settings: MonitorSettings;
  readonly #logger: LoggerService;
  readonly #clock: () => number;
  readonly #replicaId: string;
  readonly #targets: ReadonlyMap<string, Target>;
  readonly #counters: MonitorCounters;

  #dirty = new Set<Slot>();
  #results: HealthResultRecord[] = [];
  #deletedTargets = new Set<string>();
  #deletedProbes: Array<{ targetId: string; probeName: string }> = [];
  #flushing?: Promise<void>;

  constructor(options: {
    store: HealthStore;
    settings: MonitorSettings;
    logger: LoggerService;
    clock: () => number;
    replicaId: string;
    targets: ReadonlyMap<string, Target>;
    counters: MonitorCounters;
  }) {
    this.#store = options.store;
    this.#settings = options.settings;
    this.#logger = options.logger;
    this.#clock = options.clock;
    this.#replicaId = options.replicaId;
    this.#targets = options.targets;
    this.#counters = options.counters;
  }

  get pendingStatusRows(): number {
    return this.#dirty.size;
  }

  get pendingResults(): number {
    return this.#results.length;
  }

  /** The probe's status row is written at the next flush. */
  markDirty(slot: Slot) {
    this.#dirty.add(slot);
  }

  /** The probe's status row is not written (its probe is gone). */
  discard(slot: Slot) {
    this.#dirty.delete(slot);
  }

  queueResult(result: HealthResultRecord) {
    if (this.#results.length >= this.#settings.retention.maxPendingResults) {
      this.#results.shift();
      this.#counters.resultsDropped++;
    }
    this.#results.push(result);
  }

  /** A target this replica probed is gone: its rows are deleted. */
  targetGone(targetId: string) {
    this.#deletedTargets.add(targetId);
  }

  /** A probe of a target this replica probes is gone: its row is deleted. */
  probeGone(targetId: string, probeName: string) {
    this.#deletedProbes.push({ targetId, probeName });
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

  /**
   * Deletes old results of the targets this replica probes, and when
   * `isLeader` says so, also what belongs to nobody in particular.
   */
  async prune(now: number, isLeader: () => boolean): Promise<void> {
    const { retention, replicaTimeoutMs } = this.#settings;
    const owned = [...this.#targets.values()]
      .filter(t => t.active)
      .map(t => t.id);
    let deleted = await this.#store.pruneResults({
      maxPerProbe: retention.maxResultsPerProbe,
      targetIds: owned,
    });
    if (isLeader()) {
      deleted += await this.#store.pruneResults({
        before: now - retention.maxAgeMs,
      });
      await this.#store.pruneStatuses(now - 10 * retention.statusRefreshMs);
      await this.#store.pruneReplicas(now - 10 * replicaTimeoutMs);
    }
    if (deleted) this.#logger.debug(`pruned ${deleted} health results`);
  }

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
        now + (0.5 + slot.phase) * this.#settings.retention.statusRefreshMs;
      return this.#statusRecord(slot, now);
    });
    try {
      await this.#store.writeStatuses(records);
      this.#counters.statusRowsWritten += records.length;
    } catch (error) {
      for (const slot of slots) this.#dirty.add(slot);
      throw error;
    } finally {
      if (results.length) {
        try {
          await this.#store.insertResults(results);
          this.#counters.resultsWritten += results.length;
        } catch (error) {
          this.#logger.warn(
            `writing ${results.length} health results failed: ${error}`,
          );
          this.#results = [...results, ...this.#results].slice(
            -this.#settings.retention.maxPendingResults,
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
}
