import { InputError } from '@backstage/errors';
import {
  CONFIG_BASE_LAYER,
  ConfigurationEntry,
} from '@internal/plugin-lifecycle-common';
import { ConfigStore } from '../../database/ConfigStore';
import { PluginRecord } from '../../database/PluginStore';
import {
  ConfigProblem,
  configDocument,
  droppedRequiredKeys,
  mergeLayers,
  validateAgainstSchema,
  validateEntries,
} from '../../domain/configuration';
import { ConfigLayout } from './ConfigLayout';
import { ConfigSealer } from './ConfigSealer';

/**
 * Whether a layer's new content may be stored: entry types, keys marked
 * required, and the plugin's JSON Schema, each held to the effective
 * configurations the layer feeds (the base layer merged with an
 * environment), with every problem reported in one InputError.
 */
export class ConfigValidator {
  readonly #store: ConfigStore;
  readonly #sealer: ConfigSealer;
  readonly #layout: ConfigLayout;
  readonly #getSchema: (
    plugin: PluginRecord,
  ) => Promise<Record<string, unknown> | undefined>;

  constructor(options: {
    store: ConfigStore;
    sealer: ConfigSealer;
    layout: ConfigLayout;
    getSchema: (
      plugin: PluginRecord,
    ) => Promise<Record<string, unknown> | undefined>;
  }) {
    this.#store = options.store;
    this.#sealer = options.sealer;
    this.#layout = options.layout;
    this.#getSchema = options.getSchema;
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
    this.#sealer.assertCanSeal(entries);
  }

  /**
   * InputError unless `entries` may be the layer's content: the keys in
   * `droppedRequired` are reported as removed; the plugin's schema (or
   * `fallbackSchema` when it has none) is checked only when nothing else
   * is wrong.
   */
  async validate(
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
      const schema = (await this.#getSchema(plugin)) ?? fallbackSchema;
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
   * Keys marked required in an effective configuration the layer feeds that
   * the new content would leave out of it. A base write is held to every
   * environment (one without a layer of its own gets the base alone).
   */
  async droppedRequired(
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
      for (const env of this.#layout.environments) {
        const stored = await this.#store.latest(pluginId, env);
        if (stored) check(this.#sealer.openAll(stored), true);
      }
    } else {
      const base = await this.#store.latest(pluginId, CONFIG_BASE_LAYER);
      check(base ? this.#sealer.openAll(base) : [], false);
    }
    return [...dropped].sort();
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
    for (const other of isBase
      ? this.#layout.environments
      : [CONFIG_BASE_LAYER]) {
      const stored = await this.#store.latest(plugin.id, other);
      if (!stored) continue;
      const layerOfOther = {
        layer: other,
        version: stored.version,
        entries: this.#sealer.openAll(stored),
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
}
