import { InputError } from '@backstage/errors';
import {
  CONFIG_SECRET_MASK,
  ConfigurationEntry,
} from '@internal/plugin-lifecycle-common';
import {
  ConfigStore,
  StoredConfigEntry,
  StoredConfigVersion,
} from '../../database/ConfigStore';
import { isSecretEntry } from '../../domain/configuration';
import {
  SEALED_FORMAT,
  SealedSecret,
  sealedFormat,
  SecretKeyRing,
} from './SecretKeyRing';

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

function stripUndefined<T extends object>(value: T): T {
  return Object.fromEntries(
    Object.entries(value).filter(([, v]) => v !== undefined),
  ) as T;
}

/**
 * Secrets at rest: seals the secret and sensitive values of entries about to
 * be stored with the key ring's active key, opens stored versions back into
 * plaintext, and checks at start that the ring opens every stored secret.
 */
export class ConfigSealer {
  readonly #store: ConfigStore;
  readonly #keyRing: SecretKeyRing;

  constructor(options: { store: ConfigStore; keyRing: SecretKeyRing }) {
    this.#store = options.store;
    this.#keyRing = options.keyRing;
  }

  get keyRing(): SecretKeyRing {
    return this.#keyRing;
  }

  /**
   * Fails unless the key ring has every key stored secrets are sealed with
   * and each of those keys opens a secret stored with it.
   */
  async verifyKeys(): Promise<void> {
    const inUse = await this.#store.keyIdsInUse();
    const missing = [...inUse.keys()].filter(k => !this.#keyRing.hasKey(k));
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
        this.open(version, entry);
      } catch {
        throw new Error(
          `Configuration key '${kid}' does not open the secrets stored with it (checked ${version.pluginId}/${version.layer} version ${version.version}); pluginLifecycle.configuration.encryption.keys has a different secret under that id`,
        );
      }
    }
  }

  /** InputError when entries hold secrets and there is no key to seal them. */
  assertCanSeal(entries: ConfigurationEntry[]) {
    if (!this.#keyRing.hasKeys && entries.some(isSecretEntry)) {
      throw new InputError(
        `Secret and sensitive configuration values are stored encrypted, and this backend has no encryption key: set pluginLifecycle.configuration.encryption.keys`,
      );
    }
  }

  /**
   * The entries as stored: secrets sealed for the plugin and layer, with the
   * ids of the keys used.
   */
  seal(
    pluginId: string,
    layer: string,
    entries: ConfigurationEntry[],
  ): { entries: StoredConfigEntry[]; keyIds: string[] } {
    this.assertCanSeal(entries);
    const keyIds: string[] = [];
    const sealed: StoredConfigEntry[] = entries.map(entry => {
      if (!isSecretEntry(entry)) return stripUndefined(entry);
      const value = this.#keyRing.seal(
        JSON.stringify(entry.value),
        sealContext(pluginId, layer, entry, SEALED_FORMAT),
      );
      keyIds.push(value.kid);
      return stripUndefined({ ...entry, value });
    });
    return { entries: sealed, keyIds };
  }

  /** Opens every sealed value of a stored version: plaintext entries. */
  openAll(version: StoredConfigVersion): ConfigurationEntry[] {
    return version.entries.map(entry =>
      SecretKeyRing.isSealed(entry.value)
        ? { ...entry, value: this.open(version, entry) }
        : (entry as ConfigurationEntry),
    );
  }

  /** The plaintext value of one sealed entry of a stored version. */
  open(version: StoredConfigVersion, entry: StoredConfigEntry): unknown {
    const sealed = entry.value as SealedSecret;
    const plaintext = this.#keyRing.open(
      sealed,
      sealContext(version.pluginId, version.layer, entry, sealedFormat(sealed)),
    );
    return JSON.parse(plaintext);
  }

  /**
   * A secret sent back masked (a form that never saw the value) keeps the
   * value the previous version stored under the same key.
   */
  keepMaskedSecrets(
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
      return { ...entry, value: this.open(previous!, stored) };
    });
  }
}
