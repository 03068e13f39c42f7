import { ConflictError } from '@backstage/errors';
import {
  CONFIG_BASE_LAYER,
  ConfigDiff,
  ConfigVersion,
  ConfigVersionSummary,
  ConfigWriteResult,
} from '@internal/plugin-lifecycle-common';
import { ConfigStore } from '../../database/ConfigStore';
import { PluginRecord } from '../../database/PluginStore';
import {
  diffEntries,
  maskEntries,
  sameLayerContent,
} from '../../domain/configuration';
import { ALL_TENANTS, TenantScope } from '../../domain/tenancy';
import { ConfigSealer } from './ConfigSealer';
import { ConfigValidator } from './ConfigValidator';
import { ConfigWriter } from './ConfigWriter';
import { versionOrThrow, versionSummary } from './storedVersions';
import { ConfigRollbackOptions, RestoredLayer } from './types';

/**
 * The versions of a layer: listed, read, compared, and an earlier one (or
 * every layer as of a past revision) written again as the newest.
 */
export class ConfigHistory {
  readonly #store: ConfigStore;
  readonly #sealer: ConfigSealer;
  readonly #validator: ConfigValidator;
  readonly #writer: ConfigWriter;
  readonly #getPlugin: (
    pluginId: string,
    scope: TenantScope,
  ) => Promise<PluginRecord>;

  constructor(options: {
    store: ConfigStore;
    sealer: ConfigSealer;
    validator: ConfigValidator;
    writer: ConfigWriter;
    getPlugin: (pluginId: string, scope: TenantScope) => Promise<PluginRecord>;
  }) {
    this.#store = options.store;
    this.#sealer = options.sealer;
    this.#validator = options.validator;
    this.#writer = options.writer;
    this.#getPlugin = options.getPlugin;
  }

  async listVersions(
    pluginId: string,
    layer: string,
  ): Promise<ConfigVersionSummary[]> {
    const versions = await this.#store.list(pluginId, layer);
    return versions.map(v => versionSummary(v, v.entryCount));
  }

  /** One version with its entries, secrets masked unless `reveal`. */
  async getVersion(
    pluginId: string,
    layer: string,
    versionNumber: number,
    reveal?: boolean,
  ): Promise<ConfigVersion> {
    const version = await versionOrThrow(
      this.#store,
      pluginId,
      layer,
      versionNumber,
    );
    const plain = this.#sealer.openAll(version);
    return {
      ...versionSummary(version),
      entries: reveal ? plain : maskEntries(plain),
    };
  }

  /** What changed between two versions of a layer; secrets never shown. */
  async diffVersions(
    pluginId: string,
    layer: string,
    from: number,
    to: number,
  ): Promise<ConfigDiff> {
    const [a, b] = await Promise.all([
      versionOrThrow(this.#store, pluginId, layer, from),
      versionOrThrow(this.#store, pluginId, layer, to),
    ]);
    return diffEntries(this.#sealer.openAll(a), this.#sealer.openAll(b), {
      from,
      to,
    });
  }

  /**
   * Writes the content of an earlier version as the newest version, checked
   * against today's schema, and brings it to running instances. When the
   * layer already holds that content: nothing stored or applied, its latest
   * version answered with `changed: false`.
   */
  async rollback(
    pluginId: string,
    layer: string,
    toVersion: number,
    options: ConfigRollbackOptions,
  ): Promise<ConfigWriteResult> {
    const plugin = await this.#getPlugin(
      pluginId,
      options.scope ?? ALL_TENANTS,
    );
    const target = await versionOrThrow(
      this.#store,
      plugin.id,
      layer,
      toVersion,
    );
    const plain = this.#sealer.openAll(target);
    const current = await this.#store.latest(plugin.id, layer);
    if (
      options.expectedVersion !== undefined &&
      (current?.version ?? 0) !== options.expectedVersion
    ) {
      throw new ConflictError(
        `Configuration '${layer}' of plugin '${plugin.id}' is at version ${
          current?.version ?? 0
        }, not the expected ${
          options.expectedVersion
        }; read it again and retry`,
      );
    }
    // Rolling back to what the layer already holds would store an identical
    // version and restart the instances for nothing.
    if (current && sameLayerContent(this.#sealer.openAll(current), plain)) {
      return { version: versionSummary(current), changed: false };
    }
    await this.#validator.validate(plugin, layer, plain);
    const version = await this.#writer.append(plugin, layer, plain, {
      author: options.userId,
      description:
        options.description ?? `rollback to version ${target.version}`,
      expectedVersion: options.expectedVersion,
      rolledBackFrom: target.version,
    });
    const operationId = await this.#writer.afterWrite(plugin, layer, version, {
      actor: options.userId,
    });
    return { version: versionSummary(version), changed: true, operationId };
  }

  /**
   * Writes `base` and the environment's layer back to their content as of a
   * past revision, as new versions not brought to instances; a layer whose
   * content is already that is left alone.
   */
  async restoreAtRevision(
    plugin: PluginRecord,
    environment: string,
    revision: number,
    meta: { author?: string; description: string },
  ): Promise<RestoredLayer[]> {
    const layers = [CONFIG_BASE_LAYER, environment];
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
      const entries = target ? this.#sealer.openAll(target) : [];
      const now = current ? this.#sealer.openAll(current) : [];
      if (JSON.stringify(entries) === JSON.stringify(now)) continue;
      planned.push({ layer, entries, target, previous: current?.version ?? 0 });
    }
    const restored: RestoredLayer[] = [];
    for (const { layer, entries, target, previous } of planned) {
      const version = await this.#writer.append(plugin, layer, entries, {
        author: meta.author,
        description: meta.description,
        rolledBackFrom: target?.version,
      });
      await this.#writer.afterWrite(plugin, layer, version, {
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
}
