import { LoggerService } from '@backstage/backend-plugin-api';
import { ServiceRegistration } from '@internal/plugin-lifecycle-common';
import {
  BalancedInstance,
  LoadBalancer,
  LoadBalancingStrategy,
  SubsetMatch,
  SubsetSplitter,
  subsetKey,
} from '../../domain/loadBalancing';
import {
  Entry,
  instanceEntry,
  poolKey,
  serviceEntry,
  splitPoolKey,
} from './discoveryEntries';
import { OutlierEjection } from './OutlierEjection';
import { ReservedServiceNames } from './ReservedServiceNames';
import { ViewSources } from './ViewSources';

/** One version subset of a pool: its instances, held by the balancer under `balancerKey`. */
export interface PoolSubset {
  key: string;
  weight: number;
  balancerKey: string;
  ids: string[];
}

/** A service name in one tenant: the instances that serve it. */
export interface Pool {
  key: string;
  tenant: string;
  serviceName: string;
  ids: string[];
  routableCount: number;
  strategy?: LoadBalancingStrategy;
  /**
   * With subset weights set: the instances by track and version, every
   * subset named in the weights or with an instance. Without, the balancer
   * holds the whole pool under its key, as before subsets existed.
   */
  subsets?: PoolSubset[];
  splitter?: SubsetSplitter;
  /** Requests matching this go to its subset first (A/B); only with subsets. */
  match?: SubsetMatch;
}

/** A pool's split as the view applies it: weights by subset key, and a match. */
export interface PoolSplit {
  weights: ReadonlyMap<string, number>;
  match?: SubsetMatch;
}

function sameSplit(a: PoolSplit | undefined, b: PoolSplit | undefined) {
  if (a === b) return true;
  if (!a || !b || a.weights.size !== b.weights.size) return false;
  for (const [k, w] of a.weights) if (b.weights.get(k) !== w) return false;
  return JSON.stringify(a.match) === JSON.stringify(b.match);
}

/**
 * Discovery's in-memory view: pools and entries derived from the sources
 * ({@link ViewSources}), and the balancer that picks within them. A change
 * rebuilds only the pools it touched; every rebuild tells the `onChange`
 * listeners (the routing table may have changed). This replica's live state (connection
 * counts, ejections) is folded into what the balancer weighs.
 */
export class DiscoveryView {
  readonly sources: ViewSources;
  readonly balancer: LoadBalancer;
  readonly #outliers: OutlierEjection;
  readonly #reservedNames: ReservedServiceNames;
  readonly #logger: LoggerService;
  readonly #listeners = new Set<() => void>();
  readonly #now: () => number;

  #entries = new Map<string, Entry>();
  #pools = new Map<string, Pool>();
  /** Service name → tenant → pool. */
  #byName = new Map<string, Map<string, Pool>>();
  /** Instance id → the key the balancer holds it under (its pool's or its subset's). */
  #balancerKeyOf = new Map<string, string>();
  /** What the balancer holds, per pool: its key or its subsets' keys. */
  #balancerKeys = new Map<string, string[]>();
  /** Pool key → the stored split every replica applies ({@link TrafficSplits}). */
  #splits = new Map<string, PoolSplit>();
  /** Pool key → weights set on this replica alone (setSubsetWeights); they win over a stored split. */
  readonly #localWeights = new Map<string, ReadonlyMap<string, number>>();
  /** This replica's proxied requests in flight, per instance. */
  readonly #active = new Map<string, number>();

  constructor(options: {
    sources: ViewSources;
    balancer: LoadBalancer;
    outliers: OutlierEjection;
    reservedNames: ReservedServiceNames;
    clock: () => number;
    logger: LoggerService;
  }) {
    this.sources = options.sources;
    this.balancer = options.balancer;
    this.#outliers = options.outliers;
    this.#reservedNames = options.reservedNames;
    this.#now = options.clock;
    this.#logger = options.logger;
  }

