import { isDeepStrictEqual } from 'node:util';
import {
  ConfigDiff,
  ConfigurationEntry,
} from '@internal/plugin-lifecycle-common';
import { maskEntry } from './masking';
import { compareKeys } from './overlay';

// The order fields are listed in; any other field follows, sorted.
const FIELD_ORDER = [
  'value',
  'type',
  'required',
  'sensitive',
  'description',
  'rotateAt',
];

// Flags whose absence means false: going from absent to `false` is no change.
const FLAGS = new Set(['required', 'sensitive']);

/**
 * What changed between two versions of a layer, by key: entries only in
 * `to` are added, entries only in `from` are removed, and entries in both
 * that differ in any field are changed, with the fields that differ. Values
 * are compared deeply.
 *
 * The inputs carry plaintext values (so a changed secret is detected), but
 * secret and sensitive values are masked in the result: a diff never shows
 * a secret. Each list is sorted by key. If a key appears twice in one input,
 * the last entry counts.
 *
 * @param versions - the version numbers of `from` and `to`, for the result
 * @public
 */
export function diffEntries(
  from: ConfigurationEntry[],
  to: ConfigurationEntry[],
  versions: { from: number; to: number },
): ConfigDiff {
  const before = byKey(from);
  const after = byKey(to);

  const diff: ConfigDiff = {
    from: versions.from,
    to: versions.to,
    added: [],
    removed: [],
    changed: [],
  };

  for (const [key, entry] of before) {
    if (!after.has(key)) {
      diff.removed.push(maskEntry(entry));
    }
  }
  for (const [key, entry] of after) {
    const previous = before.get(key);
    if (!previous) {
      diff.added.push(maskEntry(entry));
      continue;
    }
    const fields = changedFields(previous, entry);
    if (fields.length > 0) {
      diff.changed.push({
        key,
        from: maskEntry(previous),
        to: maskEntry(entry),
        fields,
      });
    }
  }

  diff.added.sort((a, b) => compareKeys(a.key, b.key));
  diff.removed.sort((a, b) => compareKeys(a.key, b.key));
  diff.changed.sort((a, b) => compareKeys(a.key, b.key));
  return diff;
}

function byKey(entries: ConfigurationEntry[]) {
  return new Map(entries.map(entry => [entry.key, entry]));
}

function changedFields(a: ConfigurationEntry, b: ConfigurationEntry) {
  const recordA = a as Record<string, unknown>;
  const recordB = b as Record<string, unknown>;
  const names = new Set([...Object.keys(a), ...Object.keys(b)]);
  names.delete('key');

  const changed = [...names].filter(name => {
    let valueA = recordA[name];
    let valueB = recordB[name];
    if (FLAGS.has(name)) {
      valueA = valueA ?? false;
      valueB = valueB ?? false;
    }
    return !sameValue(valueA, valueB);
  });
  return changed.sort(compareFields);
}

/**
 * Compares values as the JSON they are stored as: key order and prototypes
 * (an object from a parser may have none) do not count.
 */
function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  try {
    return canonicalJson(a) === canonicalJson(b);
  } catch {
    // Not JSON (a cycle or a bigint): validation rejects it; compare anyway.
    return isDeepStrictEqual(a, b);
  }
}

function canonicalJson(value: unknown): string | undefined {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(
          Object.keys(v)
            .sort()
            .map(k => [k, (v as Record<string, unknown>)[k]]),
        )
      : v,
  );
}

function compareFields(a: string, b: string): number {
  const rankA = rank(a);
  const rankB = rank(b);
  return rankA === rankB ? compareKeys(a, b) : rankA - rankB;
}

function rank(field: string): number {
  const index = FIELD_ORDER.indexOf(field);
  return index === -1 ? FIELD_ORDER.length : index;
}
