import { LoggerService } from '@backstage/backend-plugin-api';
import { ConflictError, InputError, NotFoundError } from '@backstage/errors';
import {
  CONFIG_BASE_LAYER,
  CONFIG_SECRET_MASK,
  ConfigDiff,
  ConfigVersion,
  ConfigVersionSummary,
  ConfigWatchResult,
  ConfigWritePreview,
  ConfigWriteResult,
  ConfigurationEntry,
  EffectiveConfigEntry,
  EffectiveConfiguration,
  configurationEntrySchema,
  validationMessage,
} from '@internal/plugin-lifecycle-common';
import { Knex } from 'knex';
import { z } from 'zod';
import {
  CONFIG_NOTIFY_CHANNEL,
  ConfigChange,
  ConfigStore,
  StoredConfigEntry,
  StoredConfigVersion,
} from '../../database/ConfigStore';
import { PluginRecord } from '../../database/PluginStore';
import {
  ConfigLayer,
  ConfigProblem,
  configDocument,
  diffEntries,
  droppedRequiredKeys,
  isSecretEntry,
  maskEntries,
  mergeLayers,
  patchLayer,
  sameLayerContent,
  validateAgainstSchema,
  validateEntries,
} from '../../domain/configuration';
import { SystemEvents } from '../../events/SystemEvents';
import { ALL_TENANTS, inTenantScope, TenantScope } from '../../domain/tenancy';
import { RevisionFeed } from '../RevisionFeed';
import { PluginRef, PluginRefCache } from './PluginRefCache';
import {
  SEALED_FORMAT,
  SealedSecret,
  sealedFormat,
  SecretKeyRing,
} from './SecretKeyRing';

/** Plaintext effective configuration, as instances get it. */
export interface ResolvedConfiguration {
  environment: string;
  revision: number;
  /** The latest version of each layer (0: none). */
  versions: { base: number; environment: number };
  entries: EffectiveConfigEntry[];
}

/** A layer written back by {@link ConfigurationManager.restoreAtRevision}. */
export interface RestoredLayer {
  layer: string;
  version: number;
  revision: number;
  /** The layer's latest version before (0: none). */
  previousVersion: number;
}

/** A change written here, for the hook that brings it to running instances. */
export interface ConfigChanged {
  plugin: PluginRecord;
  layer: string;
  version: StoredConfigVersion;
  actor?: string;
}

/** What a write does to a layer: replace its content, or merge keys into it. */
export type LayerChange =
  | { mode: 'replace'; entries: ConfigurationEntry[] }
  | { mode: 'merge'; entries: ConfigurationEntry[]; remove?: string[] };

/** Options of a configuration write. */
export interface ConfigWriteOptions {
  /** The layer: `base` or an environment (default: the default environment). */
  environment?: string;
  userId?: string;
  description?: string;
  /** Check-and-set: ConflictError unless the layer is at this version. */
  expectedVersion?: number;
  scope?: TenantScope;
  /** The schema to hold entries to when the plugin has no version yet. */
  schema?: Record<string, unknown>;
  /** False: store only; running instances are not told (install). */
  applyToInstances?: boolean;
}

interface WritePlan {
  plugin: PluginRecord;
  layer: string;
  previous?: StoredConfigVersion;
  /** The layer's content now, plaintext (none: no version yet). */
  current: ConfigurationEntry[];
  /** The layer's content after the write, plaintext. */
  next: ConfigurationEntry[];
  changed: boolean;
}

export interface ConfigurationManagerOptions {
  db: Knex;
  logger: LoggerService;
  keyRing: SecretKeyRing;
  events: SystemEvents;
  environments: string[];
  defaultEnvironment: string;
  maxVersionHistory: number;
  pollIntervalMs: number;
  /**
   * The plugin if the scope may see it; NotFoundError otherwise. Reads ask
   * with {@link ALL_TENANTS}, keep the plugin's id and tenant for
   * `pluginCacheTtlMs` and check the caller's scope against that tenant.
   */
  getPlugin: (pluginId: string, scope: TenantScope) => Promise<PluginRecord>;
  /**
   * How long reads keep a plugin's id and tenant without looking it up
   * again (default 5 s; 0: look it up on every read). Changes on this
   * replica drop it at once; this bounds how long a change made elsewhere
   * (another replica uninstalling it or moving it to another tenant) goes
   * unseen by this replica's reads.
   */
  pluginCacheTtlMs?: number;
  /** The clock of that cache (tests). */
  now?: () => number;
  /** The JSON Schema of the plugin's configuration, from its manifest. */
  getSchema: (
    plugin: PluginRecord,
  ) => Promise<Record<string, unknown> | undefined>;
  /** Brings a change to a running plugin; returns the operation id, if any. */
  onChanged?: (change: ConfigChanged) => Promise<string | undefined>;
}

interface Access {
  scope?: TenantScope;
  /** Show secret values in plaintext (the caller was allowed to). */
  reveal?: boolean;
}