  /** Calls `listener` after every rebuild (routing may have changed); returns the function that stops it. */
  onChange(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  entry(id: string): Entry | undefined {
    return this.#entries.get(id);
  }

  pools(): IterableIterator<Pool> {
    return this.#pools.values();
  }

  /** The pools of a service name, by tenant. */
  poolsNamed(serviceName: string): ReadonlyMap<string, Pool> | undefined {
    return this.#byName.get(serviceName);
  }

  /** The instances the balancer holds for a pool, every subset's. */
  balancedInstances(pool: Pool): readonly BalancedInstance[] {
    const keys = this.#balancerKeys.get(pool.key) ?? [];
    if (keys.length === 1) return this.balancer.getInstances(keys[0]);
    return keys.flatMap(key => this.balancer.getInstances(key));
  }

  /** The split a pool's traffic follows, if any: this replica's own weights, else the stored split. */
  splitOf(key: string): PoolSplit | undefined {
    const local = this.#localWeights.get(key);
    return local ? { weights: local } : this.#splits.get(key);
  }

  /**
   * Splits a pool's traffic by these weights on this replica alone, or
   * (undefined) goes back to the stored split, if any.
   */
  setSubsetWeights(
    key: string,
    weights: ReadonlyMap<string, number> | undefined,
  ) {
    if (weights) this.#localWeights.set(key, weights);
    else this.#localWeights.delete(key);
    this.rebuild([key]);
  }

  /**
   * Takes the stored splits (all of them, as read): this replica's own
   * weights of a pool whose stored split is `written` give way to it.
   * Rebuilds the pools whose split changed.
   */
  replaceSplits(splits: Map<string, PoolSplit>, written?: string): void {
    const dirty = new Set<string>();
    for (const key of new Set([...this.#splits.keys(), ...splits.keys()])) {
      if (!sameSplit(this.#splits.get(key), splits.get(key))) dirty.add(key);
    }
    if (written !== undefined && this.#localWeights.delete(written)) {
      dirty.add(written);
    }
    this.#splits = splits;
    // A pool that does not exist (yet) takes its split when it is built.
    this.rebuild([...dirty].filter(key => this.#pools.has(key)));
  }

  /** The API's answer for an entry, with this replica's live state. */
  registrationOf(entry: Entry): ServiceRegistration {
    const ejectedUntil = this.#outliers.ejectedUntil(entry.id);
    return {
      ...entry.registration,
      ...(ejectedUntil !== undefined && ejectedUntil > this.#now()
        ? { ejectedUntil: new Date(ejectedUntil).toISOString() }
        : {}),
      activeConnections: this.#active.get(entry.id) ?? 0,
    };
  }

  /** Adds `delta` to the requests in flight to an instance. */
  countConnection(id: string, delta: 1 | -1): void {
    const count = Math.max(0, (this.#active.get(id) ?? 0) + delta);
    if (count === 0) this.#active.delete(id);
    else this.#active.set(id, count);
    const key = this.#balancerKeyOf.get(id);
    if (key)
      this.balancer.updateInstance(key, id, { activeConnections: count });
  }

  /** Tells the balancer an instance is ejected until then. */
  ejected(id: string, ejectedUntil: number): void {
    const key = this.#balancerKeyOf.get(id);
    if (key) this.balancer.updateInstance(key, id, { ejectedUntil });
  }

  /**
   * Derives the entries and pools from the sources and hands them to the
   * balancer: every pool, or only the `dirty` ones (a write touches one or
   * two pools; rebuilding all of them made each registration cost as much as
   * every other one together).
   */
  rebuild(dirty?: Iterable<string>): void {
    if (dirty === undefined) {
      const previous = this.#balancerKeys;
      this.#entries = new Map();
      this.#pools = new Map();
      this.#byName = new Map();
      this.#balancerKeyOf = new Map();
      this.#balancerKeys = new Map();
      for (const key of this.sources.poolKeys()) this.#rebuildPool(key);
      const held = new Set([...this.#balancerKeys.values()].flat());
      for (const key of [...previous.values()].flat()) {
        if (!held.has(key)) this.balancer.removeService(key);
      }
      this.#outliers.retain(id => this.#entries.has(id));
    } else {
      let changed = false;
      for (const key of dirty) {
        this.#rebuildPool(key);
        changed = true;
      }
      if (!changed) return;
    }
    for (const listener of this.#listeners) {
      try {
        listener();
      } catch (error) {
        this.#logger.warn(`A routing listener failed: ${error}`);
      }
    }
  }

  /** Rebuilds one pool from the sources, in place. */
  #rebuildPool(key: string) {
    const sources = this.sources;
    const previous = this.#pools.get(key);
    for (const id of previous?.ids ?? []) {
      if (this.#entries.get(id)?.key === key) {
        this.#entries.delete(id);
        this.#balancerKeyOf.delete(id);
      }
    }
    const [tenant, serviceName] = splitPoolKey(key);
    const pool: Pool = { key, tenant, serviceName, ids: [], routableCount: 0 };
    const add = (entry: Entry) => {
      this.#entries.set(entry.id, entry);
      pool.ids.push(entry.id);
      if (entry.routable) pool.routableCount++;
    };
    // A managed plugin's (or Backstage's) name: only the runtime's instances
    // serve it, whatever was registered under it before the rule or before
    // the plugin was installed.
    const reserved = this.#reservedNames.isReserved(serviceName, id =>
      sources.plugins.has(id),
    );
    for (const id of reserved ? [] : sources.registeredIn(key)) {
      const service = sources.registered.get(id)!;
      if (service.strategy && !pool.strategy) pool.strategy = service.strategy;
      add(serviceEntry(service, key));
    }
    for (const id of sources.runningIn(key)) {
      if (sources.registered.has(id)) continue; // a registration won
      add(
        instanceEntry(sources.running.get(id)!, key, sources.overrides.get(id)),
      );
    }
    for (const id of previous?.ids ?? []) {
      if (!this.#entries.has(id)) this.#outliers.forget(id);
    }

    const tenants = this.#byName.get(serviceName);
    const before = this.#balancerKeys.get(key) ?? [];
    if (pool.ids.length === 0 && sources.plugins.get(serviceName) !== tenant) {
      this.#pools.delete(key);
      tenants?.delete(tenant);
      if (tenants?.size === 0) this.#byName.delete(serviceName);
      for (const held of before) this.balancer.removeService(held);
      this.#balancerKeys.delete(key);
      return;
    }
    pool.ids.sort();
    this.#pools.set(key, pool);
    if (tenants) tenants.set(tenant, pool);
    else this.#byName.set(serviceName, new Map([[tenant, pool]]));

    const split = this.splitOf(key);
    const groups = split
      ? this.#subsets(pool, split, previous?.splitter)
      : [{ balancerKey: key, ids: pool.ids }];
    const after: string[] = [];
    for (const group of groups) {
      this.balancer.setInstances(
        group.balancerKey,
        group.ids.map(id => this.#balanced(this.#entries.get(id)!)),
      );
      for (const id of group.ids)
        this.#balancerKeyOf.set(id, group.balancerKey);
      after.push(group.balancerKey);
    }
    for (const held of before) {
      if (!after.includes(held)) this.balancer.removeService(held);
    }
    this.#balancerKeys.set(key, after);
  }

  /** Groups a pool's instances by track and version; keeps the rotation while the weights stay. */
  #subsets(
    pool: Pool,
    { weights, match }: PoolSplit,
    splitter: SubsetSplitter | undefined,
  ): PoolSubset[] {
    const byKey = new Map<string, PoolSubset>();
    const subsetOf = (subset: string) => {
      let found = byKey.get(subset);
      if (!found) {
        found = {
          key: subset,
          weight: weights.get(subset) ?? 0,
          balancerKey: `${pool.key}\u0001${subset}`,
          ids: [],
        };
        byKey.set(subset, found);
      }
      return found;
    };
    for (const subset of weights.keys()) subsetOf(subset);
    if (match) {
      subsetOf(match.subset);
      pool.match = match;
    }
    for (const id of pool.ids) {
      const { resolved } = this.#entries.get(id)!;
      const track = resolved.track ?? resolved.metadata.track;
      subsetOf(subsetKey(track, resolved.version)).ids.push(id);
    }
    const subsets = [...byKey.values()].sort((a, b) =>
      a.key.localeCompare(b.key),
    );
    const shares = subsets.map(({ key, weight }) => ({ key, weight }));
    pool.subsets = subsets;
    pool.splitter = splitter?.sameAs(shares)
      ? splitter
      : SubsetSplitter.create(shares);
    return subsets;
  }

  #balanced(entry: Entry): BalancedInstance {
    return {
      id: entry.id,
      weight: entry.weight,
      activeConnections: this.#active.get(entry.id) ?? 0,
      maxConnections: entry.maxConnections,
      healthScore: entry.healthScore,
      ready: entry.routable,
      ejectedUntil: this.#outliers.ejectedUntil(entry.id),
    };
  }
}

export { poolKey };
