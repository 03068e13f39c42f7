import { Knex } from 'knex';
import { DeploymentStore } from '../../database/DeploymentStore';
import { InstanceStore } from '../../database/InstanceStore';
import { OperationStore } from '../../database/OperationStore';
import { PluginStore } from '../../database/PluginStore';
import type { HealthVerdict } from '../../domain/health/trends';

/** An instance's health as the metrics label it. */
export type InstanceHealthLabel =
  | 'healthy'
  | 'degraded'
  | 'unhealthy'
  | 'not_checked'
  | 'unknown';

/** What one scrape's gauges show, read once. */
export interface MetricsSnapshot {
  plugins: Array<{ id: string; state: string }>;
  instances: Array<{
    id: string;
    pluginId: string;
    health: InstanceHealthLabel;
  }>;
  operations: { queued: number; running: number };
  activeDeployments: Array<{
    pluginId: string;
    strategy: string;
    phase: string;
    /** When its current step (or, before one, the deployment) started, ms. */
    lastProgressMs: number;
  }>;
  configVersions: Array<{ pluginId: string; layer: string; version: number }>;
  configWatchers: number;
}

/** Where the gauges' values come from. */
export interface MetricsReadModel {
  snapshot(): Promise<MetricsSnapshot>;
}

/** The health verdict as a label: `degrading` and `flapping` are degraded. */
export function healthLabel(
  verdict: HealthVerdict | undefined,
  hasProbes: boolean,
): InstanceHealthLabel {
  if (!hasProbes) return 'not_checked';
  switch (verdict) {
    case 'healthy':
      return 'healthy';
    case 'degrading':
    case 'flapping':
      return 'degraded';
    case 'unhealthy':
      return 'unhealthy';
    default:
      // Not probed yet, or its startup probe has not passed.
      return 'unknown';
  }
}

/** Options of {@link StoreMetricsReadModel.create}. */
export interface StoreMetricsReadModelOptions {
  db: Knex;
  /** The latest verdict on an instance, from the health monitor (absent: not monitored). */
  instanceHealth?: (instanceId: string) => HealthVerdict | undefined;
  /** Open configuration watches on this replica. */
  configWatchers?: () => number;
  /**
   * A snapshot is reused this long, ms (default 1000): every gauge of one
   * collection, and scrapes by several Prometheus servers, share one read.
   */
  maxAgeMs?: number;
  clock?: () => number;
}

/**
 * Reads the gauges' values from the stores: a handful of queries per
 * snapshot, shared by the collections within `maxAgeMs` (a read in flight
 * is shared too).
 */
export class StoreMetricsReadModel implements MetricsReadModel {
  readonly #o: StoreMetricsReadModelOptions;
  readonly #plugins: PluginStore;
  readonly #instances: InstanceStore;
  readonly #operations: OperationStore;
  readonly #deployments: DeploymentStore;
  readonly #clock: () => number;
  #cached?: { atMs: number; value: Promise<MetricsSnapshot> };

  static create(options: StoreMetricsReadModelOptions): StoreMetricsReadModel {
    return new StoreMetricsReadModel(options);
  }

  private constructor(options: StoreMetricsReadModelOptions) {
    this.#o = options;
    this.#plugins = PluginStore.create({ db: options.db });
    this.#instances = InstanceStore.create({ db: options.db });
    this.#operations = OperationStore.create({ db: options.db });
    this.#deployments = DeploymentStore.create({ database: options.db });
    this.#clock = options.clock ?? Date.now;
  }

  snapshot(): Promise<MetricsSnapshot> {
    const now = this.#clock();
    const cached = this.#cached;
    if (cached && now - cached.atMs < (this.#o.maxAgeMs ?? 1000)) {
      return cached.value;
    }
    const value = this.#read();
    this.#cached = { atMs: now, value };
    // A failed read is not reused.
    value.catch(() => {
      if (this.#cached?.value === value) this.#cached = undefined;
    });
    return value;
  }

  async #read(): Promise<MetricsSnapshot> {
    const db = this.#o.db;
    const [plugins, active, byStatus, deployments, versions] =
      await Promise.all([
        this.#plugins.list(),
        this.#instances.listActive(),
        this.#operations.countByStatus(),
        this.#deployments.list({ active: true, limit: 10_000 }),
        db('config_versions')
          .select('plugin_id', 'layer')
          .max({ version: 'version' })
          .groupBy('plugin_id', 'layer'),
      ]);
    const probed = new Set(
      plugins.filter(p => (p.probes?.length ?? 0) > 0).map(p => p.id),
    );
    const health = this.#o.instanceHealth;
    return {
      plugins: plugins.map(p => ({ id: p.id, state: p.state })),
      instances: active.map(i => ({
        id: i.id,
        pluginId: i.pluginId,
        health: health
          ? healthLabel(health(i.id), probed.has(i.pluginId))
          : 'not_checked',
      })),
      operations: {
        queued: byStatus.queued ?? 0,
        running: byStatus.running ?? 0,
      },
      activeDeployments: deployments.map(d => ({
        pluginId: d.pluginId,
        strategy: d.strategy,
        phase: d.phase,
        lastProgressMs: Date.parse(d.stepStartedAt ?? d.createdAt),
      })),
      configVersions: versions.map((r: any) => ({
        pluginId: r.plugin_id,
        layer: r.layer,
        version: Number(r.version),
      })),
      configWatchers: this.#o.configWatchers?.() ?? 0,
    };
  }
}
