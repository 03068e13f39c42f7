import { hash32 } from './hash';
import { ClientInfo, LoadBalancingStrategy } from './types';

/**
 * Version subsets: a service's instances grouped by track and version, each
 * group with a share of the traffic, as a deployment (canary, blue-green)
 * shifts it. A request first goes to a subset by weight, then to an
 * instance of that subset by the service's strategy. Pure: no I/O, no
 * randomness, so the split is exact and testable.
 */

/** The track of an instance that names none. */
export const DEFAULT_TRACK = 'stable';

/** Most subsets one service may weigh. */
export const MAX_SUBSETS = 64;

/** One subset and its share of the traffic (any non-negative integer scale). */
export interface TrafficSubset {
  key: string;
  weight: number;
}

/**
 * The key of the subset an instance belongs to: its track, and its version
 * when it has one (`stable/1.0.0`, `canary/1.1.0`; `stable` for an
 * unversioned registration).
 *
 * @public
 */
export function subsetKey(
  track: string | undefined,
  version: string | undefined,
): string {
  const t = track || DEFAULT_TRACK;
  return version ? `${t}/${version}` : t;
}

/**
 * Chooses a subset per request. Weights are shares: `{a: 80, b: 20}` sends
 * exactly 8 of every 10 picks to `a` (nginx's smooth weighted round robin,
 * interleaved: a a b a a a a b a a ...); a subset of weight 0 gets nothing.
 * A sticky client (ip-hash) is placed by the hash of its key instead, so it
 * stays in one subset while the weights stay.
 *
 * @public
 */
export class SubsetSplitter {
  readonly #subsets: readonly TrafficSubset[];
  /** Subsets of weight above 0, heaviest first (ties by key): the fallback order. */
  readonly #byWeight: readonly string[];
  readonly #current: Float64Array;
  readonly #total: number;

  /** Throws a `TypeError` for a weight that is not a non-negative integer. */
  static create(subsets: readonly TrafficSubset[]): SubsetSplitter {
    for (const { key, weight } of subsets) {
      if (!Number.isInteger(weight) || weight < 0) {
        throw new TypeError(
          `Subset '${key}' has weight ${weight}; expected a whole number of at least 0`,
        );
      }
    }
    return new SubsetSplitter(subsets);
  }

  private constructor(subsets: readonly TrafficSubset[]) {
    this.#subsets = [...subsets].sort((a, b) => a.key.localeCompare(b.key));
    this.#current = new Float64Array(this.#subsets.length);
    this.#total = this.#subsets.reduce((sum, s) => sum + s.weight, 0);
    this.#byWeight = this.#subsets
      .filter(s => s.weight > 0)
      .sort((a, b) => b.weight - a.weight || a.key.localeCompare(b.key))
      .map(s => s.key);
  }

  /** The subsets and their weights, by key. */
  get subsets(): readonly TrafficSubset[] {
    return this.#subsets;
  }

  /** Whether these are the same subsets with the same weights (its rotation can go on). */
  sameAs(subsets: readonly TrafficSubset[]): boolean {
    if (subsets.length !== this.#subsets.length) return false;
    const weights = new Map(subsets.map(s => [s.key, s.weight]));
    return this.#subsets.every(s => weights.get(s.key) === s.weight);
  }

  /**
   * The subset for the next request, or undefined when every weight is 0.
   * ip-hash places a client by its key (or IP), every other strategy
   * rotates.
   */
  pick(
    strategy: LoadBalancingStrategy,
    client: ClientInfo,
  ): string | undefined {
    if (this.#total === 0) return undefined;
    if (strategy === 'ip-hash') {
      const sticky = client.key ?? client.ip;
      if (sticky !== undefined) return this.forHash(hash32(sticky));
    }
    return this.next();
  }

  /** Smooth weighted round robin: the next subset in rotation. */
  next(): string | undefined {
    if (this.#total === 0) return undefined;
    let best = -1;
    for (let i = 0; i < this.#subsets.length; i++) {
      const weight = this.#subsets[i].weight;
      if (weight === 0) continue;
      this.#current[i] += weight;
      if (best < 0 || this.#current[i] > this.#current[best]) best = i;
    }
    this.#current[best] -= this.#total;
    return this.#subsets[best].key;
  }

  /** The subset a 32-bit hash falls in, each owning a range as wide as its weight. */
  forHash(hash: number): string | undefined {
    if (this.#total === 0) return undefined;
    let point = hash % this.#total;
    for (const subset of this.#subsets) {
      if (point < subset.weight) return subset.key;
      point -= subset.weight;
    }
    return undefined; // not reached: the weights add up to the total
  }

  /**
   * Where a request goes when its subset has no instance that can take it:
   * the other subsets of weight above 0, heaviest first. A subset of
   * weight 0 never takes traffic.
   */
  fallbacks(first: string): readonly string[] {
    return this.#byWeight.filter(key => key !== first);
  }
}
