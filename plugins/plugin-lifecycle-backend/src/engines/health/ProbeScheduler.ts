/**
 * Options of {@link ProbeScheduler}.
 */
export interface ProbeSchedulerOptions<T> {
  /** Runs one item; the scheduler never reschedules it on its own. */
  run: (item: T) => Promise<void>;
  /** Runs at most this many items at once; due items wait for a slot. */
  maxConcurrent: number;
  /** The clock due times are in (ms). */
  now: () => number;
  /**
   * Starts at most this many runs per turn of the event loop, then lets
   * other work in before starting more (a burst of due items is spread over
   * several turns instead of holding the loop). Defaults to 64.
   */
  maxStartsPerTurn?: number;
  /**
   * Items due within this many ms of now start together, so a few thousand
   * items spread over a second wake the scheduler every few ms rather than
   * for each item. Defaults to 2.
   */
  slackMs?: number;
  /** Called with what a run threw (a run should not throw). */
  onError?: (error: unknown, item: T) => void;
}

interface Entry<T> {
  dueAt: number;
  item: T;
  seq: number;
}

/**
 * Runs items when they are due: a binary min-heap of due times with one
 * timer for the earliest, and a bound on concurrent runs. Scheduling and
 * starting cost O(log n), so it holds tens of thousands of items that come
 * due every second. Rescheduling an item replaces its pending run
 * (superseded heap entries are skipped when they surface).
 */
export class ProbeScheduler<T extends object> {
  readonly #run: (item: T) => Promise<void>;
  readonly #maxConcurrent: number;
  readonly #now: () => number;
  readonly #maxStartsPerTurn: number;
  readonly #slackMs: number;
  readonly #onError?: (error: unknown, item: T) => void;
  readonly #heap: Entry<T>[] = [];
  /** The live heap entry of each pending item. */
  readonly #pending = new Map<T, number>();
  readonly #running = new Set<T>();
  readonly #idle: Array<() => void> = [];
  #seq = 0;
  #timer?: NodeJS.Timeout;
  #timerAt = Infinity;
  #immediate?: NodeJS.Immediate;
  #stopped = false;
  #started = 0;

  constructor(options: ProbeSchedulerOptions<T>) {
    this.#run = options.run;
    this.#maxConcurrent = Math.max(1, options.maxConcurrent);
    this.#now = options.now;
    this.#maxStartsPerTurn = Math.max(1, options.maxStartsPerTurn ?? 64);
    this.#slackMs = Math.max(0, options.slackMs ?? 2);
    this.#onError = options.onError;
  }

  /** Items waiting for their time. */
  get pending(): number {
    return this.#pending.size;
  }

  /** Items running now. */
  get running(): number {
    return this.#running.size;
  }

  /** Runs started so far. */
  get started(): number {
    return this.#started;
  }

  isPending(item: T): boolean {
    return this.#pending.has(item);
  }

  isRunning(item: T): boolean {
    return this.#running.has(item);
  }

  /** Runs the item at `dueAt` (replacing a pending run of it). */
  schedule(item: T, dueAt: number): void {
    if (this.#stopped) return;
    const seq = ++this.#seq;
    this.#pending.set(item, seq);
    this.#push({ dueAt, item, seq });
    if (dueAt < this.#timerAt) this.#arm();
  }

  /** Drops a pending run of the item; a running one finishes. */
  unschedule(item: T): void {
    this.#pending.delete(item);
  }

  /** Stops starting runs and resolves once those running have finished. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    if (this.#immediate) clearImmediate(this.#immediate);
    this.#pending.clear();
    this.#heap.length = 0;
    if (this.#running.size === 0) return;
    await new Promise<void>(resolve => this.#idle.push(resolve));
  }

  #arm() {
    const head = this.#peek();
    if (!head) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
      this.#timerAt = Infinity;
      return;
    }
    if (
      this.#running.size >= this.#maxConcurrent &&
      head.dueAt <= this.#now() + this.#slackMs
    ) {
      // Due but no slot free: the next run to finish starts it.
      clearTimeout(this.#timer);
      this.#timer = undefined;
      this.#timerAt = Infinity;
      return;
    }
    if (this.#timer && this.#timerAt <= head.dueAt) return;
    clearTimeout(this.#timer);
    this.#timerAt = head.dueAt;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#timerAt = Infinity;
      this.#pump();
    }, Math.max(0, head.dueAt - this.#now()));
    this.#timer.unref?.();
  }

  #pump() {
    this.#immediate = undefined;
    if (this.#stopped) return;
    const horizon = this.#now() + this.#slackMs;
    let starts = 0;
    while (this.#running.size < this.#maxConcurrent) {
      const head = this.#peek();
      if (!head || head.dueAt > horizon) break;
      if (starts >= this.#maxStartsPerTurn) {
        this.#immediate ??= setImmediate(() => this.#pump());
        return;
      }
      this.#pop();
      const { item } = head;
      if (this.#running.has(item)) {
        // Still running from before: try again once it may have finished.
        this.schedule(item, horizon + 1);
        continue;
      }
      this.#pending.delete(item);
      starts++;
      this.#start(item);
    }
    this.#arm();
  }

  #start(item: T) {
    this.#running.add(item);
    this.#started++;
    let promise: Promise<void>;
    try {
      promise = this.#run(item);
    } catch (error) {
      promise = Promise.reject(error);
    }
    promise
      .catch(error => this.#onError?.(error, item))
      .finally(() => {
        this.#running.delete(item);
        if (this.#stopped) {
          if (this.#running.size === 0) {
            this.#idle.splice(0).forEach(resolve => resolve());
          }
          return;
        }
        // A slot is free: start whatever became due meanwhile.
        const head = this.#peek();
        if (head && head.dueAt <= this.#now() + this.#slackMs) {
          this.#immediate ??= setImmediate(() => this.#pump());
        } else if (head && !this.#timer) {
          this.#arm();
        }
      });
  }

  /** The earliest live entry, dropping superseded ones on the way. */
  #peek(): Entry<T> | undefined {
    while (this.#heap.length) {
      const head = this.#heap[0];
      if (this.#pending.get(head.item) === head.seq) return head;
      this.#pop();
    }
    return undefined;
  }

  #push(entry: Entry<T>) {
    const heap = this.#heap;
    heap.push(entry);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (heap[parent].dueAt <= entry.dueAt) break;
      heap[i] = heap[parent];
      i = parent;
    }
    heap[i] = entry;
  }

  #pop(): Entry<T> | undefined {
    const heap = this.#heap;
    const top = heap[0];
    const last = heap.pop();
    if (heap.length && last) {
      let i = 0;
      const n = heap.length;
      for (;;) {
        const left = 2 * i + 1;
        if (left >= n) break;
        const right = left + 1;
        const child =
          right < n && heap[right].dueAt < heap[left].dueAt ? right : left;
        if (heap[child].dueAt >= last.dueAt) break;
        heap[i] = heap[child];
        i = child;
      }
      heap[i] = last;
    }
    return top;
  }
}
