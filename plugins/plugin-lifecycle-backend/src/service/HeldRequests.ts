import { CustomErrorBase } from '@backstage/errors';

/** The app-config section of the caps. */
export const HELD_REQUESTS_KEY = 'pluginLifecycle.heldRequests';

/**
 * Too many requests at once: answered 429 by Backstage's error handler,
 * which takes the status from `statusCode`.
 *
 * @public
 */
export class TooManyRequestsError extends CustomErrorBase {
  name = 'TooManyRequestsError' as const;
  readonly statusCode = 429;
}

/**
 * Options of {@link HeldRequests.create}.
 *
 * @public
 */
export interface HeldRequestsOptions {
  /** Held requests (long-polls, event streams) one caller may have open. */
  maxPerCaller: number;
  /** Held requests this replica keeps open for all callers together. */
  maxTotal: number;
}

/**
 * Counts the requests a replica holds open (configuration long-polls and
 * event streams, operation waits) per caller and in all. Each holds a
 * socket, a timer and some memory for up to minutes, so past a cap a new
 * one is refused at once with a 429 instead of being queued.
 *
 * @public
 */
export class HeldRequests {
  readonly #options: HeldRequestsOptions;
  readonly #byCaller = new Map<string, number>();
  #total = 0;

  static create(options: HeldRequestsOptions): HeldRequests {
    return new HeldRequests(options);
  }

  private constructor(options: HeldRequestsOptions) {
    this.#options = options;
  }

  /** Held requests now open, in all. */
  get total(): number {
    return this.#total;
  }

  /** Held requests now open for one caller. */
  heldBy(caller: string): number {
    return this.#byCaller.get(caller) ?? 0;
  }

  /**
   * Takes a slot for a held request of `caller`; returns its release (safe
   * to call more than once).
   *
   * @throws TooManyRequestsError - past either cap, naming the key to raise
   */
  acquire(caller: string): () => void {
    const mine = this.heldBy(caller);
    if (mine >= this.#options.maxPerCaller) {
      throw new TooManyRequestsError(
        `Too many held requests (long-polls, watches) of this caller: ${mine} open, at most ${
          this.#options.maxPerCaller
        } (${HELD_REQUESTS_KEY}.maxPerCaller); close one or poll without waiting`,
      );
    }
    if (this.#total >= this.#options.maxTotal) {
      throw new TooManyRequestsError(
        `Too many held requests (long-polls, watches) on this backend: ${
          this.#total
        } open, at most ${
          this.#options.maxTotal
        } (${HELD_REQUESTS_KEY}.maxTotal); retry later or poll without waiting`,
      );
    }
    this.#byCaller.set(caller, mine + 1);
    this.#total++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#total--;
      const left = this.heldBy(caller) - 1;
      if (left > 0) this.#byCaller.set(caller, left);
      else this.#byCaller.delete(caller);
    };
  }
}
