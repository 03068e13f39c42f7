import { LoggerService } from '@backstage/backend-plugin-api';
import { Knex } from 'knex';

/** How long a hole in the revisions may wait for its (slower) transaction. */
const GAP_TIMEOUT_MS = 5_000;
const BATCH = 500;

/** A change log ordered by a global revision. */
export interface RevisionLog<T extends { revision: number }> {
  /** Entries after `revision`, oldest first, at most `limit`. */
  changesSince(revision: number, limit: number): Promise<T[]>;
}

/** Options of {@link RevisionFeed}. */
export interface RevisionFeedOptions<T extends { revision: number }> {
  db: Knex;
  log: RevisionLog<T>;
  /** The PostgreSQL channel writers NOTIFY. */
  channel: string;
  /** What the log holds, for log messages ("configuration", "service"). */
  what: string;
  logger: LoggerService;
  pollIntervalMs: number;
  onChanges: (changes: T[]) => Promise<void> | void;
  /** Runs after every read (discovery looks at what the log does not carry). */
  onTick?: () => Promise<void>;
  clock?: () => number;
}

/**
 * Tells this replica about entries any replica wrote to a change log (the
 * configuration versions, the service changes): it reads the log by
 * revision at an interval, and on PostgreSQL a NOTIFY makes every listening
 * replica read at once.
 *
 * Revisions come from a sequence, so a transaction that took a lower number
 * may commit after a higher one: a hole holds the cursor until it fills or
 * {@link GAP_TIMEOUT_MS} passes (a rolled-back write). Entries past the
 * cursor that were already applied, or that this replica wrote and
 * announced itself, are not applied again.
 */
export class RevisionFeed<T extends { revision: number }> {
  readonly #o: RevisionFeedOptions<T>;
  readonly #now: () => number;
  #cursor = 0;
  readonly #seenAhead = new Set<number>();
  readonly #gapSince = new Map<number, number>();
  #timer?: NodeJS.Timeout;
  #polling?: Promise<void>;
  #again = false;
  #listener?: { end(): Promise<void> | void };
  #stopped = false;

  constructor(options: RevisionFeedOptions<T>) {
    this.#o = options;
    this.#now = options.clock ?? Date.now;
  }

  /** The revision up to which every change has been applied. */
  get cursor() {
    return this.#cursor;
  }

  /**
   * Starts from `revision` (read before any initial load, so nothing
   * written during the load is missed), listens and schedules polls.
   */
  async start(revision: number) {
    this.#stopped = false;
    this.#cursor = revision;
    if (this.#isPostgres()) {
      await this.#listen().catch(error =>
        this.#o.logger.warn(
          `LISTEN ${this.#o.channel} failed, polling only: ${error}`,
        ),
      );
    }
    this.#schedule();
  }

  /** Marks a revision this replica wrote and already applied. */
  announced(revision: number) {
    if (revision > this.#cursor) this.#seenAhead.add(revision);
    this.#advance(this.#now());
  }

  /** Sends NOTIFY after a write that did not (PostgreSQL only). */
  async notify() {
    if (!this.#isPostgres()) return;
    await this.#o.db
      .raw(`NOTIFY ${this.#o.channel}`)
      .catch(error => this.#o.logger.debug(`NOTIFY failed: ${error}`));
  }

  /** Reads new changes now (coalesced with a poll in progress). */
  pollNow(): Promise<void> {
    if (this.#polling) {
      this.#again = true;
      return this.#polling;
    }
    this.#polling = (async () => {
      try {
        do {
          this.#again = false;
          await this.#poll();
          await this.#o.onTick?.();
        } while (this.#again && !this.#stopped);
      } catch (error) {
        this.#o.logger.warn(`reading ${this.#o.what} changes failed: ${error}`);
      } finally {
        this.#polling = undefined;
      }
    })();
    return this.#polling;
  }

  async stop() {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#polling;
    await this.#listener?.end();
    this.#listener = undefined;
  }

  #isPostgres() {
    return this.#o.db.client.config.client === 'pg';
  }

  #schedule() {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.pollNow().finally(() => this.#schedule());
    }, this.#o.pollIntervalMs);
    this.#timer.unref();
  }

  async #poll() {
    for (;;) {
      const changes = (
        await this.#o.log.changesSince(this.#cursor, BATCH)
      ).filter(change => !this.#seenAhead.has(change.revision));
      if (changes.length > 0) {
        await this.#o.onChanges(changes);
        for (const change of changes) this.#seenAhead.add(change.revision);
      }
      this.#advance(this.#now());
      if (changes.length < BATCH) return;
    }
  }

  /** Moves the cursor over every revision seen, waiting briefly at holes. */
  #advance(now: number) {
    for (;;) {
      const next = this.#cursor + 1;
      if (this.#seenAhead.delete(next)) {
        this.#gapSince.delete(next);
        this.#cursor = next;
        continue;
      }
      let ahead = false;
      for (const revision of this.#seenAhead) {
        if (revision > next) {
          ahead = true;
          break;
        }
      }
      if (!ahead) return;
      const since = this.#gapSince.get(next) ?? now;
      this.#gapSince.set(next, since);
      if (now - since < GAP_TIMEOUT_MS) return;
      this.#gapSince.delete(next);
      this.#cursor = next;
    }
  }

  async #listen() {
    // A dedicated connection: a pooled one would be handed to other queries.
    const client = this.#o.db.client as any;
    const connection = await client.acquireRawConnection();
    connection.on('notification', () => {
      this.pollNow();
    });
    connection.on('error', (error: Error) =>
      this.#o.logger.warn(`${this.#o.what} LISTEN connection: ${error}`),
    );
    await connection.query(`LISTEN ${this.#o.channel}`);
    this.#listener = {
      end: () => client.destroyRawConnection(connection),
    };
  }
}