type Watcher = {
  key?: string;
  reveal: boolean;
  lastRevision: number;
  lastValue?: string;
  callback: (configuration: EffectiveConfiguration) => void;
};

const WATCH_DEFAULT_TIMEOUT_MS = 30_000;

/**
 * Short: a read on this replica may see a plugin another replica removed or
 * moved to another tenant for this long (this replica hears of its own
 * changes at once, but only configuration changes travel between replicas).
 */
const PLUGIN_CACHE_TTL_MS = 5_000;

function cacheKey(pluginId: string, environment: string) {
  return `${pluginId}\u0000${environment}`;
}

function keyValue(resolved: ResolvedConfiguration, key?: string) {
  if (key === undefined) return undefined;
  const entry = resolved.entries.find(e => e.key === key);
  return entry ? JSON.stringify(entry.value) : undefined;
}

function stripUndefined<T extends object>(value: T): T {
  return Object.fromEntries(
    Object.entries(value).filter(([, v]) => v !== undefined),
  ) as T;
}

/**
 * Versioned configuration per plugin and layer (`base`, then one layer per
 * environment over it), with schema validation, secrets sealed with
 * AES-256-GCM, history with diff and rollback, watches that reach every
 * replica, and an in-memory cache of effective configurations.
 */
export class ConfigurationManager {
  readonly #o: ConfigurationManagerOptions;
  readonly #store: ConfigStore;
  readonly #feed: RevisionFeed<ConfigChange>;
  readonly #cache = new Map<string, Promise<ResolvedConfiguration>>();
  readonly #watchers = new Map<string, Set<Watcher>>();
  readonly #plugins: PluginRefCache;
  readonly #onStateChanged = (change: { pluginId?: string }) =>
    this.forgetPlugin(change?.pluginId);

