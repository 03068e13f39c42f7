import { LoggerService } from '@backstage/backend-plugin-api';
import {
  ConfigWatchResult,
  EffectiveConfiguration,
} from '@internal/plugin-lifecycle-common';
import { Knex } from 'knex';
import {
  CONFIG_NOTIFY_CHANNEL,
  ConfigChange,
  ConfigStore,
} from '../../database/ConfigStore';
import { RevisionFeed } from '../RevisionFeed';
import { ConfigLayout } from './ConfigLayout';
import { ConfigResolver, effectiveView } from './ConfigResolver';
import { ConfigWaitOptions, ResolvedConfiguration } from './types';

type Watcher = {
  key?: string;
  reveal: boolean;
  lastRevision: number;
  lastValue?: string;
  callback: (configuration: EffectiveConfiguration) => void;
};

const WATCH_DEFAULT_TIMEOUT_MS = 30_000;

function watchKey(pluginId: string, environment: string) {
  return `${pluginId}\u0000${environment}`;
}

function keyValue(resolved: ResolvedConfiguration, key?: string) {
  if (key === undefined) return undefined;
  const entry = resolved.entries.find(e => e.key === key);
  return entry ? JSON.stringify(entry.value) : undefined;
}

/**
 * Changes to configuration reaching this replica, whether written here or
 * on another replica (read from the change log): each drops the effective
 * configurations it touches from the resolver's memory and reaches the
 * watchers of those configurations, and long-polls wait on them.
 */
export class ConfigWatches {
  readonly #store: ConfigStore;
  readonly #logger: LoggerService;
  readonly #layout: ConfigLayout;
  readonly #resolver: ConfigResolver;
  readonly #feed: RevisionFeed<ConfigChange>;
  readonly #watchers = new Map<string, Set<Watcher>>();

