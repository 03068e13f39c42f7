import { LoggerService } from '@backstage/backend-plugin-api';
import { Knex } from 'knex';
import {
  SERVICES_NOTIFY_CHANNEL,
  ServiceChange,
  ServiceStore,
} from '../../database/ServiceStore';

/** How long a hole in the revisions may wait for its (slower) transaction. */
const GAP_TIMEOUT_MS = 5_000;
const BATCH = 500;

/**
 * Tells this replica about service changes written by any replica, the way
 * the configuration change feed does: it reads the change log by revision
 * at an interval, and on PostgreSQL a NOTIFY (sent on commit of every
 * write) makes it read at once. After each read it runs `onTick`, where
 * discovery looks at what the log does not carry (running plugin
 * instances, a periodic full reload).
 *
 * Revisions come from a sequence, so a transaction that took a lower number
 * may commit after a higher one: a hole holds the cursor until it fills or
 * {@link GAP_TIMEOUT_MS} passes (a rolled-back write). Entries past the
 * cursor that were already applied are not applied again.
 */
export class ServiceChangeFeed {
  readonly #db: Knex;
  readonly #store: ServiceStore;
  readonly #logger: LoggerService;
  readonly #pollIntervalMs: number;
  readonly #onChanges: (changes: ServiceChange[]) => Promise<void>;
  readonly #onTick: () => Promise<void>;
  readonly #now: () => number;
  #cursor = 0;
  readonly #seenAhead = new Set<number>();
  readonly #gapSince = new Map<number, number>();
  #timer?: NodeJS.Timeout;
  #polling?: Promise<void>;
  #again = false;
  #listener?: { end(): Promise<void> | void };
  #stopped = false;

  constructor(options: {
    db: Knex;
    store: ServiceStore;
    logger: LoggerService;
    pollIntervalMs: number;
    onChanges: (changes: ServiceChange[]) => Promise<void>;
    onTick: () => Promise<void>;
    clock?: () => number;
  }) {
    this.#db = options.db;
    this.#store = options.store;
    this.#logger = options.logger;
    this.#pollIntervalMs = options.pollIntervalMs;
    this.#onChanges = options.onChanges;
    this.#onTick = options.onTick;
    this.#now = options.clock ?? Date.now;
  }

  /** The revision up to which every change has been applied. */
  get cursor() {
    return this.#cursor;
  }

  /**
   * Starts from `revision` (read before the initial load, so nothing
   * written during the load is missed), listens and schedules polls.
   */
  async start(revision: number) {
    this.#stopped = false;
    this.#cursor = revision;
    if (this.#db.client.config.client === 'pg') {
      await this.#listen().catch(error =>
        this.#logger.warn(
          `LISTEN ${SERVICES_NOTIFY_CHANNEL} failed, polling only: ${error}`,
        ),
      );
    }
    this.#schedule();
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
          await this.#onTick();
        } while (this.#again && !this.#stopped);
      } catch (error) {
        this.#logger.warn(`reading service changes failed: ${error}`);
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

  #schedule() {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.pollNow().finally(() => this.#schedule());
    }, this.#pollIntervalMs);
    this.#timer.unref();
  }

  async #poll() {
    for (;;) {
      const changes = (
        await this.#store.changesSince(this.#cursor, BATCH)
      ).filter(change => !this.#seenAhead.has(change.revision));
      if (changes.length > 0) {
        await this.#onChanges(changes);
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
    const client = this.#db.client as any;
    const connection = await client.acquireRawConnection();
    connection.on('notification', () => {
      this.pollNow();
    });
    connection.on('error', (error: Error) =>
      this.#logger.warn(`services LISTEN connection: ${error}`),
    );
    await connection.query(`LISTEN ${SERVICES_NOTIFY_CHANNEL}`);
    this.#listener = {
      end: () => client.destroyRawConnection(connection),
    };
  }
}
