import { LoggerService } from '@backstage/backend-plugin-api';
import { Knex } from 'knex';
import { ConfigChange, ConfigStore } from '../../database/ConfigStore';

/** The PostgreSQL channel a write notifies so other replicas look at once. */
export const CONFIG_NOTIFY_CHANNEL = 'plugin_lifecycle_config';

/** How long a hole in the revisions may wait for its (slower) transaction. */
const GAP_TIMEOUT_MS = 5_000;

/**
 * Tells this replica about configuration versions written by any replica.
 * It reads new rows by revision at an interval; on PostgreSQL a write also
 * sends NOTIFY, which makes every listening replica read at once.
 *
 * Revisions come from a sequence, so a transaction that took a lower number
 * may commit after a higher one: a hole in the revisions holds the cursor
 * until it fills or {@link GAP_TIMEOUT_MS} passes (a rolled-back insert).
 */
export class ConfigChangeFeed {
  readonly #db: Knex;
  readonly #store: ConfigStore;
  readonly #logger: LoggerService;
  readonly #pollIntervalMs: number;
  readonly #onChange: (change: ConfigChange) => void;
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
    store: ConfigStore;
    logger: LoggerService;
    pollIntervalMs: number;
    onChange: (change: ConfigChange) => void;
  }) {
    this.#db = options.db;
    this.#store = options.store;
    this.#logger = options.logger;
    this.#pollIntervalMs = options.pollIntervalMs;
    this.#onChange = options.onChange;
  }

  async start() {
    this.#cursor = await this.#store.maxRevision();
    if (this.#db.client.config.client === 'pg') {
      await this.#listen().catch(error =>
        this.#logger.warn(
          `LISTEN ${CONFIG_NOTIFY_CHANNEL} failed, polling only: ${error}`,
        ),
      );
    }
    this.#schedule();
  }

  /** Marks a revision this replica wrote and already announced. */
  announced(revision: number) {
    if (revision > this.#cursor) this.#seenAhead.add(revision);
    this.#advance(Date.now());
  }

  /** Sends NOTIFY after a write (PostgreSQL only). */
  async notify() {
    if (this.#db.client.config.client !== 'pg') return;
    await this.#db
      .raw(`NOTIFY ${CONFIG_NOTIFY_CHANNEL}`)
      .catch(error => this.#logger.debug(`NOTIFY failed: ${error}`));
  }

  /** Reads new revisions now (coalesced with a poll in progress). */
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
        } while (this.#again && !this.#stopped);
      } catch (error) {
        this.#logger.warn(`reading configuration changes failed: ${error}`);
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
      const changes = await this.#store.changesSince(this.#cursor);
      for (const change of changes) {
        if (this.#seenAhead.has(change.revision)) continue;
        this.#seenAhead.add(change.revision);
        this.#onChange(change);
      }
      this.#advance(Date.now());
      if (changes.length < 500) return;
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
      const ahead = [...this.#seenAhead].some(r => r > next);
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
      this.#logger.warn(`configuration LISTEN connection: ${error}`),
    );
    await connection.query(`LISTEN ${CONFIG_NOTIFY_CHANNEL}`);
    this.#listener = {
      end: () => client.destroyRawConnection(connection),
    };
  }
}
