import { ConfigurationEntry } from '@internal/plugin-lifecycle-common';

/**
 * One version of one layer of a plugin's configuration: `base`, or an
 * environment whose entries override the base.
 *
 * @public
 */
export interface ConfigLayer {
  layer: string;
  version: number;
  entries: ConfigurationEntry[];
}

/**
 * An entry of the merged configuration, with the layer it comes from.
 *
 * @public
 */
export type MergedConfigEntry = ConfigurationEntry & {
  source: { layer: string; version: number };
};

/**
 * Merges layers key by key: an entry in a later layer replaces the entry
 * with the same key from any earlier layer (the whole entry, not only its
 * value, so an environment can for example make a key required). The result
 * is sorted by key; the inputs are not modified.
 *
 * @param layers - lowest precedence first, e.g. `[base, production]`
 * @public
 */
export function mergeLayers(layers: ConfigLayer[]): MergedConfigEntry[] {
  const merged = new Map<string, MergedConfigEntry>();
  for (const { layer, version, entries } of layers) {
    for (const entry of entries) {
      merged.set(entry.key, { ...entry, source: { layer, version } });
    }
  }
  return [...merged.values()].sort((a, b) => compareKeys(a.key, b.key));
}

/**
 * The configuration as the document a plugin reads: each key mapped to its
 * value. Keys stay flat as given (`database.url` is not nested); if a key
 * appears twice the last entry wins.
 *
 * @public
 */
export function configDocument(
  entries: ConfigurationEntry[],
): Record<string, unknown> {
  // Object.fromEntries defines own properties, so a key such as `__proto__`
  // (a valid key) is stored as data instead of replacing the prototype.
  return Object.fromEntries(entries.map(entry => [entry.key, entry.value]));
}

/**
 * Orders keys by UTF-16 code units, independent of locale, so the order is
 * the same on every host.
 *
 * @internal
 */
export function compareKeys(a: string, b: string): number {
  if (a < b) return -1;
  return a > b ? 1 : 0;
}
