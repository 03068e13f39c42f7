import { InstancePool, PoolMember, Strategy } from './InstancePool';

/**
 * An indexed binary min-heap of instances ordered by load
 * (activeConnections / weight), then by when each was last picked, so equal
 * loads take turns round-robin (in index order at first).
 *
 * Why a heap and not Envoy's power of two choices: P2C exists because many
 * Envoy workers see stale, partial load; here one balancer sees every count
 * as it changes, so the exact least loaded instance costs only O(log n) per
 * pick and per count change, and the choice stays deterministic.
 */
export class LeastLoadedQueue implements PoolMember {
  readonly #isMember: (index: number) => boolean;
  readonly #active: Float64Array;
  readonly #weight: Float64Array;
  readonly #heap: Int32Array;
  /** Where each instance sits in the heap, -1 if it is not in it. */
  readonly #position: Int32Array;
  readonly #load: Float64Array;
  readonly #lastPicked: Float64Array;
  #length = 0;
  #picks: number;

  constructor(pool: InstancePool, isMember: (index: number) => boolean) {
    const n = pool.size;
    this.#isMember = isMember;
    this.#active = pool.active;
    this.#weight = pool.weight;
    this.#heap = new Int32Array(n);
    this.#position = new Int32Array(n).fill(-1);
    this.#load = new Float64Array(n);
    this.#lastPicked = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      this.#lastPicked[i] = i;
      this.sync(i);
    }
    this.#picks = n;
  }

  sync(index: number): void {
    const at = this.#position[index];
    if (!this.#isMember(index)) {
      if (at >= 0) this.#remove(at);
      return;
    }
    const load = this.#active[index] / this.#weight[index];
    if (at < 0) {
      this.#load[index] = load;
      const end = this.#length++;
      this.#place(index, end);
      this.#up(end);
    } else if (load !== this.#load[index]) {
      const lighter = load < this.#load[index];
      this.#load[index] = load;
      if (lighter) this.#up(at);
      else this.#down(at);
    }
  }

  /** The least loaded member, or -1; it moves behind its equals. */
  pick(): number {
    if (this.#length === 0) return -1;
    const top = this.#heap[0];
    this.#lastPicked[top] = this.#picks++;
    this.#down(0);
    return top;
  }

  #before(a: number, b: number) {
    const la = this.#load[a];
    const lb = this.#load[b];
    return la < lb || (la === lb && this.#lastPicked[a] < this.#lastPicked[b]);
  }

  #place(index: number, at: number) {
    this.#heap[at] = index;
    this.#position[index] = at;
  }

  #remove(at: number) {
    const gone = this.#heap[at];
    this.#position[gone] = -1;
    const last = --this.#length;
    if (at === last) return;
    const moved = this.#heap[last];
    this.#place(moved, at);
    if (at > 0 && this.#before(moved, this.#heap[(at - 1) >> 1])) this.#up(at);
    else this.#down(at);
  }

  #up(from: number) {
    const heap = this.#heap;
    const item = heap[from];
    let at = from;
    while (at > 0) {
      const parent = (at - 1) >> 1;
      if (!this.#before(item, heap[parent])) break;
      this.#place(heap[parent], at);
      at = parent;
    }
    this.#place(item, at);
  }

  #down(from: number) {
    const heap = this.#heap;
    const length = this.#length;
    const item = heap[from];
    let at = from;
    for (;;) {
      let child = 2 * at + 1;
      if (child >= length) break;
      if (child + 1 < length && this.#before(heap[child + 1], heap[child])) {
        child++;
      }
      if (!this.#before(heap[child], item)) break;
      this.#place(heap[child], at);
      at = child;
    }
    this.#place(item, at);
  }
}

/**
 * Least connections, weight-aware: the instance with the lowest
 * activeConnections / weight, equal loads taking turns. The counts come from
 * whoever updates the pool (the proxy); picking does not change them.
 */
export class LeastConnections implements Strategy {
  readonly #pool: InstancePool;
  readonly #normal: LeastLoadedQueue;
  #panic: LeastLoadedQueue | undefined;

  constructor(pool: InstancePool) {
    this.#pool = pool;
    const { eligible } = pool;
    this.#normal = new LeastLoadedQueue(pool, i => eligible[i] === 1);
    pool.subscribe(this.#normal);
  }

  pick(_client: unknown, panic: boolean): number {
    return panic ? this.#panicQueue().pick() : this.#normal.pick();
  }

  // built on the first panic, since most services never panic
  #panicQueue() {
    if (!this.#panic) {
      const { candidate } = this.#pool;
      this.#panic = new LeastLoadedQueue(this.#pool, i => candidate[i] === 1);
      this.#pool.subscribe(this.#panic);
    }
    return this.#panic;
  }
}
