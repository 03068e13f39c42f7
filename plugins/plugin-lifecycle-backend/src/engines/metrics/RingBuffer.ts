/**
 * A fixed number of the latest items: pushing past the capacity drops the
 * oldest. Memory is bounded by the capacity whatever the rate of pushes.
 */
export class RingBuffer<T> {
  readonly #items: Array<T | undefined>;
  /** Where the next item goes. */
  #next = 0;
  #size = 0;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new RangeError(`capacity must be a positive integer: ${capacity}`);
    }
    this.#items = new Array(capacity);
  }

  get size(): number {
    return this.#size;
  }

  push(item: T): void {
    this.#items[this.#next] = item;
    this.#next = (this.#next + 1) % this.capacity;
    this.#size = Math.min(this.#size + 1, this.capacity);
  }

  /** The newest item, if any. */
  last(): T | undefined {
    if (this.#size === 0) return undefined;
    return this.#items[(this.#next - 1 + this.capacity) % this.capacity];
  }

  /** The items, oldest first. */
  toArray(): T[] {
    const start = (this.#next - this.#size + this.capacity) % this.capacity;
    const out: T[] = [];
    for (let i = 0; i < this.#size; i++) {
      out.push(this.#items[(start + i) % this.capacity] as T);
    }
    return out;
  }
}
