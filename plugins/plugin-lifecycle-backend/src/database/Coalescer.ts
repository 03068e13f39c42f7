type Pending<I, O> = {
  item: I;
  resolve: (value: O) => void;
  reject: (error: unknown) => void;
};

/**
 * Group commit for single statements: requests made while statements are on
 * their way go out together as one statement (one round trip, one commit)
 * once one of them is back; a request made when fewer than `maxInFlight`
 * are on their way goes out at the end of the current event loop turn, with
 * whatever else that turn asked for. So an idle backend adds no delay, and a
 * busy one pays for one round trip per group instead of one per request.
 *
 * Two requests with the same key never go out at the same time (they may
 * depend on each other). A statement the server refuses for a group is
 * retried request by request, so that one bad request fails alone (the
 * statements are single, atomic ones: a refused one changed nothing).
 */
export class Coalescer<I, O> {
  readonly #run: (items: I[]) => Promise<O[]>;
  readonly #key?: (item: I) => string;
  readonly #maxBatch: number;
  readonly #maxInFlight: number;
  #pending: Array<Pending<I, O>> = [];
  #inFlight = 0;
  readonly #inFlightKeys = new Set<string>();
  #scheduled = false;

  constructor(options: {
    run: (items: I[]) => Promise<O[]>;
    /** Requests with the same key go out one after the other. */
    key?: (item: I) => string;
    maxBatch?: number;
    maxInFlight?: number;
  }) {
    this.#run = options.run;
    this.#key = options.key;
    this.#maxBatch = options.maxBatch ?? 200;
    this.#maxInFlight = options.maxInFlight ?? 2;
  }

  submit(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.#pending.push({ item, resolve, reject });
      this.#schedule();
    });
  }

  #schedule() {
    if (
      this.#scheduled ||
      this.#inFlight >= this.#maxInFlight ||
      this.#pending.length === 0
    ) {
      return;
    }
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      this.#flush();
    });
  }

  #flush() {
    if (this.#inFlight >= this.#maxInFlight) return;
    const batch: Array<Pending<I, O>> = [];
    const rest: Array<Pending<I, O>> = [];
    const keys = new Set<string>();
    for (const entry of this.#pending) {
      const key = this.#key?.(entry.item);
      if (
        batch.length >= this.#maxBatch ||
        (key !== undefined && (keys.has(key) || this.#inFlightKeys.has(key)))
      ) {
        rest.push(entry);
      } else {
        if (key !== undefined) keys.add(key);
        batch.push(entry);
      }
    }
    this.#pending = rest;
    if (batch.length === 0) return; // all wait for a request with their key
    this.#inFlight += 1;
    for (const key of keys) this.#inFlightKeys.add(key);
    this.#execute(batch).finally(() => {
      this.#inFlight -= 1;
      for (const key of keys) this.#inFlightKeys.delete(key);
      this.#schedule();
    });
  }

  async #execute(batch: Array<Pending<I, O>>) {
    try {
      const results = await this.#run(batch.map(e => e.item));
      batch.forEach((e, i) => e.resolve(results[i]));
    } catch (error) {
      if (batch.length === 1 || !isStatementError(error)) {
        // Alone, or the connection failed and nobody knows whether the
        // statement ran: every request gets the error, as it would alone.
        for (const e of batch) e.reject(error);
        return;
      }
      // The server refused the statement, and it is atomic: nothing of it
      // happened. Alone, each request gets its own answer.
      for (const e of batch) {
        try {
          e.resolve((await this.#run([e.item]))[0]);
        } catch (e2) {
          e.reject(e2);
        }
      }
    }
  }
}

/**
 * An error the database server gave for a statement (a SQLSTATE, not one of
 * connection exceptions): the statement did not happen.
 */
function isStatementError(error: unknown): boolean {
  const code = (error as { code?: unknown })?.code;
  return (
    typeof code === 'string' &&
    /^[0-9A-Z]{5}$/.test(code) &&
    !code.startsWith('08')
  );
}
