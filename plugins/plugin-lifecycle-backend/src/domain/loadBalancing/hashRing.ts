import { fmix32, fnv1a32, fnv1a32Int, hash32 } from './hash';
import { InstancePool, PoolMember, Strategy } from './InstancePool';
import { RoundRobin } from './roundRobin';
import { ClientInfo } from './types';

// A ring point packs (position, owner) into one double so that one sort
// orders both: position × 2^21 + owner stays below 2^53.
const OWNER_SLOTS = 2 ** 21;

/**
 * The weight that gets the configured number of virtual nodes: the power
 * of two nearest to the mean positive weight (1 when there is none).
 *
 * Why a power of two and not the mean itself: an instance's points must
 * depend on nothing but its own id and weight, or removing one instance
 * would shift the points of all the others. The rounded mean only moves
 * when the mean crosses a power of two, which equal weights never do.
 *
 * @public
 */
export function referenceWeight(weights: ArrayLike<number>): number {
  let sum = 0;
  let count = 0;
  for (let i = 0; i < weights.length; i++) {
    if (weights[i] > 0) {
      sum += weights[i];
      count++;
    }
  }
  return count === 0 ? 1 : 2 ** Math.round(Math.log2(sum / count));
}

/**
 * How many points an instance gets on the ring: proportional to its weight,
 * at least one unless the weight is 0. The total stays below about
 * 1.5 × virtualNodes × the number of instances, whatever the weights.
 *
 * @public
 */
export function virtualNodeCount(
  weight: number,
  reference: number,
  virtualNodes: number,
): number {
  if (!(weight > 0)) return 0;
  return Math.max(1, Math.round((virtualNodes * weight) / reference));
}

/**
 * A consistent hash ring: each instance owns points at hash(id, k) for k
 * below its virtual node count, and a key belongs to the owner of the first
 * point at or after hash(key), wrapping round.
 *
 * @public
 */
export class HashRing {
  /** The points' positions, ascending. */
  readonly points: Uint32Array;
  /** The index of the instance owning each point. */
  readonly owners: Int32Array;
  // A binary search over 160,000 points misses the cache at almost every
  // step. An index by the top bits of the position narrows it to about
  // 8 neighbouring points first.
  readonly #shift: number;
  readonly #bucketStart: Int32Array;

  private constructor(points: Uint32Array, owners: Int32Array) {
    this.points = points;
    this.owners = owners;
    const bits = Math.min(
      16,
      Math.max(1, Math.ceil(Math.log2(Math.max(1, points.length / 8)))),
    );
    const buckets = 2 ** bits;
    this.#shift = 32 - bits;
    this.#bucketStart = new Int32Array(buckets + 1);
    let p = 0;
    for (let bucket = 0; bucket <= buckets; bucket++) {
      while (p < points.length && points[p] >>> this.#shift < bucket) p++;
      this.#bucketStart[bucket] = p;
    }
  }

  static build(
    ids: readonly string[],
    weights: ArrayLike<number>,
    virtualNodes: number,
  ): HashRing {
    if (ids.length > OWNER_SLOTS) {
      throw new Error(`A hash ring holds at most ${OWNER_SLOTS} instances`);
    }
    const reference = referenceWeight(weights);
    const counts = ids.map((_, i) =>
      virtualNodeCount(weights[i], reference, virtualNodes),
    );
    const keys = new Float64Array(counts.reduce((a, b) => a + b, 0));
    let k = 0;
    ids.forEach((id, owner) => {
      const state = fnv1a32(id);
      for (let v = 0; v < counts[owner]; v++) {
        keys[k++] = fmix32(fnv1a32Int(state, v)) * OWNER_SLOTS + owner;
      }
    });
    // native, so fast even the first time; a ring is rebuilt rarely, so
    // its code seldom gets warm
    keys.sort();
    const points = new Uint32Array(keys.length);
    const owners = new Int32Array(keys.length);
    for (let p = 0; p < keys.length; p++) {
      const position = Math.floor(keys[p] / OWNER_SLOTS);
      points[p] = position;
      owners[p] = keys[p] - position * OWNER_SLOTS;
    }
    return new HashRing(points, owners);
  }

  /** The index of the first point at or after `hash`, wrapping round. */
  locate(hash: number): number {
    const points = this.points;
    const bucket = hash >>> this.#shift;
    let lo = this.#bucketStart[bucket];
    let hi = this.#bucketStart[bucket + 1];
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (points[mid] < hash) lo = mid + 1;
      else hi = mid;
    }
    return lo === points.length ? 0 : lo;
  }
}

/** The text hashed for a client: its sticky key, else its IP. */
function clientKey(client: ClientInfo): string | undefined {
  if (client.key !== undefined) return client.key;
  const ip = client.ip;
  // an IPv4 client seen through a dual-stack socket is the same client
  if (ip !== undefined && ip.startsWith('::ffff:') && ip.includes('.')) {
    return ip.slice(7);
  }
  return ip;
}

/**
 * ip-hash as consistent hashing: a client keeps its instance while that
 * instance can take traffic. When it cannot (unready, ejected, full) or is
 * removed, only its clients move, each to the next allowed point clockwise,
 * which is where they would land on a ring built without it. The ring is
 * rebuilt only when weights change. A client with neither key nor IP gets
 * round robin.
 */
export class ConsistentHash implements Strategy, PoolMember {
  readonly #pool: InstancePool;
  readonly #fallback: RoundRobin;
  readonly #ringWeights: Float64Array;
  #ring: HashRing | undefined;

  constructor(pool: InstancePool) {
    this.#pool = pool;
    this.#fallback = new RoundRobin(pool);
    this.#ringWeights = new Float64Array(pool.size);
    pool.subscribe(this);
  }

  sync(index: number): void {
    if (this.#pool.weight[index] !== this.#ringWeights[index]) {
      this.#ring = undefined;
    }
  }

  pick(client: ClientInfo, panic: boolean): number {
    const key = clientKey(client);
    if (key === undefined) return this.#fallback.pick(client, panic);
    const ring = this.#ring ?? this.#build();
    const { points, owners } = ring;
    const allowed = panic ? this.#pool.candidate : this.#pool.eligible;
    let at = ring.locate(hash32(key));
    for (let step = 0; step < points.length; step++) {
      const owner = owners[at];
      if (allowed[owner] === 1) return owner;
      if (++at === points.length) at = 0;
    }
    return -1;
  }

  /** The ring of the current weights. */
  ring(): HashRing {
    return this.#ring ?? this.#build();
  }

  #build() {
    const pool = this.#pool;
    this.#ringWeights.set(pool.weight);
    this.#ring = HashRing.build(
      pool.ids,
      this.#ringWeights,
      pool.options.virtualNodes,
    );
    return this.#ring;
  }
}
