import { ConflictError, InputError } from '@backstage/errors';
import {
  ConfigWritePreview,
  ConfigWriteResult,
  ConfigurationEntry,
  configurationEntrySchema,
  validationMessage,
} from '@internal/plugin-lifecycle-common';
import { z } from 'zod';
import { ConfigStore, StoredConfigVersion } from '../../database/ConfigStore';
import { PluginRecord } from '../../database/PluginStore';
import {
  diffEntries,
  maskEntries,
  patchLayer,
  sameLayerContent,
} from '../../domain/configuration';
import { SystemEvents } from '../../events/SystemEvents';
import { ALL_TENANTS, TenantScope } from '../../domain/tenancy';
import { ConfigLayout } from './ConfigLayout';
import { ConfigResolver } from './ConfigResolver';
import { ConfigSealer } from './ConfigSealer';
import { ConfigValidator } from './ConfigValidator';
import { ConfigWatches } from './ConfigWatches';
import { versionOrThrow, versionSummary } from './storedVersions';
import { ConfigChanged, ConfigWriteOptions, LayerChange } from './types';

/** Options of a write, with what only replacing writes may ask. */
export type WriteOptions = ConfigWriteOptions & {
  allowDroppingRequired?: boolean;
};

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

/**
 * Versioned writes of a layer: plans a change (merge or replace) and checks
 * it in full, appends it as the layer's next version with check-and-set
 * (secrets sealed, old versions pruned), then announces it and brings it to
 * running instances; and reverts a layer whose change instances could not
 * take.
 */
export class ConfigWriter {
  readonly #store: ConfigStore;
  readonly #sealer: ConfigSealer;
  readonly #validator: ConfigValidator;
  readonly #resolver: ConfigResolver;
  readonly #watches: ConfigWatches;
  readonly #layout: ConfigLayout;
  readonly #events: SystemEvents;
  readonly #maxVersionHistory: number;
  readonly #getPlugin: (
    pluginId: string,
    scope: TenantScope,
  ) => Promise<PluginRecord>;
  readonly #onChanged?: (change: ConfigChanged) => Promise<string | undefined>;

  constructor(options: {
    store: ConfigStore;
    sealer: ConfigSealer;
    validator: ConfigValidator;
    resolver: ConfigResolver;
    watches: ConfigWatches;
    layout: ConfigLayout;
    events: SystemEvents;
    maxVersionHistory: number;
    getPlugin: (pluginId: string, scope: TenantScope) => Promise<PluginRecord>;
    onChanged?: (change: ConfigChanged) => Promise<string | undefined>;
  }) {
    this.#store = options.store;
    this.#sealer = options.sealer;
    this.#validator = options.validator;
    this.#resolver = options.resolver;
    this.#watches = options.watches;
    this.#layout = options.layout;
    this.#events = options.events;
    this.#maxVersionHistory = options.maxVersionHistory;
    this.#getPlugin = options.getPlugin;
    this.#onChanged = options.onChanged;
  }

  /**
   * Writes a change to a layer. Without the caller's `expectedVersion`, the
   * write is still based on the version it read: a concurrent write makes
   * it read and merge again instead of one of the two being lost.
   */
  async write(
    pluginId: string,
    change: LayerChange,
    options: WriteOptions,
  ): Promise<ConfigWriteResult> {
    for (let attempt = 1; ; attempt++) {
      const plan = await this.#plan(pluginId, change, options);
      if (!plan.changed) {
        return { version: versionSummary(plan.previous!), changed: false };
      }
      let version: StoredConfigVersion;
      try {
        version = await this.append(plan.plugin, plan.layer, plan.next, {
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
      const operationId = await this.afterWrite(
        plan.plugin,
        plan.layer,
        version,
        {
          actor: options.userId,
          apply: options.applyToInstances ?? true,
        },
      );
      return { version: versionSummary(version), changed: true, operationId };
    }
  }

  /** What a write would do, checked as it would be, with nothing stored. */
  async preview(
    pluginId: string,
    change: LayerChange,
    options: WriteOptions,
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
      effective: await this.#resolver.preview(
        {
          pluginId: plan.plugin.id,
          layer: plan.layer,
          entries: plan.next,
          revision: plan.previous?.revision ?? 0,
        },
        to,
      ),
    };
  }

  /**
   * Writes the layer's content as of `toVersion` (nothing, for 0) as a new
   * version without bringing it to instances.
   */
  async revert(
    plugin: PluginRecord,
    layer: string,
    toVersion: number,
    reason: string,
    options: { author?: string } = {},
  ): Promise<StoredConfigVersion> {
    const target =
      toVersion > 0
        ? await versionOrThrow(this.#store, plugin.id, layer, toVersion)
        : undefined;
    const version = await this.append(
      plugin,
      layer,
      target ? this.#sealer.openAll(target) : [],
      {
        author: options.author ?? 'plugin-lifecycle:configure',
        description: reason,
        rolledBackFrom: toVersion > 0 ? toVersion : undefined,
      },
    );
    await this.afterWrite(plugin, layer, version, { apply: false });
    return version;
  }

  /**
   * Stores plaintext entries as the layer's next version: secrets sealed,
   * versions past `maxVersionHistory` pruned.
   */
  async append(
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
    const sealed = this.#sealer.seal(plugin.id, layer, entries);
    const version = await this.#store.append({
      pluginId: plugin.id,
      layer,
      entries: sealed.entries,
      keyIds: sealed.keyIds,
      ...meta,
    });
    await this.#store.prune(plugin.id, layer, this.#maxVersionHistory);
    return version;
  }

  /**
   * Makes a stored version known: to this and the other replicas, as a
   * `configurationManager:changed` event and, unless `apply` is false, to running
   * instances (returns that operation's id, if any).
   */
  async afterWrite(
    plugin: PluginRecord,
    layer: string,
    version: StoredConfigVersion,
    options: { actor?: string; apply?: boolean },
  ): Promise<string | undefined> {
    await this.#watches.announce(version);
    this.#events.publish('configurationManager', 'changed', {
      pluginId: plugin.id,
      layer,
      version: version.version,
      revision: version.revision,
      author: options.actor,
      keys: version.entries.map(e => e.key),
    });
    if (options.apply === false) return undefined;
    return this.#onChanged?.({
      plugin,
      layer,
      version,
      actor: options.actor,
    });
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
    options: WriteOptions,
  ): Promise<WritePlan> {
    const parsed = z.array(configurationEntrySchema).safeParse(change.entries);
    if (!parsed.success) {
      throw new InputError(
        `Invalid configuration entries: ${validationMessage(parsed.error)}`,
      );
    }
    const layer = this.#layout.layer(
      options.environment ?? this.#layout.defaultEnvironment,
    );
    const plugin = await this.#getPlugin(
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
    const current = previous ? this.#sealer.openAll(previous) : [];
    const given = this.#sealer.keepMaskedSecrets(parsed.data, previous);
    const next =
      change.mode === 'replace'
        ? given
        : patchLayer(current, { entries: given, remove: change.remove });
    const dropped =
      change.mode === 'merge' || !options.allowDroppingRequired
        ? await this.#validator.droppedRequired(plugin.id, layer, current, next)
        : [];
    await this.#validator.validate(
      plugin,
      layer,
      next,
      options.schema,
      dropped,
    );
    const changed = !previous || !sameLayerContent(current, next);
    return { plugin, layer, previous, current, next, changed };
  }
}
