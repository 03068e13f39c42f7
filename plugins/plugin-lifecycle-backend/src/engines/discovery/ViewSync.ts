import { LoggerService } from '@backstage/backend-plugin-api';
import { Knex } from 'knex';
import {
  SERVICES_NOTIFY_CHANNEL,
  ServiceChange,
  ServiceStore,
} from '../../database/ServiceStore';
import { StateChange, SystemEventEnvelope } from '../../events/eventMap';
import { SystemEvents } from '../../events/SystemEvents';
import { RevisionFeed } from '../RevisionFeed';
import { poolKey } from './discoveryEntries';
import { DiscoveryView } from './DiscoveryView';
import { OutlierEjection } from './OutlierEjection';
import { TrafficSplits } from './TrafficSplits';

/**
 * Keeps discovery's view in step with the database: a full load at start
 * and every `resyncIntervalMs` (the safety net), and in between the change
 * log (NOTIFY on PostgreSQL, polling otherwise) applied pool by pool, plus
 * one cheap look per tick for new plugins. A `split` entry re-reads the
 * stored traffic splits ({@link TrafficSplits}).
 */
export class ViewSync {
  readonly #store: ServiceStore;
  readonly #view: DiscoveryView;
  readonly #outliers: OutlierEjection;
  readonly #splits: TrafficSplits;
  readonly #feed: RevisionFeed<ServiceChange>;
  readonly #now: () => number;
  readonly #resyncIntervalMs: number;
  #lastResync = 0;

  constructor(options: {
    db: Knex;
    store: ServiceStore;
    view: DiscoveryView;
    outliers: OutlierEjection;
    splits: TrafficSplits;
    logger: LoggerService;
    pollIntervalMs: number;
    resyncIntervalMs: number;
    clock: () => number;
  }) {
    this.#store = options.store;
    this.#view = options.view;
    this.#outliers = options.outliers;
    this.#splits = options.splits;
    this.#now = options.clock;
    this.#resyncIntervalMs = options.resyncIntervalMs;
    this.#feed = new RevisionFeed<ServiceChange>({
      db: options.db,
      log: this.#store,
      channel: SERVICES_NOTIFY_CHANNEL,
      what: 'service',
      logger: options.logger,
      pollIntervalMs: options.pollIntervalMs,
      clock: this.#now,
      onChanges: changes => this.#applyChanges(changes),
      onTick: () => this.#tick(),
    });
  }

  /** Loads everything, then follows the change log from where the load began. */
  async start(): Promise<void> {
    const revision = await this.#store.maxRevision();
    await this.#loadAll();
    await this.#feed.start(revision);
  }

  stop(): Promise<void> {
    return this.#feed.stop();
  }

  /** Applies every change written so far (by any replica). */
  pollNow(): Promise<void> {
    return this.#feed.pollNow();
  }

  /**
   * Instances start and stop with lifecycle actions: look at once rather
   * than at the next poll. Only changes into or out of running matter; a
   * poll per state change would re-read every instance twice for each
   * operation the orchestrator runs. (Health verdicts reach discovery
   * through setInstanceHealth, from the plugin's wiring.) Returns the
   * function that stops following.
   */
  followEvents(events: SystemEvents): () => void {
    const onSystemEvent = (event: SystemEventEnvelope) => {
      if (event?.component === 'runtime') {
        this.#feed.pollNow();
        return;
      }
      if (
        event?.component === 'stateMachine' &&
        event.event === 'stateChanged'
      ) {
        const change = event.args[0] as StateChange | undefined;
        if (change?.from === 'running' || change?.to === 'running') {
          this.#feed.pollNow();
        }
      }
    };
    events.on('systemEvent', onSystemEvent);
    return () => events.off('systemEvent', onSystemEvent);
  }

  /** Drops a deleted service from the view (unless it holds a newer row); the pools it touched. */
  forget(serviceId: string, revision: number): string[] {
    const touched = this.#view.sources.forget(serviceId, revision);
    if (touched === undefined) return [];
    this.#outliers.forget(serviceId);
    return touched;
  }

  async #loadAll() {
    const [services, running, overrides] = await Promise.all([
      this.#store.list(),
      this.#store.listRunningInstances(),
      this.#store.listInstanceOverrides(),
    ]);
    this.#view.sources.replaceAll(services, running, overrides);
    this.#lastResync = this.#now();
    this.#view.rebuild();
    await this.#splits.reload();
  }

  async #applyChanges(changes: ServiceChange[]) {
    const sources = this.#view.sources;
    const services = new Map<string, number>();
    const overrides = new Map<string, number>();
    const instances = new Set<string>();
    let splits = false;
    for (const change of changes) {
      if (change.kind === 'split') {
        splits = true;
        continue;
      }
      if (change.kind === 'instance') {
        instances.add(change.serviceId);
        continue;
      }
      const target = change.kind === 'override' ? overrides : services;
      target.set(
        change.serviceId,
        Math.max(change.revision, target.get(change.serviceId) ?? 0),
      );
    }
    const dirty = new Set<string>();
    if (services.size > 0) {
      const rows = await this.#store.getMany([...services.keys()]);
      const found = new Set<string>();
      for (const row of rows) {
        found.add(row.serviceId);
        for (const key of sources.applyService(row)) dirty.add(key);
      }
      for (const [serviceId, revision] of services) {
        if (found.has(serviceId)) continue;
        for (const key of this.forget(serviceId, revision)) dirty.add(key);
      }
    }
    if (instances.size > 0) {
      const running = new Map(
        (await this.#store.getRunningInstances([...instances])).map(i => [
          i.instanceId,
          i,
        ]),
      );
      const tenantsOf = (name: string) =>
        this.#view.poolsNamed(name)?.keys() ?? [];
      for (const id of instances) {
        for (const key of sources.applyInstance(
          id,
          running.get(id),
          tenantsOf,
        )) {
          dirty.add(key);
        }
      }
    }
    if (overrides.size > 0) {
      for (const override of await this.#store.listInstanceOverrides([
        ...overrides.keys(),
      ])) {
        for (const key of sources.applyOverride(override)) dirty.add(key);
      }
    }
    this.#view.rebuild(dirty);
    if (splits) await this.#splits.reload();
  }

  /**
   * Between full reloads, one cheap look: new plugins (their pools exist
   * before their first instance). Instances come through the change log.
   */
  async #tick() {
    if (this.#now() - this.#lastResync >= this.#resyncIntervalMs) {
      await this.#loadAll();
      return;
    }
    const sources = this.#view.sources;
    if ((await this.#store.countPlugins()) === sources.pluginCount) return;
    const plugins = await this.#store.listPlugins();
    const dirty: string[] = [];
    for (const { pluginId, tenant } of plugins) {
      if (sources.plugins.get(pluginId) === tenant) continue;
      sources.plugins.set(pluginId, tenant);
      dirty.push(poolKey(tenant, pluginId));
      // Registrations under its name, in any tenant, stop serving it.
      for (const other of this.#view.poolsNamed(pluginId)?.keys() ?? []) {
        dirty.push(poolKey(other, pluginId));
      }
    }
    sources.pluginCount = plugins.length;
    this.#view.rebuild(dirty);
  }
}
