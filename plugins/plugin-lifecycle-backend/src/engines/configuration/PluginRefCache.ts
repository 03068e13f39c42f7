/** What a configuration read needs of a plugin record. */
export interface PluginRef {
  id: string;
  tenant: string;
}

type Entry = {
  ref: Promise<PluginRef>;
  expiresAt: number;
  /** The plugin's id once loaded (the key is the id as asked for). */
  id?: string;
};

/** More entries than this and expired ones are swept out, then the oldest. */
const MAX_ENTRIES = 10_000;

/**
 * The id and tenant of plugins that exist, so that a configuration read
 * does not look the plugin up in the database each time. Only plugins that
 * were found are kept: a failed lookup (no such plugin, a database error)
 * is forgotten at once, so a missing plugin is never taken as existing.
 *
 * An entry lives `ttlMs` at most. Changes made on this replica drop it at
 * once ({@link forget}); the time limit is for what this replica does not
 * hear of: a plugin uninstalled, or moved to another tenant, by another
 * replica (only configuration changes travel between replicas), or a row
 * changed in the database directly.
 */
export class PluginRefCache {
  readonly #load: (pluginId: string) => Promise<PluginRef>;
  readonly #ttlMs: number;
  readonly #now: () => number;
  readonly #entries = new Map<string, Entry>();

  constructor(options: {
    load: (pluginId: string) => Promise<PluginRef>;
    ttlMs: number;
    now?: () => number;
  }) {
    this.#load = options.load;
    this.#ttlMs = options.ttlMs;
    this.#now = options.now ?? Date.now;
  }

  /** The plugin, from memory while fresh; rejects as `load` does. */
  get(pluginId: string): Promise<PluginRef> {
    const now = this.#now();
    const found = this.#entries.get(pluginId);
    if (found && found.expiresAt > now) return found.ref;
    if (found) this.#entries.delete(pluginId);
    if (this.#ttlMs <= 0) return this.#slim(this.#load(pluginId));
    const entry: Entry = {
      ref: this.#slim(this.#load(pluginId)),
      expiresAt: now + this.#ttlMs,
    };
    this.#entries.set(pluginId, entry);
    this.#bound(now);
    entry.ref.then(
      ref => {
        entry.id = ref.id;
      },
      () => {
        // Only this entry: a newer one may have taken its place.
        if (this.#entries.get(pluginId) === entry) {
          this.#entries.delete(pluginId);
        }
      },
    );
    return entry.ref;
  }

  /** Drops what is kept of a plugin (asked for by any id), or of all. */
  forget(pluginId?: string) {
    if (pluginId === undefined) {
      this.#entries.clear();
      return;
    }
    for (const [key, entry] of this.#entries) {
      if (key === pluginId || entry.id === pluginId) this.#entries.delete(key);
    }
  }

  get size(): number {
    return this.#entries.size;
  }

  /** Keeps only the id and tenant: not a copy of the whole record. */
  #slim(loading: Promise<PluginRef>): Promise<PluginRef> {
    return loading.then(p => ({ id: p.id, tenant: p.tenant }));
  }

  #bound(now: number) {
    if (this.#entries.size <= MAX_ENTRIES) return;
    for (const [key, entry] of this.#entries) {
      if (entry.expiresAt <= now) this.#entries.delete(key);
    }
    for (const key of this.#entries.keys()) {
      if (this.#entries.size <= MAX_ENTRIES) break;
      this.#entries.delete(key);
    }
  }
}