  constructor(options: {
    db: Knex;
    store: ConfigStore;
    logger: LoggerService;
    pollIntervalMs: number;
    layout: ConfigLayout;
    resolver: ConfigResolver;
  }) {
    this.#store = options.store;
    this.#logger = options.logger;
    this.#layout = options.layout;
    this.#resolver = options.resolver;
    this.#feed = new RevisionFeed<ConfigChange>({
      db: options.db,
      log: options.store,
      channel: CONFIG_NOTIFY_CHANNEL,
      what: 'configuration',
      logger: options.logger,
      pollIntervalMs: options.pollIntervalMs,
      onChanges: changes => changes.forEach(change => this.#changed(change)),
    });
  }

  /** Open watches (long-polls included) on this replica. */
  get watcherCount(): number {
    let n = 0;
    for (const set of this.#watchers.values()) n += set.size;
    return n;
  }

  /** Starts reading other replicas' changes after the latest stored one. */
  async start(): Promise<void> {
    await this.#feed.start(await this.#store.maxRevision());
  }

  /** Stops reading other replicas' changes and drops every watcher. */
  async stop(): Promise<void> {
    await this.#feed.stop();
    this.#watchers.clear();
  }

  /**
   * A version was written here: this replica takes it in at once, and the
   * other replicas are told.
   */
  async announce(change: ConfigChange): Promise<void> {
    this.#feed.announced(change.revision);
    this.#changed(change);
    await this.#feed.notify();
  }

  /**
   * Calls `callback` with the new effective configuration whenever it
   * changes; with a `key`, only when that key's value changes. Returns the
   * function that stops watching.
   */
  watch(
    pluginId: string,
    environment: string,
    key: string | undefined,
    callback: (configuration: EffectiveConfiguration) => void,
    options: { reveal?: boolean } = {},
  ): () => void {
    const mapKey = watchKey(pluginId, environment);
    const watcher: Watcher = {
      key,
      reveal: options.reveal ?? false,
      lastRevision: -1,
      callback,
    };
    let set = this.#watchers.get(mapKey);
    if (!set) {
      set = new Set();
      this.#watchers.set(mapKey, set);
    }
    set.add(watcher);
    // Remember the current state so the first call is a real change.
    this.#resolver
      .resolve(pluginId, environment)
      .then(resolved => {
        if (watcher.lastRevision === -1) {
          watcher.lastRevision = resolved.revision;
          watcher.lastValue = keyValue(resolved, key);
        }
      })
      .catch(() => {});
    return () => {
      set!.delete(watcher);
      if (set!.size === 0) this.#watchers.delete(mapKey);
    };
  }

  /**
   * Long-poll: answers at once when the configuration is already past
   * `afterRevision` (or its environment layer past `afterVersion`), else at
   * the next change, else when `timeoutMs` runs out (`changed: false`).
   */
  async waitForChange(
    pluginId: string,
    env: string,
    options: ConfigWaitOptions & { reveal?: boolean },
  ): Promise<ConfigWatchResult> {
    const current = await this.#resolver.resolve(pluginId, env);
    const passed = (r: ResolvedConfiguration) =>
      (options.afterRevision !== undefined &&
        r.revision > options.afterRevision) ||
      (options.afterVersion !== undefined &&
        r.versions.environment > options.afterVersion);
    if (passed(current)) {
      return {
        changed: true,
        configuration: effectiveView(pluginId, current, options.reveal),
      };
    }
    return new Promise<ConfigWatchResult>(resolve => {
      let done = false;
      // Assigned below; finish() only runs after they are.
      let timer: NodeJS.Timeout | undefined = undefined;
      let unwatch: () => void = () => {};
      let onAbort: () => void = () => {};
      const finish = (changed: boolean, c?: EffectiveConfiguration) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        unwatch();
        options.signal?.removeEventListener('abort', onAbort);
        if (c) {
          resolve({ changed, configuration: c });
          return;
        }
        this.#resolver.resolve(pluginId, env).then(
          r =>
            resolve({
              changed,
              configuration: effectiveView(pluginId, r, options.reveal),
            }),
          () =>
            resolve({
              changed,
              configuration: effectiveView(pluginId, current, options.reveal),
            }),
        );
      };
      onAbort = () => finish(false);
      // This replica may learn of a change after the caller did (it read
      // another replica): a change up to what the caller has is not news.
      const isNews = (c: EffectiveConfiguration) =>
        (options.afterRevision === undefined &&
          options.afterVersion === undefined) ||
        (options.afterRevision !== undefined &&
          c.revision > options.afterRevision) ||
        (options.afterVersion !== undefined &&
          c.version > options.afterVersion);
      unwatch = this.watch(
        pluginId,
        env,
        options.key,
        c => {
          if (isNews(c)) finish(true, c);
        },
        { reveal: options.reveal },
      );
      timer = setTimeout(
        () => finish(false),
        options.timeoutMs ?? WATCH_DEFAULT_TIMEOUT_MS,
      );
      options.signal?.addEventListener('abort', onAbort);
      // Aborted before it began waiting (a shutdown under way): answer now.
      if (options.signal?.aborted) finish(false);
    });
  }

  /** A layer changed here or on another replica: refresh caches and watchers. */
  #changed(change: ConfigChange) {
    for (const env of this.#layout.fedBy(change.layer)) {
      this.#resolver.forget(change.pluginId, env);
      const watchers = this.#watchers.get(watchKey(change.pluginId, env));
      if (watchers?.size) this.#deliver(change.pluginId, env, watchers);
    }
  }

  #deliver(pluginId: string, env: string, watchers: Set<Watcher>) {
    this.#resolver
      .resolve(pluginId, env)
      .then(resolved => {
        // One view per kind, shared by every watcher that gets it.
        let masked: EffectiveConfiguration | undefined;
        let revealed: EffectiveConfiguration | undefined;
        for (const watcher of [...watchers]) {
          if (resolved.revision <= watcher.lastRevision) continue;
          watcher.lastRevision = resolved.revision;
          if (watcher.key !== undefined) {
            const value = keyValue(resolved, watcher.key);
            if (value === watcher.lastValue) continue;
            watcher.lastValue = value;
          }
          const view = watcher.reveal
            ? (revealed ??= effectiveView(pluginId, resolved, true))
            : (masked ??= effectiveView(pluginId, resolved, false));
          try {
            watcher.callback(view);
          } catch (error) {
            this.#logger.warn(
              `a configuration watcher of ${pluginId}/${env} failed: ${error}`,
            );
          }
        }
      })
      .catch(error =>
        this.#logger.warn(
          `resolving the configuration of ${pluginId}/${env} failed: ${error}`,
        ),
      );
  }
}
