import { InstancePool, PoolMember, Strategy } from './InstancePool';

// Rounds are counted from a base that moves every REBASE_AFTER picks, so
// that base + weight × round stays small enough for doubles to hold
// integer weights exactly.
const REBASE_AFTER = 2 ** 20;

/** Blocks of about sqrt(n / 2) instances measured fastest at 1,000. */
function defaultBlockSize(size: number) {
  return Math.max(8, Math.round(Math.sqrt(size / 2)));
}

/**
 * nginx's smooth weighted round robin (ngx_http_upstream_get_peer) over a
 * changing set of members: on every pick each member's current weight grows
 * by its weight, the largest current weight wins (the first one on a tie)
 * and loses the total of the weights. Weights 5, 1, 1 give a a b a c a a.
 * Like nginx, a member that leaves (unready, ejected, full) keeps its
 * current weight and does not accrue any while it is out.
 *
 * nginx walks every peer on every pick, which costs about a microsecond at
 * 1,000 instances. This gives the same sequence cheaper. After round s a
 * member's current weight is `base + weight × s`: a line in s. The members
 * are cut into blocks of about sqrt(n / 2); each block remembers its leader
 * and the first round at which another line of the block can overtake it.
 * A pick then compares one leader per block and re-examines only blocks
 * whose leader changed: the winner's (it lost the total) and those where
 * an overtaking round has come. That is O(sqrt n) per pick.
 */
export class SmoothWeightedRotation implements PoolMember {
  readonly #size: number;
  readonly #blockSize: number;
  readonly #rebaseAfter: number;
  readonly #blocks: number;
  readonly #weightOf: (index: number) => number;
  /** The member's weight; 0 while it is not a member. */
  readonly #weight: Float64Array;
  readonly #base: Float64Array;
  /** The current weight kept while not a member. */
  readonly #held: Float64Array;
  readonly #leader: Int32Array;
  // the leader's base and weight again, side by side, so that the scan
  // over the blocks reads two arrays in order instead of jumping around
  readonly #leaderBase: Float64Array;
  readonly #leaderWeight: Float64Array;
  readonly #leadsUntil: Float64Array;
  /** Each block's members, heaviest first. */
  readonly #byWeight: Int32Array;
  #round = 0;
  #total = 0;

  /**
   * @param weightOf - the weight of an instance, 0 to leave it out; asked
   *   again for an instance whenever it is synced
   * @param tuning - for tests, to reach block boundaries and rebases
   */
  constructor(
    size: number,
    weightOf: (index: number) => number,
    tuning: { blockSize?: number; rebaseAfter?: number } = {},
  ) {
    const { blockSize = defaultBlockSize(size), rebaseAfter = REBASE_AFTER } =
      tuning;
    this.#size = size;
    this.#weightOf = weightOf;
    this.#blockSize = blockSize;
    this.#rebaseAfter = rebaseAfter;
    this.#blocks = Math.ceil(size / blockSize);
    this.#weight = new Float64Array(size);
    this.#base = new Float64Array(size);
    this.#held = new Float64Array(size);
    this.#leader = new Int32Array(this.#blocks).fill(-1);
    this.#leaderBase = new Float64Array(this.#blocks).fill(-Infinity);
    this.#leaderWeight = new Float64Array(this.#blocks);
    this.#leadsUntil = new Float64Array(this.#blocks);
    this.#byWeight = Int32Array.from({ length: size }, (_, i) => i);
    for (let i = 0; i < size; i++) this.sync(i);
  }

