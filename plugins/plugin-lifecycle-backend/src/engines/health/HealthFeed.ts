import {
  HealthStatusRecord,
  HealthStore,
  StatusCursor,
} from '../../database/HealthStore';
import { SystemEvents } from '../../events/SystemEvents';
import { RemoteHealth, SCORE_STEP, Target, TargetHealth } from './model';
import { HealthVerdictChange } from './types';

/**
 * What other replicas wrote of the targets they probe: read by polling the
 * status rows by `updated_at`, kept per target and announced in this process.
 */
export class HealthFeed {
  readonly #store: HealthStore;
  readonly #events: SystemEvents;
  readonly #replicaId: string;
  readonly #clock: () => number;
  readonly #feedIntervalMs: number;
  readonly #targets: ReadonlyMap<string, Target>;

  readonly #remote = new Map<string, RemoteHealth>();
  /** What was last read of each probe row: target id → probe → stamp. */
  readonly #seen = new Map<string, Map<string, string>>();
  #cursor = 0;

  constructor(options: {
    store: HealthStore;
    events: SystemEvents;
    replicaId: string;
    clock: () => number;
    feedIntervalMs: number;
    targets: ReadonlyMap<string, Target>;
  }) {
    this.#store = options.store;
    this.#events = options.events;
    this.#replicaId = options.replicaId;
    this.#clock = options.clock;
    this.#feedIntervalMs = options.feedIntervalMs;
    this.#targets = options.targets;
  }

  /** The latest health of a target another replica wrote. */
  get(targetId: string): RemoteHealth | undefined {
    return this.#remote.get(targetId);
  }

  /** Forgets a target that is gone. */
  forget(targetId: string) {
    this.#remote.delete(targetId);
    this.#seen.delete(targetId);
  }

  /** Takes over the view of a target this replica no longer probes. */
  release(target: Target) {
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
      this.#announce(target.id, target.published, remote);
    }
  }

  /** What other replicas wrote so far, without announcing it. */
  async loadSnapshot(): Promise<void> {
    await this.#read(0, false);
    if (this.#cursor === 0) this.#cursor = this.#clock();
  }

  async poll(): Promise<void> {
    // Re-read a little before the cursor: a write that started earlier may
    // have committed after the last read (and clocks differ a little).
    const lookback = Math.max(3_000, 2 * this.#feedIntervalMs);
    await this.#read(Math.max(0, this.#cursor - lookback), true);
  }

  async #read(since: number, announce: boolean): Promise<void> {
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
        if (row.updatedAt > this.#cursor) this.#cursor = row.updatedAt;
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
        this.#announce(row.targetId, previous, remote);
      }
    }
  }

  /** Announces in this process a verdict another replica reported. */
  #announce(
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
    this.#events.emitLocal('healthMonitor', 'verdictChanged', change);
  }
}
