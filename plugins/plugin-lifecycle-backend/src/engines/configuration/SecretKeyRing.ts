import {
  createCipheriv,
  createDecipheriv,
  createHmac,
  createSecretKey,
  hkdfSync,
  KeyObject,
  randomBytes,
  timingSafeEqual,
} from 'node:crypto';
import { CustomErrorBase } from '@backstage/errors';

const ALGORITHM = 'aes-256-gcm';
const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const EXPORT_SIGNING_INFO = 'plugin-lifecycle config export';

/** The envelope format {@link SecretKeyRing.seal} writes. */
export const SEALED_FORMAT = 2;

/**
 * The format of a sealed value: 1 for envelopes written before formats were
 * numbered, else its `v`.
 *
 * @public
 */
export function sealedFormat(sealed: SealedSecret): 1 | 2 {
  return sealed.v === 2 ? 2 : 1;
}

/**
 * A secret value as stored: encrypted with AES-256-GCM under the key `kid`.
 * `iv` (12 bytes), `tag` (16 bytes) and `ct` are base64.
 *
 * `v` is the envelope's format: absent for the first one, 2 once the caller's
 * context also covers the value's metadata (see {@link SecretKeyRing.seal}).
 * Stripping it does not help a forger: the context it was sealed with no
 * longer matches, so the value does not open.
 *
 * @public
 */
export interface SealedSecret {
  $sealed: 'aes-256-gcm';
  v?: 2;
  kid: string;
  iv: string;
  tag: string;
  ct: string;
}

/**
 * A stored secret could not be decrypted: its key is not in the ring, or
 * authentication failed. The message never contains the plaintext or key
 * material.
 *
 * @public
 */
export class SecretDecryptionError extends CustomErrorBase {
  name = 'SecretDecryptionError' as const;
  /** The id of the key the secret was sealed with. */
  readonly kid: string;

  constructor(kid: string, message: string) {
    super(message);
    this.kid = kid;
  }
}

/**
 * Options of {@link SecretKeyRing.create}.
 *
 * @public
 */
export interface SecretKeyRingOptions {
  /** Each key is 32 bytes, as base64 (44 characters) or hex (64). */
  keys: Array<{ id: string; secret: string }>;
  /** The key new secrets are sealed with. Default: the last key. */
  activeKeyId?: string;
}

interface RingKey {
  encryption: KeyObject;
  /** A separate subkey, so signatures and ciphertexts never share a key. */
  signing: KeyObject;
}

/**
 * The keys that seal secret configuration values at rest, and sign exports.
 *
 * New secrets are sealed with the active key; older ones stay readable as
 * long as their key is in the ring. To rotate, add a key and make it active
 * (or append it: the last key is active by default), re-seal stored secrets
 * with {@link SecretKeyRing.rewrap}, then retire the old key.
 *
 * Each sealed value is bound to a context, such as `pluginId/layer/key`, as
 * additional authenticated data: a ciphertext copied to another entry does
 * not decrypt.
 *
 * @public
 */
export class SecretKeyRing {
  readonly #keys: Map<string, RingKey>;
  readonly #activeKeyId: string | undefined;

  /**
   * Builds a key ring, checking every key.
   *
   * @throws Error - naming the key, for an empty or duplicate id, a secret
   *   that is not 32 bytes of base64 or hex, or an unknown `activeKeyId`
   */
  static create(options: SecretKeyRingOptions): SecretKeyRing {
    const keys = new Map<string, RingKey>();
    options.keys.forEach(({ id, secret }, index) => {
      if (typeof id !== 'string' || id.trim() === '') {
        throw new Error(
          `Encryption key #${
            index + 1
          } has an empty id; give every key a unique id`,
        );
      }
      if (keys.has(id)) {
        throw new Error(
          `Encryption key id '${id}' appears more than once; key ids must be unique`,
        );
      }
      const material = createSecretKey(decodeKey(id, secret));
      keys.set(id, {
        encryption: material,
        signing: createSecretKey(
          Buffer.from(
            hkdfSync('sha256', material, '', EXPORT_SIGNING_INFO, KEY_BYTES),
          ),
        ),
      });
    });

    const ids = [...keys.keys()];
    const activeKeyId = options.activeKeyId ?? ids[ids.length - 1];
    if (activeKeyId !== undefined && !keys.has(activeKeyId)) {
      throw new Error(
        `Active encryption key '${activeKeyId}' is not among the configured keys (${
          ids.map(i => `'${i}'`).join(', ') || 'none'
        })`,
      );
    }
    return new SecretKeyRing(keys, activeKeyId);
  }