  sync(index: number): void {
    const weight = this.#weightOf(index);
    const old = this.#weight[index];
    if (weight === old) return;
    const round = this.#round;
    const current =
      old > 0 ? this.#base[index] + old * round : this.#held[index];
    if (weight > 0) this.#base[index] = current - weight * round;
    else this.#held[index] = current;
    this.#weight[index] = weight;
    this.#total += weight - old;
    const block = Math.floor(index / this.#blockSize);
    this.#leadsUntil[block] = 0;
    this.#sortBlock(block);
  }

  // insertion sort: only one weight changed, so the block is nearly sorted
  #sortBlock(block: number) {
    const order = this.#byWeight;
    const weight = this.#weight;
    const from = block * this.#blockSize;
    const to = Math.min(this.#size, from + this.#blockSize);
    for (let p = from + 1; p < to; p++) {
      const item = order[p];
      let q = p;
      while (q > from && weight[order[q - 1]] < weight[item]) {
        order[q] = order[q - 1];
        q--;
      }
      order[q] = item;
    }
  }

  /** The index of the next member, or -1 when there is none. */
  pick(): number {
    if (this.#round >= this.#rebaseAfter) this.#rebase();
    const round = ++this.#round;
    const leadsUntil = this.#leadsUntil;
    const leaderBase = this.#leaderBase;
    const leaderWeight = this.#leaderWeight;
    let bestBlock = -1;
    let bestValue = -Infinity;
    for (let block = 0; block < this.#blocks; block++) {
      if (leadsUntil[block] <= round) this.#settle(block, round);
      // an empty block has base -Infinity; strict: on a tie the earlier
      // block, so the lower index, wins
      const value = leaderBase[block] + leaderWeight[block] * round;
      if (value > bestValue) {
        bestValue = value;
        bestBlock = block;
      }
    }
    if (bestBlock < 0) return -1;
    const best = this.#leader[bestBlock];
    this.#base[best] -= this.#total;
    leadsUntil[bestBlock] = 0;
    return best;
  }

  /** Finds a block's leader at `round` and how long it stays ahead. */
  #settle(block: number, round: number) {
    const base = this.#base;
    const weight = this.#weight;
    const from = block * this.#blockSize;
    const to = Math.min(this.#size, from + this.#blockSize);
    let m = -1;
    let top = -Infinity;
    for (let j = from; j < to; j++) {
      const w = weight[j];
      if (w > 0) {
        const value = base[j] + w * round;
        if (value > top) {
          top = value;
          m = j;
        }
      }
    }
    this.#leader[block] = m;
    if (m < 0) {
      this.#leaderBase[block] = -Infinity;
      this.#leaderWeight[block] = 0;
      this.#leadsUntil[block] = Infinity;
      return;
    }
    this.#leaderBase[block] = base[m];
    this.#leaderWeight[block] = weight[m];
    // Only a heavier line can catch up, so walk the block heaviest first
    // and stop at the leader's weight. Flooring the crossing point may wake
    // the block one round early, which only costs a re-examination.
    const mBase = base[m];
    const mWeight = weight[m];
    const byWeight = this.#byWeight;
    let until = Infinity;
    for (let p = from; p < to; p++) {
      const j = byWeight[p];
      const w = weight[j];
      if (w <= mWeight) break;
      const crossing = Math.floor((mBase - base[j]) / (w - mWeight));
      if (crossing < until) until = crossing;
    }
    this.#leadsUntil[block] = until > round ? until : round + 1;
  }

  #rebase() {
    const round = this.#round;
    let total = 0;
    for (let i = 0; i < this.#size; i++) {
      const w = this.#weight[i];
      if (w > 0) {
        this.#base[i] += w * round;
        total += w;
      }
    }
    this.#total = total;
    this.#round = 0;
    this.#leadsUntil.fill(0);
  }
}

/**
 * Smooth weighted round robin over a pool: on the instances' weights, or
 * with `health` on weight × healthScore, where an instance whose score is
 * 0 gets nothing. Panic routing ignores health scores (they are what
 * failed) and rotates over the panic candidates by weight alone.
 */
export class SmoothWeighted implements Strategy {
  readonly #pool: InstancePool;
  readonly #normal: SmoothWeightedRotation;
  #panic: SmoothWeightedRotation | undefined;

  constructor(pool: InstancePool, options: { health: boolean }) {
    this.#pool = pool;
    const { eligible, weight, health } = pool;
    this.#normal = new SmoothWeightedRotation(
      pool.size,
      options.health
        ? i => (eligible[i] === 1 ? weight[i] * health[i] : 0)
        : i => (eligible[i] === 1 ? weight[i] : 0),
    );
    pool.subscribe(this.#normal);
  }

  pick(_client: unknown, panic: boolean): number {
    return panic ? this.#panicRotation().pick() : this.#normal.pick();
  }

  // built on the first panic, since most services never panic
  #panicRotation() {
    if (!this.#panic) {
      const { candidate, weight } = this.#pool;
      this.#panic = new SmoothWeightedRotation(this.#pool.size, i =>
        candidate[i] === 1 ? weight[i] : 0,
      );
      this.#pool.subscribe(this.#panic);
    }
    return this.#panic;
  }
}
