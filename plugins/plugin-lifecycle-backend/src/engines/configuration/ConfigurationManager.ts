import { NotFoundError } from '@backstage/errors';
import {
  ConfigDiff,
  ConfigVersion,
  ConfigVersionSummary,
  ConfigWatchResult,
  ConfigWritePreview,
  ConfigWriteResult,
  ConfigurationEntry,
  EffectiveConfiguration,
} from '@internal/plugin-lifecycle-common';
import { ConfigStore, StoredConfigVersion } from '../../database/ConfigStore';
import { PluginRecord } from '../../database/PluginStore';
import { SystemEvents } from '../../events/SystemEvents';
import { ALL_TENANTS, inTenantScope, TenantScope } from '../../domain/tenancy';
import { ConfigHistory } from './ConfigHistory';
import { ConfigLayout } from './ConfigLayout';
import { ConfigResolver, effectiveView } from './ConfigResolver';
import { ConfigSealer } from './ConfigSealer';
import { ConfigValidator } from './ConfigValidator';
import { ConfigWatches } from './ConfigWatches';
import { ConfigWriter } from './ConfigWriter';
import { PluginRef, PluginRefCache } from './PluginRefCache';
import { SecretKeyRing } from './SecretKeyRing';
import {
  Access,
  ConfigRollbackOptions,
  ConfigurationManagerOptions,
  ConfigWaitOptions,
  ConfigWriteOptions,
  LayerChange,
  ResolvedConfiguration,
  RestoredLayer,
} from './types';

export type {
  ConfigChanged,
  ConfigRollbackOptions,
  ConfigurationManagerOptions,
  ConfigWaitOptions,
  ConfigWriteOptions,
  LayerChange,
  ResolvedConfiguration,
  RestoredLayer,
} from './types';

/**
 * Short: a read on this replica may see a plugin another replica removed or
 * moved to another tenant for this long (this replica hears of its own
 * changes at once, but only configuration changes travel between replicas).
 */
const PLUGIN_CACHE_TTL_MS = 5_000;

/**
 * Versioned configuration per plugin and layer (`base`, then one layer per
 * environment over it), with schema validation, secrets sealed with
 * AES-256-GCM, history with diff and rollback, watches that reach every
 * replica, and an in-memory cache of effective configurations.
 *
 * The coordinator and public API: it checks layer names and the caller's
 * access, then hands the work to its parts: {@link ConfigSealer} (secrets),
 * {@link ConfigWriter} and {@link ConfigValidator} (writes),
 * {@link ConfigHistory} (versions, diffs, rollback), {@link ConfigResolver}
 * (effective configurations) and {@link ConfigWatches} (changes reaching
 * this replica, watchers).
 */
export class ConfigurationManager {
  readonly #events: SystemEvents;
  readonly #store: ConfigStore;
  readonly #layout: ConfigLayout;
  readonly #sealer: ConfigSealer;
  readonly #resolver: ConfigResolver;
  readonly #watches: ConfigWatches;
  readonly #validator: ConfigValidator;
  readonly #writer: ConfigWriter;
  readonly #history: ConfigHistory;
  readonly #plugins: PluginRefCache;
  readonly #onStateChanged = (change: { pluginId?: string }) =>
    this.forgetPlugin(change?.pluginId);