  /** Whether a value has the shape of a {@link SealedSecret}. */
  static isSealed(value: unknown): value is SealedSecret {
    if (typeof value !== 'object' || value === null) return false;
    const v = value as Record<string, unknown>;
    return (
      v.$sealed === ALGORITHM &&
      typeof v.kid === 'string' &&
      typeof v.iv === 'string' &&
      typeof v.tag === 'string' &&
      typeof v.ct === 'string' &&
      (v.v === undefined || v.v === 2)
    );
  }

  private constructor(
    keys: Map<string, RingKey>,
    activeKeyId: string | undefined,
  ) {
    this.#keys = keys;
    this.#activeKeyId = activeKeyId;
  }

  /** The key new secrets are sealed with; undefined for an empty ring. */
  get activeKeyId(): string | undefined {
    return this.#activeKeyId;
  }

  /** The ids of all keys, in configuration order. */
  get keyIds(): string[] {
    return [...this.#keys.keys()];
  }

  get hasKeys(): boolean {
    return this.#keys.size > 0;
  }

  hasKey(kid: string): boolean {
    return this.#keys.has(kid);
  }

  /**
   * Encrypts a secret with the active key, bound to `context`.
   *
   * @param context - identifies where the value is stored, e.g.
   *   `pluginId/layer/key`; the same context is needed to open it
   * @throws Error - if the ring has no keys
   */
  seal(plaintext: string, context: string): SealedSecret {
    const [kid, key] = this.#active();
    // A fresh random IV per message: GCM must never reuse one under a key.
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv(ALGORITHM, key.encryption, iv, {
      authTagLength: TAG_BYTES,
    });
    cipher.setAAD(Buffer.from(context, 'utf8'));
    const ct = Buffer.concat([
      cipher.update(plaintext, 'utf8'),
      cipher.final(),
    ]);
    return {
      $sealed: ALGORITHM,
      v: SEALED_FORMAT,
      kid,
      iv: iv.toString('base64'),
      tag: cipher.getAuthTag().toString('base64'),
      ct: ct.toString('base64'),
    };
  }

  /**
   * Decrypts a sealed secret.
   *
   * @throws SecretDecryptionError - if the key is not in the ring, or the
   *   value does not authenticate (wrong key, wrong context, tampered data)
   */
  open(sealed: SealedSecret, context: string): string {
    if (!SecretKeyRing.isSealed(sealed)) {
      const kid = (sealed as { kid?: unknown } | null)?.kid;
      throw new SecretDecryptionError(
        typeof kid === 'string' ? kid : '',
        `Cannot decrypt the secret for '${context}': it is not a sealed ${ALGORITHM} value`,
      );
    }
    const { kid } = sealed;
    const key = this.#keys.get(kid);
    if (!key) {
      throw new SecretDecryptionError(
        kid,
        `Cannot decrypt the secret for '${context}': key '${kid}' is not in the key ring (retired or missing)`,
      );
    }
    try {
      const iv = Buffer.from(sealed.iv, 'base64');
      const tag = Buffer.from(sealed.tag, 'base64');
      // Node accepts shorter GCM tags unless told otherwise; a truncated tag
      // would be much easier to forge, so only the full length counts.
      if (iv.length !== IV_BYTES || tag.length !== TAG_BYTES) {
        throw new Error('malformed iv or tag');
      }
      const decipher = createDecipheriv(ALGORITHM, key.encryption, iv, {
        authTagLength: TAG_BYTES,
      });
      decipher.setAAD(Buffer.from(context, 'utf8'));
      decipher.setAuthTag(tag);
      return Buffer.concat([
        decipher.update(Buffer.from(sealed.ct, 'base64')),
        decipher.final(),
      ]).toString('utf8');
    } catch {
      // The underlying error says no more than this, and must not be relied
      // on to stay free of data.
      throw new SecretDecryptionError(
        kid,
        `Cannot decrypt the secret for '${context}' with key '${kid}': authentication failed (wrong key, wrong context or tampered data)`,
      );
    }
  }

  /**
   * Whether a sealed secret is under another key than the active one, or in
   * an older envelope format.
   */
  needsRewrap(sealed: SealedSecret): boolean {
    return (
      sealed.kid !== this.#activeKeyId || sealedFormat(sealed) !== SEALED_FORMAT
    );
  }

  /**
   * Re-seals a secret with the active key in the current format; returns the
   * same object when it already is.
   *
   * @param context - the context it was sealed with
   * @param newContext - the context to seal it with (the current format's
   *   context, when the caller's context changed with the format); default
   *   `context`
   * @throws SecretDecryptionError - if it cannot be opened
   */
  rewrap(
    sealed: SealedSecret,
    context: string,
    newContext: string = context,
  ): SealedSecret {
    if (!this.needsRewrap(sealed)) return sealed;
    return this.seal(this.open(sealed, context), newContext);
  }

  /**
   * Signs data (a configuration export) with HMAC-SHA256 under a subkey of
   * the active key.
   *
   * @throws Error - if the ring has no keys
   */
  sign(data: string): { kid: string; signature: string } {
    const [kid, key] = this.#active();
    return { kid, signature: hmac(key.signing, data).toString('base64') };
  }

  /**
   * Whether a signature from {@link SecretKeyRing.sign} is valid for `data`;
   * false if its key is not in the ring.
   */
  verify(data: string, signed: { kid: string; signature: string }): boolean {
    const key =
      typeof signed?.kid === 'string' ? this.#keys.get(signed.kid) : undefined;
    if (!key || typeof signed.signature !== 'string') return false;
    const expected = hmac(key.signing, data);
    const actual = Buffer.from(signed.signature, 'base64');
    return (
      actual.length === expected.length && timingSafeEqual(actual, expected)
    );
  }

  #active(): [string, RingKey] {
    const kid = this.#activeKeyId;
    const key = kid === undefined ? undefined : this.#keys.get(kid);
    if (kid === undefined || !key) {
      throw new Error(
        'No encryption key is configured: set pluginLifecycle.configuration.encryption.keys to store secret values',
      );
    }
    return [kid, key];
  }
}

function hmac(key: KeyObject, data: string): Buffer {
  return createHmac('sha256', key).update(data, 'utf8').digest();
}

/** 32 bytes from base64 (44 characters) or hex (64 characters). */
function decodeKey(id: string, secret: string): Buffer {
  const text = typeof secret === 'string' ? secret.trim() : '';
  const expected = `must be ${KEY_BYTES} bytes, given as 44 base64 or 64 hex characters`;
  if (text.length === 64) {
    if (!/^[0-9a-fA-F]{64}$/.test(text)) {
      throw new Error(
        `Encryption key '${id}' is not valid hex; it ${expected}`,
      );
    }
    return Buffer.from(text, 'hex');
  }
  if (text.length === 44) {
    // Buffer.from skips characters that are not base64, so check first.
    if (!/^[A-Za-z0-9+/]{43}=$/.test(text)) {
      throw new Error(
        `Encryption key '${id}' is not valid base64; it ${expected}`,
      );
    }
    return Buffer.from(text, 'base64');
  }
  throw new Error(
    `Encryption key '${id}' has the wrong length (${text.length} characters); it ${expected}`,
  );
}
