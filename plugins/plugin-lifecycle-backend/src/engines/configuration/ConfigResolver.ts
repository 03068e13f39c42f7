import {
  CONFIG_BASE_LAYER,
  ConfigurationEntry,
  EffectiveConfiguration,
} from '@internal/plugin-lifecycle-common';
import { ConfigStore, StoredConfigVersion } from '../../database/ConfigStore';
import {
  ConfigLayer,
  maskEntries,
  mergeLayers,
} from '../../domain/configuration';
import { ConfigLayout } from './ConfigLayout';
import { ConfigSealer } from './ConfigSealer';
import { ResolvedConfiguration } from './types';

function cacheKey(pluginId: string, environment: string) {
  return `${pluginId}\u0000${environment}`;
}

/** The effective configuration as the API shows it: secrets masked unless `reveal`. */
export function effectiveView(
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

/**
 * Effective configurations: the `base` layer with an environment's layer
 * over it, in plaintext. The latest ones are kept in memory until a change
 * to either layer reaches this replica ({@link ConfigResolver.forget}).
 */
export class ConfigResolver {
  readonly #store: ConfigStore;
  readonly #sealer: ConfigSealer;
  readonly #layout: ConfigLayout;
  readonly #cache = new Map<string, Promise<ResolvedConfiguration>>();

  constructor(options: {
    store: ConfigStore;
    sealer: ConfigSealer;
    layout: ConfigLayout;
  }) {
    this.#store = options.store;
    this.#sealer = options.sealer;
    this.#layout = options.layout;
  }

  /** The latest effective configuration, from memory when kept. */
  resolve(
    pluginId: string,
    environment: string,
  ): Promise<ResolvedConfiguration> {
    const key = cacheKey(pluginId, environment);
    let cached = this.#cache.get(key);
    if (!cached) {
      cached = this.resolveAt(pluginId, environment);
      this.#cache.set(key, cached);
      cached.catch(() => this.#cache.delete(key));
    }
    return cached;
  }

  /**
   * The effective configuration read from the store, as of a past time
   * (`at`) or revision (`maxRevision`) when given; never kept.
   */
  async resolveAt(
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
        entries: this.#sealer.openAll(v),
      }));
    return {
      environment,
      revision: Math.max(base?.revision ?? 0, env?.revision ?? 0),
      versions: { base: base?.version ?? 0, environment: env?.version ?? 0 },
      entries: mergeLayers(layers),
    };
  }

  /** Drops what is kept of the effective configuration of one environment. */
  forget(pluginId: string, environment: string) {
    this.#cache.delete(cacheKey(pluginId, environment));
  }

  /**
   * The effective configurations a layer would feed with `entries` as its
   * version `toVersion` (nothing written), secrets masked.
   */
  async preview(
    written: {
      pluginId: string;
      layer: string;
      entries: ConfigurationEntry[];
      /** The revision of the layer's latest stored version (0: none). */
      revision: number;
    },
    toVersion: number,
  ): Promise<EffectiveConfiguration[]> {
    const isBase = written.layer === CONFIG_BASE_LAYER;
    const candidate = {
      layer: written.layer,
      version: toVersion,
      entries: written.entries,
    };
    const result: EffectiveConfiguration[] = [];
    for (const env of this.#layout.fedBy(written.layer)) {
      const other = await this.#store.latest(
        written.pluginId,
        isBase ? env : CONFIG_BASE_LAYER,
      );
      const otherLayer = other && {
        layer: other.layer,
        version: other.version,
        entries: this.#sealer.openAll(other),
      };
      const layers = isBase ? [candidate, otherLayer] : [otherLayer, candidate];
      const resolved: ResolvedConfiguration = {
        environment: env,
        // Nothing is written: the revision stays the current one.
        revision: Math.max(written.revision, other?.revision ?? 0),
        versions: {
          base: isBase ? toVersion : other?.version ?? 0,
          environment: isBase ? other?.version ?? 0 : toVersion,
        },
        entries: mergeLayers(
          layers.filter((l): l is ConfigLayer => Boolean(l)),
        ),
      };
      result.push(effectiveView(written.pluginId, resolved, false));
    }
    return result;
  }
}