  private constructor(options: ConfigurationManagerOptions) {
    this.#o = options;
    this.#store = ConfigStore.create({ db: options.db });
    this.#plugins = new PluginRefCache({
      load: pluginId => options.getPlugin(pluginId, ALL_TENANTS),
      ttlMs: options.pluginCacheTtlMs ?? PLUGIN_CACHE_TTL_MS,
      now: options.now,
    });
    // Installs, uninstalls and updates on this replica go through the state
    // machine: drop what reads keep of the plugin at once.
    options.events.on('stateMachine:stateChanged', this.#onStateChanged);
    this.#feed = new RevisionFeed<ConfigChange>({
      db: options.db,
      log: this.#store,
      channel: CONFIG_NOTIFY_CHANNEL,
      what: 'configuration',
      logger: options.logger,
      pollIntervalMs: options.pollIntervalMs,
      onChanges: changes => changes.forEach(change => this.#changed(change)),
    });
  }

  /**
   * Creates the manager after checking that the key ring opens every stored
   * secret: a missing or wrong key stops the backend with a clear message
   * instead of failing later or sealing with the wrong key.
   */
  static async create(
    options: ConfigurationManagerOptions,
  ): Promise<ConfigurationManager> {
    const manager = new ConfigurationManager(options);
    await manager.verifyKeys();
    await manager.#feed.start(await manager.#store.maxRevision());
    return manager;
  }

  /** `base` and the configured environments. */
  get layers(): string[] {
    return [CONFIG_BASE_LAYER, ...this.#o.environments];
  }

  get environments(): string[] {
    return [...this.#o.environments];
  }

  get defaultEnvironment(): string {
    return this.#o.defaultEnvironment;
  }

  async verifyKeys(): Promise<void> {
    const inUse = await this.#store.keyIdsInUse();
    const missing = [...inUse.keys()].filter(k => !this.#o.keyRing.hasKey(k));
    if (missing.length > 0) {
      throw new Error(
        `Stored configuration secrets are sealed with key(s) ${missing
          .map(k => `'${k}'`)
          .join(
            ', ',
          )} that pluginLifecycle.configuration.encryption.keys does not have; add them back (a key can be retired only after its secrets were re-sealed)`,
      );
    }
    for (const [kid, version] of inUse) {
      const entry = version.entries.find(
        e => SecretKeyRing.isSealed(e.value) && e.value.kid === kid,
      );
      if (!entry) continue;
      try {
        this.#open(version, entry);
      } catch {
        throw new Error(
          `Configuration key '${kid}' does not open the secrets stored with it (checked ${version.pluginId}/${version.layer} version ${version.version}); pluginLifecycle.configuration.encryption.keys has a different secret under that id`,
        );
      }
    }
  }

  /**
   * Sets keys of one layer of a plugin's configuration and leaves its other
   * keys as they are (the call of the original design): each entry replaces
   * the one with its key, `remove` drops keys. Validated in full (types,
   * required keys, the plugin's JSON Schema) before anything is stored,
   * secrets sealed, check-and-set with `expectedVersion`. A change that
   * leaves the layer as it is stores nothing and answers its latest version
   * with `changed: false`.
   */
  async setPluginConfiguration(
    pluginId: string,
    entries: ConfigurationEntry[],
    options: ConfigWriteOptions & {
      /** Keys to remove; a required key cannot be removed. */
      remove?: string[];
    } = {},
  ): Promise<ConfigWriteResult> {
    return this.#write(
      pluginId,
      { mode: 'merge', entries, remove: options.remove },
      options,
    );
  }

  /**
   * Replaces the whole content of one layer (`PUT`): keys left out are
   * removed, but a write that would leave a key marked required absent from
   * the effective configuration is refused (InputError naming the keys).
   * Otherwise as {@link ConfigurationManager.setPluginConfiguration}.
   */
  async replacePluginConfiguration(
    pluginId: string,
    entries: ConfigurationEntry[],
    options: ConfigWriteOptions & {
      /**
       * The entries are a new start (an install's configuration): keys
       * marked required before may go.
       */
      allowDroppingRequired?: boolean;
    } = {},
  ): Promise<ConfigWriteResult> {
    return this.#write(pluginId, { mode: 'replace', entries }, options);
  }

  /**
   * What a write would do, checked as the write would be (400, 404, 409
   * alike), with nothing stored, announced or applied: the layer's content
   * after it, the diff and each effective configuration it feeds, secrets
   * masked.
   */
  async previewPluginConfiguration(
    pluginId: string,
    change: LayerChange,
    options: Omit<ConfigWriteOptions, 'applyToInstances'> = {},
  ): Promise<ConfigWritePreview> {
    const plan = await this.#plan(pluginId, change, options);
    const current = plan.previous?.version ?? 0;
    const to = plan.changed ? current + 1 : current;
    return {
      dryRun: true,
      pluginId: plan.plugin.id,
      layer: plan.layer,
      currentVersion: current,
      changed: plan.changed,
      entries: maskEntries(plan.next),
      diff: diffEntries(plan.current, plan.next, { from: current, to }),
      effective: await this.#previewEffective(plan, to),
    };
  }

  /**
   * Undoes a change that running instances could not take: writes the
   * layer's content as of `toVersion` (nothing, for 0) as a new version
   * without bringing it to instances, which already run with it again.
   */
  async revertLayer(
    plugin: PluginRecord,
    layer: string,
    toVersion: number,
    reason: string,
    options: { author?: string } = {},
  ): Promise<StoredConfigVersion> {
    const target =
      toVersion > 0
        ? await this.#versionOrThrow(plugin.id, layer, toVersion)
        : undefined;
    const version = await this.#append(
      plugin,
      layer,
      target ? this.#openAll(target) : [],
      {
        author: options.author ?? 'plugin-lifecycle:configure',
        description: reason,
        rolledBackFrom: toVersion > 0 ? toVersion : undefined,
      },
    );
    await this.#afterWrite(plugin, layer, version, { apply: false });
    return version;
  }

  /**
   * Writes each layer a plugin in an environment uses (`base` and the
   * environment) back to its content as of a past revision, as new
   * versions; a layer whose content is already that is left alone. The
   * writes are not brought to running instances: the caller (a rollback of
   * an update) starts instances with them itself.
   *
   * @returns the layers written, with the version each had before, for
   *   undoing them with {@link ConfigurationManager.revertLayer}.
   */
  async restoreAtRevision(
    plugin: PluginRecord,
    environment: string,
    revision: number,
    meta: { author?: string; description: string },
  ): Promise<RestoredLayer[]> {
    const layers = [CONFIG_BASE_LAYER, this.#environment(environment)];
    const planned = [];
    // Everything is read and checked before anything is written.
    for (const layer of layers) {
      const [target, current] = await Promise.all([
        this.#store.latest(plugin.id, layer, undefined, revision),
        this.#store.latest(plugin.id, layer),
      ]);
      if (!target && current) {
        const earliest = await this.#store.earliestVersionNumber(
          plugin.id,
          layer,
        );
        if (earliest > 1) {
          throw new ConflictError(
            `Configuration '${layer}' of plugin '${plugin.id}' as of revision ${revision} is no longer kept (versions before ${earliest} were pruned, see maxVersionHistory)`,
          );
        }
      }
      const entries = target ? this.#openAll(target) : [];
      const now = current ? this.#openAll(current) : [];
      if (JSON.stringify(entries) === JSON.stringify(now)) continue;
      planned.push({ layer, entries, target, previous: current?.version ?? 0 });
    }
    const restored: RestoredLayer[] = [];
    for (const { layer, entries, target, previous } of planned) {
      const version = await this.#append(plugin, layer, entries, {
        author: meta.author,
        description: meta.description,
        rolledBackFrom: target?.version,
      });
      await this.#afterWrite(plugin, layer, version, {
        actor: meta.author,
        apply: false,
      });
      restored.push({
        layer,
        version: version.version,
        revision: version.revision,
        previousVersion: previous,
      });
    }
    return restored;
  }

  /** The plaintext effective configuration as of a past revision. */
  async resolveAtRevision(
    pluginId: string,
    environment: string,
    revision: number,
  ): Promise<ResolvedConfiguration> {
    return this.#resolve(pluginId, environment, undefined, revision);
  }

  /**
   * Checks entries that are about to be stored for a plugin that may not
   * exist yet (an install): every problem is reported before anything is
   * created.
   */
  assertStorable(
    pluginId: string,
    entries: ConfigurationEntry[],
    schema?: Record<string, unknown>,
  ) {
    const problems = [
      ...validateEntries(entries),
      ...(schema
        ? validateAgainstSchema(configDocument(entries), schema).filter(
            // The base layer may hold what is required.
            p => !/required/i.test(p.message),
          )
        : []),
    ];
    if (problems.length > 0) {
      throw new InputError(
        `Invalid configuration for '${pluginId}': ${problems
          .map(p => `${p.key}: ${p.message}`)
          .join('; ')}`,
      );
    }
    this.#assertCanSeal(entries);
  }

  /** Writes the content of an earlier version as the newest version. */
  async rollback(
    pluginId: string,
    layerName: string,
    toVersion: number,
    options: {
      userId?: string;
      description?: string;
      expectedVersion?: number;
      scope?: TenantScope;
    } = {},
  ): Promise<ConfigWriteResult> {
    const layer = this.#layer(layerName);
    const plugin = await this.#o.getPlugin(
      pluginId,
      options.scope ?? ALL_TENANTS,
    );
    const target = await this.#versionOrThrow(plugin.id, layer, toVersion);
    const plain = this.#openAll(target);
    await this.#validate(plugin, layer, plain);
    const version = await this.#append(plugin, layer, plain, {
      author: options.userId,
      description:
        options.description ?? `rollback to version ${target.version}`,
      expectedVersion: options.expectedVersion,
      rolledBackFrom: target.version,
    });
    const operationId = await this.#afterWrite(plugin, layer, version, {
      actor: options.userId,
    });
    return { version: this.#summary(version), changed: true, operationId };
  }

  /**
   * The effective configuration of a plugin in an environment, with the
   * layer each value comes from; `at` reads it as it was at a past time.
   */
  async getEffectiveConfiguration(
    pluginId: string,
    environment: string,
    options: Access & { at?: string } = {},
  ): Promise<EffectiveConfiguration> {
    const env = this.#environment(environment);
    const plugin = await this.#readPlugin(pluginId, options.scope);
    const resolved = options.at
      ? await this.#resolve(plugin.id, env, options.at)
      : await this.resolve(plugin.id, env);
    return this.#view(plugin.id, resolved, options.reveal, options.at);
  }

  /**
   * The plaintext effective configuration, for the instances of the plugin.
   * Cached until a change to either layer reaches this replica.
   */
  resolve(
    pluginId: string,
    environment: string,
  ): Promise<ResolvedConfiguration> {
    const key = cacheKey(pluginId, environment);
    let cached = this.#cache.get(key);
    if (!cached) {
      cached = this.#resolve(pluginId, environment);
      this.#cache.set(key, cached);
      cached.catch(() => this.#cache.delete(key));
    }
    return cached;
  }

  async listVersions(
    pluginId: string,
    layerName: string,
    options: Access = {},
  ): Promise<ConfigVersionSummary[]> {
    const layer = this.#layer(layerName);
    const plugin = await this.#readPlugin(pluginId, options.scope);
    const versions = await this.#store.list(plugin.id, layer);
    return versions.map(v => this.#summary(v, v.entryCount));
  }

  async getVersion(
    pluginId: string,
    layerName: string,
    versionNumber: number,
    options: Access = {},
  ): Promise<ConfigVersion> {
    const layer = this.#layer(layerName);
    const plugin = await this.#readPlugin(pluginId, options.scope);
    const version = await this.#versionOrThrow(plugin.id, layer, versionNumber);
    const plain = this.#openAll(version);
    return {
      ...this.#summary(version),
      entries: options.reveal ? plain : maskEntries(plain),
    };
  }

  /** What changed between two versions of a layer; secrets never shown. */
  async diffVersions(
    pluginId: string,
    layerName: string,
    from: number,
    to: number,
    options: Access = {},
  ): Promise<ConfigDiff> {
    const layer = this.#layer(layerName);
    const plugin = await this.#readPlugin(pluginId, options.scope);
    const [a, b] = await Promise.all([
      this.#versionOrThrow(plugin.id, layer, from),
      this.#versionOrThrow(plugin.id, layer, to),
    ]);
    return diffEntries(this.#openAll(a), this.#openAll(b), { from, to });
  }

  /**
   * Calls `callback` with the new effective configuration whenever it
   * changes (on this or another replica); with a `key`, only when that key's
   * value changes. Secret values are masked unless `reveal` is set. Returns
   * the function that stops watching.
   */
  watchConfiguration(
    pluginId: string,
    environment: string,
    key: string | undefined,
    callback: (configuration: EffectiveConfiguration) => void,
    options: { reveal?: boolean } = {},
  ): () => void {
    const env = this.#environment(environment);
    const watchKey = cacheKey(pluginId, env);
    const watcher: Watcher = {
      key,
      reveal: options.reveal ?? false,
      lastRevision: -1,
      callback,
    };
    let set = this.#watchers.get(watchKey);
    if (!set) {
      set = new Set();
      this.#watchers.set(watchKey, set);
    }
    set.add(watcher);
    // Remember the current state so the first call is a real change.
    this.resolve(pluginId, env)
      .then(resolved => {
        if (watcher.lastRevision === -1) {
          watcher.lastRevision = resolved.revision;
          watcher.lastValue = keyValue(resolved, key);
        }
      })
      .catch(() => {});
    return () => {
      set!.delete(watcher);
      if (set!.size === 0) this.#watchers.delete(watchKey);
    };
  }

  /**
   * Long-poll: answers at once when the configuration is already past
   * `afterRevision` (or its environment layer past `afterVersion`), else at
   * the next change, else when `timeoutMs` runs out (`changed: false`).
   */
  async waitForChange(
    pluginId: string,
    environment: string,
    options: Access & {
      afterRevision?: number;
      afterVersion?: number;
      key?: string;
      timeoutMs?: number;
      signal?: AbortSignal;
    },
  ): Promise<ConfigWatchResult> {
    const env = this.#environment(environment);
    const plugin = await this.#readPlugin(pluginId, options.scope);
    const current = await this.resolve(plugin.id, env);
    const passed = (r: ResolvedConfiguration) =>
      (options.afterRevision !== undefined &&
        r.revision > options.afterRevision) ||
      (options.afterVersion !== undefined &&
        r.versions.environment > options.afterVersion);
    if (passed(current)) {
      return {
        changed: true,
        configuration: this.#view(plugin.id, current, options.reveal),
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
        this.resolve(plugin.id, env).then(
          r =>
            resolve({
              changed,
              configuration: this.#view(plugin.id, r, options.reveal),
            }),
          () =>
            resolve({
              changed,
              configuration: this.#view(plugin.id, current, options.reveal),
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
      unwatch = this.watchConfiguration(
        plugin.id,
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

  /**
   * Drops what reads keep of a plugin (of every plugin without an id), for
   * a change to it that does not go through the state machine, such as a
   * move to another tenant.
   */
  forgetPlugin(pluginId?: string) {
    this.#plugins.forget(pluginId);
  }

  /** Stops reading other replicas' changes and drops every watcher. */
  async shutdown() {
    this.#o.events.off('stateMachine:stateChanged', this.#onStateChanged);
    await this.#feed.stop();
    this.#watchers.clear();
    this.#plugins.forget();
  }

  /** The store, for export/import and maintenance in this folder. */
  get store(): ConfigStore {
    return this.#store;
  }

  /** The key ring, for export/import and maintenance in this folder. */
  get keyRing(): SecretKeyRing {
    return this.#o.keyRing;
  }

  /** Opens every sealed value of a stored version: plaintext entries. */
  openVersion(version: StoredConfigVersion): ConfigurationEntry[] {
    return this.#openAll(version);
  }

  /** Appends a version of plaintext entries (sealing secrets) and announces it. */
  async appendPlain(
    plugin: PluginRecord,
    layer: string,
    entries: ConfigurationEntry[],
    meta: { author?: string; description?: string },
  ): Promise<StoredConfigVersion> {
    const version = await this.#append(plugin, layer, entries, meta);
    await this.#afterWrite(plugin, layer, version, { actor: meta.author });
    return version;
  }

  // --- internals -----------------------------------------------------------

  /**
   * The plugin for a read: its id and tenant, kept in memory for a short
   * while (see {@link PluginRefCache}), and the caller's scope checked on
   * every read, kept or not: another tenant's plugin is not found.
   */
  async #readPlugin(
    pluginId: string,
    scope: TenantScope = ALL_TENANTS,
  ): Promise<PluginRef> {
    const plugin = await this.#plugins.get(pluginId);
    if (!inTenantScope(scope, plugin.tenant)) {
      throw new NotFoundError(`No plugin with id '${pluginId}'`);
    }
    return plugin;
  }

  #layer(name: string): string {
    if (!this.layers.includes(name)) {
      throw new InputError(
        `Unknown configuration environment '${name}'; known: ${this.layers.join(
          ', ',
        )}`,
      );
    }
    return name;
  }

  #environment(name: string): string {
    if (!this.#o.environments.includes(name)) {
      throw new InputError(
        `Unknown environment '${name}'; known: ${this.#o.environments.join(
          ', ',
        )}`,
      );
    }
    return name;
  }

  #assertCanSeal(entries: ConfigurationEntry[]) {
    if (!this.#o.keyRing.hasKeys && entries.some(isSecretEntry)) {
      throw new InputError(
        `Secret and sensitive configuration values are stored encrypted, and this backend has no encryption key: set pluginLifecycle.configuration.encryption.keys`,
      );
    }
  }

  async #versionOrThrow(pluginId: string, layer: string, version: number) {
    const found = await this.#store.get(pluginId, layer, version);
    if (!found) {
      throw new NotFoundError(
        `Configuration '${layer}' of plugin '${pluginId}' has no version ${version}`,
      );
    }
    return found;
  }

  /**
   * A secret sent back masked (a form that never saw the value) keeps the
   * value the previous version stored under the same key.
   */
  #keepMaskedSecrets(
    entries: ConfigurationEntry[],
    previous: StoredConfigVersion | undefined,
  ): ConfigurationEntry[] {
    return entries.map(entry => {
      if (!isSecretEntry(entry) || entry.value !== CONFIG_SECRET_MASK) {
        return entry;
      }
      const stored = previous?.entries.find(e => e.key === entry.key);
      if (!stored || !SecretKeyRing.isSealed(stored.value)) {
        throw new InputError(
          `Configuration entry '${entry.key}' is masked but no earlier value is stored to keep; give the value`,
        );
      }
      return { ...entry, value: this.#open(previous!, stored) };
    });
  }

  async #write(
    pluginId: string,
    change: LayerChange,
    options: ConfigWriteOptions & { allowDroppingRequired?: boolean },
  ): Promise<ConfigWriteResult> {
    // Without the caller's expectedVersion, the write is still based on the
    // version it read: a concurrent write makes it read and merge again
    // instead of one of the two being lost.
    for (let attempt = 1; ; attempt++) {
      const plan = await this.#plan(pluginId, change, options);
      if (!plan.changed) {
        return { version: this.#summary(plan.previous!), changed: false };
      }
      let version: StoredConfigVersion;
      try {
        version = await this.#append(plan.plugin, plan.layer, plan.next, {
          author: options.userId,
          description: options.description,
          expectedVersion:
            options.expectedVersion ?? plan.previous?.version ?? 0,
        });
      } catch (error) {
        if (
          options.expectedVersion === undefined &&
          error instanceof ConflictError &&
          attempt < 5
        ) {
          continue;
        }
        throw error;
      }
      const operationId = await this.#afterWrite(
        plan.plugin,
        plan.layer,
        version,
        {
          actor: options.userId,
          apply: options.applyToInstances ?? true,
        },
      );
      return { version: this.#summary(version), changed: true, operationId };
    }
  }

  /**
   * Everything a write decides before storing: the layer's content after it
   * (plaintext), checked in full, and whether it differs from what is
   * stored. A layer without a version differs from any content, even none,
   * so a first write always makes version 1.
   */
  async #plan(
    pluginId: string,
    change: LayerChange,
    options: ConfigWriteOptions & { allowDroppingRequired?: boolean },
  ): Promise<WritePlan> {
    const parsed = z.array(configurationEntrySchema).safeParse(change.entries);
    if (!parsed.success) {
      throw new InputError(
        `Invalid configuration entries: ${validationMessage(parsed.error)}`,
      );
    }
    const layer = this.#layer(options.environment ?? this.defaultEnvironment);
    const plugin = await this.#o.getPlugin(
      pluginId,
      options.scope ?? ALL_TENANTS,
    );
    const previous = await this.#store.latest(plugin.id, layer);
    const have = previous?.version ?? 0;
    if (
      options.expectedVersion !== undefined &&
      have !== options.expectedVersion
    ) {
      throw new ConflictError(
        `Configuration '${layer}' of plugin '${plugin.id}' is at version ${have}, not the expected ${options.expectedVersion}; read it again and retry`,
      );
    }
    const current = previous ? this.#openAll(previous) : [];
    const given = this.#keepMaskedSecrets(parsed.data, previous);
    const next =
      change.mode === 'replace'
        ? given
        : patchLayer(current, { entries: given, remove: change.remove });
    const dropped =
      change.mode === 'merge' || !options.allowDroppingRequired
        ? await this.#droppedRequired(plugin.id, layer, current, next)
        : [];
    await this.#validate(plugin, layer, next, options.schema, dropped);
    const changed = !previous || !sameLayerContent(current, next);
    return { plugin, layer, previous, current, next, changed };
  }

  /**
   * Keys marked required in an effective configuration the layer feeds that
   * the new content would leave out of it. A base write is held to every
   * environment (one without a layer of its own gets the base alone).
   */
  async #droppedRequired(
    pluginId: string,
    layer: string,
    before: ConfigurationEntry[],
    after: ConfigurationEntry[],
  ): Promise<string[]> {
    const dropped = new Set<string>();
    const check = (others: ConfigurationEntry[], isBase: boolean) => {
      const merge = (entries: ConfigurationEntry[]) =>
        mergeLayers(
          isBase
            ? [
                { layer, version: 0, entries },
                { layer: 'other', version: 0, entries: others },
              ]
            : [
                { layer: 'other', version: 0, entries: others },
                { layer, version: 0, entries },
              ],
        );
      droppedRequiredKeys(merge(before), merge(after)).forEach(k =>
        dropped.add(k),
      );
    };
    if (layer === CONFIG_BASE_LAYER) {
      check([], true);
      for (const env of this.#o.environments) {
        const stored = await this.#store.latest(pluginId, env);
        if (stored) check(this.#openAll(stored), true);
      }
    } else {
      const base = await this.#store.latest(pluginId, CONFIG_BASE_LAYER);
      check(base ? this.#openAll(base) : [], false);
    }
    return [...dropped].sort();
  }

  /** The effective configurations a planned write would make. */
  async #previewEffective(
    plan: WritePlan,
    toVersion: number,
  ): Promise<EffectiveConfiguration[]> {
    const isBase = plan.layer === CONFIG_BASE_LAYER;
    const written = {
      layer: plan.layer,
      version: toVersion,
      entries: plan.next,
    };
    const result: EffectiveConfiguration[] = [];
    for (const env of isBase ? this.#o.environments : [plan.layer]) {
      const other = await this.#store.latest(
        plan.plugin.id,
        isBase ? env : CONFIG_BASE_LAYER,
      );
      const otherLayer = other && {
        layer: other.layer,
        version: other.version,
        entries: this.#openAll(other),
      };
      const layers = isBase ? [written, otherLayer] : [otherLayer, written];
      const resolved: ResolvedConfiguration = {
        environment: env,
        // Nothing is written: the revision stays the current one.
        revision: Math.max(plan.previous?.revision ?? 0, other?.revision ?? 0),
        versions: {
          base: isBase ? toVersion : other?.version ?? 0,
          environment: isBase ? other?.version ?? 0 : toVersion,
        },
        entries: mergeLayers(
          layers.filter((l): l is ConfigLayer => Boolean(l)),
        ),
      };
      result.push(this.#view(plan.plugin.id, resolved, false));
    }
    return result;
  }

  async #validate(
    plugin: PluginRecord,
    layer: string,
    entries: ConfigurationEntry[],
    fallbackSchema?: Record<string, unknown>,
    droppedRequired: string[] = [],
  ) {
    const problems: ConfigProblem[] = [
      ...droppedRequired.map(key => ({
        key,
        message: 'is required and this write would remove it',
      })),
      ...validateEntries(entries),
    ];
    if (problems.length === droppedRequired.length) {
      const schema = (await this.#o.getSchema(plugin)) ?? fallbackSchema;
      if (schema) {
        // A dropped key the schema requires too is reported once.
        const named = new Set(droppedRequired);
        problems.push(
          ...(
            await this.#schemaProblems(plugin, layer, entries, schema)
          ).filter(p => !named.has(p.key)),
        );
      }
    }
    if (problems.length > 0) {
      throw new InputError(
        `Invalid configuration for '${plugin.id}' (${layer}): ${problems
          .map(p => `${p.key}: ${p.message}`)
          .join('; ')}`,
      );
    }
  }

  /**
   * The plugin's schema holds for what instances would get: the base layer
   * merged with an environment. A base write is checked against every
   * environment that has a layer; alone, it may leave required keys to them.
   */
  async #schemaProblems(
    plugin: PluginRecord,
    layer: string,
    entries: ConfigurationEntry[],
    schema: Record<string, unknown>,
  ): Promise<ConfigProblem[]> {
    const candidate = { layer, version: 0, entries };
    const isBase = layer === CONFIG_BASE_LAYER;
    const checks = [];
    for (const other of isBase ? this.#o.environments : [CONFIG_BASE_LAYER]) {
      const stored = await this.#store.latest(plugin.id, other);
      if (!stored) continue;
      const layerOfOther = {
        layer: other,
        version: stored.version,
        entries: this.#openAll(stored),
      };
      checks.push(
        isBase ? [candidate, layerOfOther] : [layerOfOther, candidate],
      );
    }
    const alone = checks.length === 0;
    if (alone) checks.push([candidate]);
    const problems = new Map<string, ConfigProblem>();
    for (const layers of checks) {
      const document = configDocument(mergeLayers(layers));
      for (const p of validateAgainstSchema(document, schema)) {
        // The base layer alone may leave required keys to the environments.
        if (isBase && alone && /required/i.test(p.message)) continue;
        problems.set(`${p.key}\u0000${p.message}`, p);
      }
    }
    return [...problems.values()];
  }

  async #append(
    plugin: PluginRecord,
    layer: string,
    entries: ConfigurationEntry[],
    meta: {
      author?: string;
      description?: string;
      expectedVersion?: number;
      rolledBackFrom?: number;
    },
  ): Promise<StoredConfigVersion> {
    this.#assertCanSeal(entries);
    const keyIds: string[] = [];
    const sealed: StoredConfigEntry[] = entries.map(entry => {
      if (!isSecretEntry(entry)) return stripUndefined(entry);
      const value = this.#o.keyRing.seal(
        JSON.stringify(entry.value),
        sealContext(plugin.id, layer, entry, SEALED_FORMAT),
      );
      keyIds.push(value.kid);
      return stripUndefined({ ...entry, value });
    });
    const version = await this.#store.append({
      pluginId: plugin.id,
      layer,
      entries: sealed,
      keyIds,
      ...meta,
    });
    await this.#store.prune(plugin.id, layer, this.#o.maxVersionHistory);
    return version;
  }

  async #afterWrite(
    plugin: PluginRecord,
    layer: string,
    version: StoredConfigVersion,
    options: { actor?: string; apply?: boolean },
  ): Promise<string | undefined> {
    this.#feed.announced(version.revision);
    this.#changed(version);
    await this.#feed.notify();
    this.#o.events.publish('configuration', 'changed', {
      pluginId: plugin.id,
      layer,
      version: version.version,
      revision: version.revision,
      author: options.actor,
      keys: version.entries.map(e => e.key),
    });
    if (options.apply === false) return undefined;
    return this.#o.onChanged?.({
      plugin,
      layer,
      version,
      actor: options.actor,
    });
  }

  /** A layer changed here or on another replica: refresh caches and watchers. */
  #changed(change: ConfigChange) {
    const environments =
      change.layer === CONFIG_BASE_LAYER
        ? this.#o.environments
        : [change.layer];
    for (const env of environments) {
      const key = cacheKey(change.pluginId, env);
      this.#cache.delete(key);
      const watchers = this.#watchers.get(key);
      if (watchers?.size) this.#deliver(change.pluginId, env, watchers);
    }
  }

  #deliver(pluginId: string, env: string, watchers: Set<Watcher>) {
    this.resolve(pluginId, env)
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
            ? (revealed ??= this.#view(pluginId, resolved, true))
            : (masked ??= this.#view(pluginId, resolved, false));
          try {
            watcher.callback(view);
          } catch (error) {
            this.#o.logger.warn(
              `a configuration watcher of ${pluginId}/${env} failed: ${error}`,
            );
          }
        }
      })
      .catch(error =>
        this.#o.logger.warn(
          `resolving the configuration of ${pluginId}/${env} failed: ${error}`,
        ),
      );
  }

  async #resolve(
    pluginId: string,
    environment: string,
    at?: string,
    maxRevision?: number,
  ): Promise<ResolvedConfiguration> {
    const [base, env] = await Promise.all([
      this.#store.latest(pluginId, CONFIG_BASE_LAYER, at, maxRevision),
      this.#store.latest(pluginId, environment, at, maxRevision),
    ]);
    const layers = [base, env]
      .filter((v): v is StoredConfigVersion => Boolean(v))
      .map(v => ({
        layer: v.layer,
        version: v.version,
        entries: this.#openAll(v),
      }));
    return {
      environment,
      revision: Math.max(base?.revision ?? 0, env?.revision ?? 0),
      versions: { base: base?.version ?? 0, environment: env?.version ?? 0 },
      entries: mergeLayers(layers),
    };
  }

  #view(
    pluginId: string,
    resolved: ResolvedConfiguration,
    reveal?: boolean,
    at?: string,
  ): EffectiveConfiguration {
    return {
      pluginId,
      environment: resolved.environment,
      version: resolved.versions.environment,
      baseVersion: resolved.versions.base,
      revision: resolved.revision,
      entries: reveal ? resolved.entries : maskEntries(resolved.entries),
      ...(at ? { at } : {}),
    };
  }

  #summary(v: StoredConfigVersion, entryCount?: number): ConfigVersionSummary {
    return {
      pluginId: v.pluginId,
      layer: v.layer,
      version: v.version,
      revision: v.revision,
      author: v.author,
      description: v.description,
      createdAt: v.createdAt,
      rolledBackFrom: v.rolledBackFrom,
      entryCount: entryCount ?? v.entries.length,
    };
  }

  #openAll(version: StoredConfigVersion): ConfigurationEntry[] {
    return version.entries.map(entry =>
      SecretKeyRing.isSealed(entry.value)
        ? { ...entry, value: this.#open(version, entry) }
        : (entry as ConfigurationEntry),
    );
  }

  #open(version: StoredConfigVersion, entry: StoredConfigEntry): unknown {
    const sealed = entry.value as SealedSecret;
    const plaintext = this.#o.keyRing.open(
      sealed,
      sealContext(version.pluginId, version.layer, entry, sealedFormat(sealed)),
    );
    return JSON.parse(plaintext);
  }
}

/**
 * What a sealed value is bound to (GCM additional data): a ciphertext copied
 * to another plugin, layer or key does not open. From format 2 on it also
 * covers the entry's `type` and `sensitive`: a stored secret whose row is
 * edited to `type: string` (which the API would show unmasked) does not open.
 * Format 1 envelopes (written before) keep their old context and are
 * re-sealed in format 2 by the maintenance task.
 */
export function sealContext(
  pluginId: string,
  layer: string,
  entry: Pick<StoredConfigEntry, 'key' | 'type' | 'sensitive'>,
  format: 1 | 2,
) {
  const base = `${pluginId}\n${layer}\n${entry.key}`;
  if (format === 1) return base;
  return `${base}\ntype=${entry.type}\nsensitive=${entry.sensitive === true}`;
}
