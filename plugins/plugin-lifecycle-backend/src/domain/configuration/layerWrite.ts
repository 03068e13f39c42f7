import { ConfigurationEntry } from '@internal/plugin-lifecycle-common';
import { diffEntries } from './diff';

/**
 * A change to some keys of a layer: entries to set, keys to remove.
 *
 * @public
 */
export interface LayerPatch {
  entries: ConfigurationEntry[];
  remove?: string[];
}

/**
 * A layer with a patch applied: an entry replaces the one with its key
 * (where it was, so the stored order stays stable), a new key goes last,
 * keys in `remove` go, every other entry stays as it is.
 *
 * An entry that leaves out `required`, `sensitive` or `description` keeps
 * what the entry it replaces had: setting a value must not quietly unmark a
 * required key or reveal a sensitive one (say `false` to change the flag).
 * `rotateAt` carries over only while the entry stays a secret.
 *
 * @public
 */
export function patchLayer(
  current: ConfigurationEntry[],
  patch: LayerPatch,
): ConfigurationEntry[] {
  const removed = new Set(patch.remove ?? []);
  const given = new Map(patch.entries.map(e => [e.key, e]));
  const result: ConfigurationEntry[] = [];
  for (const entry of current) {
    if (removed.has(entry.key)) continue;
    const replacement = given.get(entry.key);
    if (!replacement) {
      result.push(entry);
      continue;
    }
    given.delete(entry.key);
    result.push(carryOver(entry, replacement));
  }
  // Only what was not in the layer is left, in the order given.
  for (const entry of patch.entries) {
    if (given.get(entry.key) === entry) result.push(entry);
  }
  return result;
}

function carryOver(
  previous: ConfigurationEntry,
  next: ConfigurationEntry,
): ConfigurationEntry {
  const merged: ConfigurationEntry = { ...next };
  if (next.required === undefined && previous.required !== undefined) {
    merged.required = previous.required;
  }
  if (next.sensitive === undefined && previous.sensitive !== undefined) {
    merged.sensitive = previous.sensitive;
  }
  if (next.description === undefined && previous.description !== undefined) {
    merged.description = previous.description;
  }
  if (
    next.rotateAt === undefined &&
    previous.rotateAt !== undefined &&
    previous.type === 'secret' &&
    next.type === 'secret'
  ) {
    merged.rotateAt = previous.rotateAt;
  }
  return merged;
}

/**
 * The keys marked `required` in `before` that `after` no longer has, sorted:
 * what a write must not do to an effective configuration.
 *
 * @public
 */
export function droppedRequiredKeys(
  before: ConfigurationEntry[],
  after: ConfigurationEntry[],
): string[] {
  const kept = new Set(after.map(e => e.key));
  const dropped = before
    .filter(e => e.required === true && !kept.has(e.key))
    .map(e => e.key);
  return [...new Set(dropped)].sort();
}

/**
 * Whether two versions of a layer hold the same content: the same keys,
 * each with the same value (compared deeply), type and fields, in any
 * order. Values are plaintext: a secret is the same only if its value is.
 *
 * @public
 */
export function sameLayerContent(
  a: ConfigurationEntry[],
  b: ConfigurationEntry[],
): boolean {
  const diff = diffEntries(a, b, { from: 0, to: 0 });
  return (
    diff.added.length === 0 &&
    diff.removed.length === 0 &&
    diff.changed.length === 0
  );
}