  private constructor(options: ConfigurationManagerOptions) {
    this.#events = options.events;
    const store = ConfigStore.create({ db: options.db });
    const layout = new ConfigLayout(options);
    const sealer = new ConfigSealer({ store, keyRing: options.keyRing });
    const shared = { ...options, store, layout, sealer };
    this.#store = store;
    this.#layout = layout;
    this.#sealer = sealer;
    this.#resolver = new ConfigResolver(shared);
    this.#watches = new ConfigWatches({ ...shared, resolver: this.#resolver });
    this.#validator = new ConfigValidator(shared);
    this.#writer = new ConfigWriter({
      ...shared,
      validator: this.#validator,
      resolver: this.#resolver,
      watches: this.#watches,
    });
    this.#history = new ConfigHistory({
      ...shared,
      validator: this.#validator,
      writer: this.#writer,
    });
    this.#plugins = new PluginRefCache({
      load: pluginId => options.getPlugin(pluginId, ALL_TENANTS),
      ttlMs: options.pluginCacheTtlMs ?? PLUGIN_CACHE_TTL_MS,
      now: options.now,
    });
    // Installs, uninstalls and updates on this replica go through the state
    // machine: drop what reads keep of the plugin at once.
    options.events.on('stateMachine:stateChanged', this.#onStateChanged);
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
    await manager.#watches.start();
    return manager;
  }

  /** `base` and the configured environments. */
  get layers(): string[] {
    return this.#layout.layers;
  }

  get environments(): string[] {
    return [...this.#layout.environments];
  }

  get defaultEnvironment(): string {
    return this.#layout.defaultEnvironment;
  }

  /** Fails unless the key ring opens every stored secret. */
  async verifyKeys(): Promise<void> {
    await this.#sealer.verifyKeys();
  }

  // --- writes --------------------------------------------------------------

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
    return this.#writer.write(
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
    return this.#writer.write(pluginId, { mode: 'replace', entries }, options);
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
    return this.#writer.preview(pluginId, change, options);
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
    return this.#writer.revert(plugin, layer, toVersion, reason, options);
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
    this.#validator.assertStorable(pluginId, entries, schema);
  }

  // --- history -------------------------------------------------------------

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
    return this.#history.restoreAtRevision(
      plugin,
      this.#layout.environment(environment),
      revision,
      meta,
    );
  }

  /**
   * Writes the content of an earlier version as the newest version; a layer
   * that already holds it is left alone (`changed: false`).
   */
  async rollback(
    pluginId: string,
    layerName: string,
    toVersion: number,
    options: ConfigRollbackOptions = {},
  ): Promise<ConfigWriteResult> {
    const layer = this.#layout.layer(layerName);
    return this.#history.rollback(pluginId, layer, toVersion, options);
  }

  async listVersions(
    pluginId: string,
    layerName: string,
    options: Access = {},
  ): Promise<ConfigVersionSummary[]> {
    const layer = this.#layout.layer(layerName);
    const plugin = await this.#readPlugin(pluginId, options.scope);
    return this.#history.listVersions(plugin.id, layer);
  }

  async getVersion(
    pluginId: string,
    layerName: string,
    versionNumber: number,
    options: Access = {},
  ): Promise<ConfigVersion> {
    const layer = this.#layout.layer(layerName);
    const plugin = await this.#readPlugin(pluginId, options.scope);
    return this.#history.getVersion(
      plugin.id,
      layer,
      versionNumber,
      options.reveal,
    );
  }

  /** What changed between two versions of a layer; secrets never shown. */
  async diffVersions(
    pluginId: string,
    layerName: string,
    from: number,
    to: number,
    options: Access = {},
  ): Promise<ConfigDiff> {
    const layer = this.#layout.layer(layerName);
    const plugin = await this.#readPlugin(pluginId, options.scope);
    return this.#history.diffVersions(plugin.id, layer, from, to);
  }

  // --- resolution ----------------------------------------------------------

  /**
   * The effective configuration of a plugin in an environment, with the
   * layer each value comes from; `at` reads it as it was at a past time.
   */
  async getEffectiveConfiguration(
    pluginId: string,
    environment: string,
    options: Access & { at?: string } = {},
  ): Promise<EffectiveConfiguration> {
    const env = this.#layout.environment(environment);
    const plugin = await this.#readPlugin(pluginId, options.scope);
    const resolved = options.at
      ? await this.#resolver.resolveAt(plugin.id, env, options.at)
      : await this.#resolver.resolve(plugin.id, env);
    return effectiveView(plugin.id, resolved, options.reveal, options.at);
  }

  /**
   * The plaintext effective configuration, for the instances of the plugin.
   * Cached until a change to either layer reaches this replica.
   */
  resolve(
    pluginId: string,
    environment: string,
  ): Promise<ResolvedConfiguration> {
    return this.#resolver.resolve(pluginId, environment);
  }

  /** The plaintext effective configuration as of a past revision. */
  async resolveAtRevision(
    pluginId: string,
    environment: string,
    revision: number,
  ): Promise<ResolvedConfiguration> {
    return this.#resolver.resolveAt(pluginId, environment, undefined, revision);
  }

  // --- watches -------------------------------------------------------------

  /** Open configuration watches and long-polls on this replica (a metric). */
  watcherCount(): number {
    return this.#watches.watcherCount;
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
    const env = this.#layout.environment(environment);
    return this.#watches.watch(pluginId, env, key, callback, options);
  }

  /**
   * Long-poll: answers at once when the configuration is already past
   * `afterRevision` (or its environment layer past `afterVersion`), else at
   * the next change, else when `timeoutMs` runs out (`changed: false`).
   */
  async waitForChange(
    pluginId: string,
    environment: string,
    options: Access & ConfigWaitOptions,
  ): Promise<ConfigWatchResult> {
    const env = this.#layout.environment(environment);
    const plugin = await this.#readPlugin(pluginId, options.scope);
    return this.#watches.waitForChange(plugin.id, env, options);
  }

  // --- lifetime and the other parts of this folder -------------------------

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
    this.#events.off('stateMachine:stateChanged', this.#onStateChanged);
    await this.#watches.stop();
    this.#plugins.forget();
  }

  /** The store, for export/import and maintenance in this folder. */
  get store(): ConfigStore {
    return this.#store;
  }

  /** The key ring, for export/import and maintenance in this folder. */
  get keyRing(): SecretKeyRing {
    return this.#sealer.keyRing;
  }

  /** Opens every sealed value of a stored version: plaintext entries. */
  openVersion(version: StoredConfigVersion): ConfigurationEntry[] {
    return this.#sealer.openAll(version);
  }

  /** Appends a version of plaintext entries (sealing secrets) and announces it. */
  async appendPlain(
    plugin: PluginRecord,
    layer: string,
    entries: ConfigurationEntry[],
    meta: { author?: string; description?: string },
  ): Promise<StoredConfigVersion> {
    const version = await this.#writer.append(plugin, layer, entries, meta);
    await this.#writer.afterWrite(plugin, layer, version, {
      actor: meta.author,
    });
    return version;
  }

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
}
