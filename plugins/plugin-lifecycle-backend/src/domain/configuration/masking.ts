import {
  ConfigurationEntry,
  CONFIG_SECRET_MASK,
} from '@internal/plugin-lifecycle-common';

/**
 * Whether an entry's value must be hidden from callers who may not reveal
 * it: secrets, and any other entry marked sensitive.
 *
 * @public
 */
export function isSecretEntry(entry: ConfigurationEntry): boolean {
  return entry.type === 'secret' || entry.sensitive === true;
}

/**
 * The entry as a caller without the reveal permission sees it: a secret or
 * sensitive value becomes `CONFIG_SECRET_MASK`
 * and the entry is marked `masked`. Other entries are returned unchanged.
 *
 * @public
 */
export function maskEntry<T extends ConfigurationEntry>(
  entry: T,
): T & { masked?: boolean } {
  if (!isSecretEntry(entry)) {
    return entry;
  }
  return { ...entry, value: CONFIG_SECRET_MASK, masked: true };
}

/**
 * {@link maskEntry} over a list; returns a new array.
 *
 * @public
 */
export function maskEntries<T extends ConfigurationEntry>(
  entries: T[],
): Array<T & { masked?: boolean }> {
  return entries.map(entry => maskEntry(entry));
}
