import { createHmac, hkdfSync, randomBytes } from 'node:crypto';
import fc from 'fast-check';
import {
  SealedSecret,
  SecretDecryptionError,
  sealedFormat,
  SecretKeyRing,
} from './SecretKeyRing';

const keyA = { id: 'A', secret: randomBytes(32).toString('base64') };
const keyB = { id: 'B', secret: randomBytes(32).toString('hex') };
const context = 'my-plugin/production/db.password';

function flipFirstByte(base64: string): string {
  const bytes = Buffer.from(base64, 'base64');
  bytes[0] ^= 1;
  return bytes.toString('base64');
}

function caught(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected an error');
}

describe('SecretKeyRing', () => {
  describe('seal and open', () => {
    const ring = SecretKeyRing.create({ keys: [keyA] });

    it('round-trips a value', () => {
      const sealed = ring.seal('hunter2', context);
      expect(sealed).toEqual({
        $sealed: 'aes-256-gcm',
        v: 2,
        kid: 'A',
        iv: expect.any(String),
        tag: expect.any(String),
        ct: expect.any(String),
      });
      expect(Buffer.from(sealed.iv, 'base64')).toHaveLength(12);
      expect(Buffer.from(sealed.tag, 'base64')).toHaveLength(16);
      expect(JSON.stringify(sealed)).not.toContain('hunter2');
      expect(ring.open(sealed, context)).toBe('hunter2');
    });

    it('round-trips any string, survives JSON storage', () => {
      fc.assert(
        fc.property(
          fc.string({ unit: 'grapheme' }),
          fc.string(),
          (text, ctx) => {
            const stored = JSON.parse(JSON.stringify(ring.seal(text, ctx)));
            expect(ring.open(stored, ctx)).toBe(text);
          },
        ),
        { numRuns: 50 },
      );
    });

    it('uses a different IV each time', () => {
      const a = ring.seal('same', context);
      const b = ring.seal('same', context);
      expect(a.iv).not.toBe(b.iv);
      expect(a.ct).not.toBe(b.ct);
    });

    it('does not open under another context', () => {
      const sealed = ring.seal('hunter2', context);
      const error = caught(() =>
        ring.open(sealed, 'my-plugin/production/other.key'),
      );
      expect(error).toBeInstanceOf(SecretDecryptionError);
      expect(error).toMatchObject({
        name: 'SecretDecryptionError',
        kid: 'A',
        message:
          "Cannot decrypt the secret for 'my-plugin/production/other.key' with key 'A': authentication failed (wrong key, wrong context or tampered data)",
      });
    });

    it.each(['ct', 'tag', 'iv'] as const)('detects a tampered %s', field => {
      const sealed = ring.seal('hunter2', context);
      const tampered = { ...sealed, [field]: flipFirstByte(sealed[field]) };
      expect(() => ring.open(tampered, context)).toThrow(
        /authentication failed/,
      );
    });

    it('rejects a truncated tag', () => {
      const sealed = ring.seal('hunter2', context);
      const short = Buffer.from(sealed.tag, 'base64')
        .subarray(0, 4)
        .toString('base64');
      expect(() => ring.open({ ...sealed, tag: short }, context)).toThrow(
        SecretDecryptionError,
      );
    });

    it('does not open under another key with the same id', () => {
      const sealed = ring.seal('hunter2', context);
      const other = SecretKeyRing.create({
        keys: [{ id: 'A', secret: randomBytes(32).toString('base64') }],
      });
      expect(() => other.open(sealed, context)).toThrow(
        /authentication failed/,
      );
    });

    it('rejects a value that is not sealed', () => {
      expect(() =>
        ring.open({ kid: 'A' } as unknown as SealedSecret, context),
      ).toThrow(/not a sealed aes-256-gcm value/);
    });

    it('never puts plaintext or key material in an error', () => {
      const sealed = ring.seal('hunter2', context);
      const error = caught(() =>
        ring.open({ ...sealed, ct: flipFirstByte(sealed.ct) }, 'elsewhere'),
      ) as Error;
      const text = `${error.message} ${error.stack}`;
      expect(text).not.toContain('hunter2');
      expect(text).not.toContain(keyA.secret);
    });
  });

  describe('rotation', () => {
    it('rotates from A to B and retires A', () => {
      const ringA = SecretKeyRing.create({ keys: [keyA], activeKeyId: 'A' });
      const sealedA = ringA.seal('hunter2', context);
      expect(sealedA.kid).toBe('A');
      expect(ringA.needsRewrap(sealedA)).toBe(false);
      expect(ringA.rewrap(sealedA, context)).toBe(sealedA);

      const ringAB = SecretKeyRing.create({
        keys: [keyA, keyB],
        activeKeyId: 'B',
      });
      expect(ringAB.open(sealedA, context)).toBe('hunter2');
      expect(ringAB.needsRewrap(sealedA)).toBe(true);
      const sealedB = ringAB.rewrap(sealedA, context);
      expect(sealedB.kid).toBe('B');
      expect(ringAB.needsRewrap(sealedB)).toBe(false);
      expect(ringAB.rewrap(sealedB, context)).toBe(sealedB);

      const ringB = SecretKeyRing.create({ keys: [keyB] });
      expect(ringB.open(sealedB, context)).toBe('hunter2');
      const error = caught(() => ringB.open(sealedA, context));
      expect(error).toBeInstanceOf(SecretDecryptionError);
      expect(error).toMatchObject({
        kid: 'A',
        message: `Cannot decrypt the secret for '${context}': key 'A' is not in the key ring (retired or missing)`,
      });
    });

    it('keeps the context when rewrapping', () => {
      const ringA = SecretKeyRing.create({ keys: [keyA] });
      const ringAB = SecretKeyRing.create({ keys: [keyA, keyB] });
      const sealed = ringAB.rewrap(ringA.seal('x', context), context);
      expect(() => ringAB.open(sealed, 'other')).toThrow(
        /authentication failed/,
      );
    });

    it('re-seals an old-format envelope under a new context, even with the same key', () => {
      const ring = SecretKeyRing.create({ keys: [keyA] });
      const { v, ...legacy } = ring.seal('x', 'old context');
      expect(v).toBe(2);
      expect(sealedFormat(legacy)).toBe(1);
      expect(ring.needsRewrap(legacy)).toBe(true);
      const current = ring.rewrap(legacy, 'old context', 'new context');
      expect(sealedFormat(current)).toBe(2);
      expect(ring.needsRewrap(current)).toBe(false);
      expect(ring.open(current, 'new context')).toBe('x');
      expect(() => ring.open(current, 'old context')).toThrow(
        /authentication failed/,
      );
    });

    it('cannot rewrap without the old key', () => {
      const sealedA = SecretKeyRing.create({ keys: [keyA] }).seal('x', context);
      const ringB = SecretKeyRing.create({ keys: [keyB] });
      expect(() => ringB.rewrap(sealedA, context)).toThrow(
        SecretDecryptionError,
      );
    });
  });

  describe('create', () => {
    it('makes the last key active by default', () => {
      const ring = SecretKeyRing.create({ keys: [keyB, keyA] });
      expect(ring.activeKeyId).toBe('A');
      expect(ring.keyIds).toEqual(['B', 'A']);
      expect(ring.hasKeys).toBe(true);
      expect(ring.hasKey('B')).toBe(true);
      expect(ring.hasKey('C')).toBe(false);
    });

    it('honours activeKeyId', () => {
      const ring = SecretKeyRing.create({
        keys: [keyA, keyB],
        activeKeyId: 'A',
      });
      expect(ring.activeKeyId).toBe('A');
      expect(ring.seal('x', context).kid).toBe('A');
    });

    it('accepts base64 and hex keys, trimming whitespace', () => {
      const bytes = randomBytes(32);
      const fromBase64 = SecretKeyRing.create({
        keys: [{ id: 'k', secret: ` ${bytes.toString('base64')}\n` }],
      });
      const fromHex = SecretKeyRing.create({
        keys: [{ id: 'k', secret: bytes.toString('hex').toUpperCase() }],
      });
      expect(fromHex.open(fromBase64.seal('same key', 'c'), 'c')).toBe(
        'same key',
      );
    });

    it('is empty without keys, and refuses to seal or sign', () => {
      const ring = SecretKeyRing.create({ keys: [] });
      expect(ring.hasKeys).toBe(false);
      expect(ring.activeKeyId).toBeUndefined();
      expect(ring.keyIds).toEqual([]);
      const message =
        'No encryption key is configured: set pluginLifecycle.configuration.encryption.keys to store secret values';
      expect(() => ring.seal('x', context)).toThrow(message);
      expect(() => ring.sign('data')).toThrow(message);
      expect(ring.verify('data', { kid: 'A', signature: 'x' })).toBe(false);
    });

    it.each([
      [
        'a short key',
        { keys: [{ id: 'short', secret: 'c2hvcnQ=' }] },
        "Encryption key 'short' has the wrong length (8 characters); it must be 32 bytes, given as 44 base64 or 64 hex characters",
      ],
      [
        'a 16-byte hex key',
        { keys: [{ id: 'k16', secret: randomBytes(16).toString('hex') }] },
        "Encryption key 'k16' has the wrong length (32 characters); it must be 32 bytes, given as 44 base64 or 64 hex characters",
      ],
      [
        'bad hex',
        { keys: [{ id: 'hex', secret: 'z'.repeat(64) }] },
        "Encryption key 'hex' is not valid hex; it must be 32 bytes, given as 44 base64 or 64 hex characters",
      ],
      [
        'bad base64',
        { keys: [{ id: 'b64', secret: `${'*'.repeat(43)}=` }] },
        "Encryption key 'b64' is not valid base64; it must be 32 bytes, given as 44 base64 or 64 hex characters",
      ],
      [
        'an empty id',
        { keys: [keyA, { id: ' ', secret: keyB.secret }] },
        'Encryption key #2 has an empty id; give every key a unique id',
      ],
      [
        'a duplicate id',
        { keys: [keyA, { id: 'A', secret: keyB.secret }] },
        "Encryption key id 'A' appears more than once; key ids must be unique",
      ],
      [
        'an unknown active key',
        { keys: [keyA, keyB], activeKeyId: 'C' },
        "Active encryption key 'C' is not among the configured keys ('A', 'B')",
      ],
      [
        'an active key without keys',
        { keys: [], activeKeyId: 'C' },
        "Active encryption key 'C' is not among the configured keys (none)",
      ],
    ])('rejects %s clearly', (_name, options, message) => {
      const error = caught(() => SecretKeyRing.create(options)) as Error;
      expect(error.message).toBe(message);
      for (const { secret } of options.keys) {
        expect(error.message).not.toContain(secret);
      }
    });
  });

  describe('sign and verify', () => {
    const ring = SecretKeyRing.create({ keys: [keyA, keyB] });
    const data = JSON.stringify({ entries: [{ key: 'a', value: 1 }] });

    it('verifies its own signature', () => {
      const signed = ring.sign(data);
      expect(signed.kid).toBe('B');
      expect(Buffer.from(signed.signature, 'base64')).toHaveLength(32);
      expect(ring.verify(data, signed)).toBe(true);
    });

    it('verifies a signature made with an older key still in the ring', () => {
      const signed = SecretKeyRing.create({ keys: [keyA] }).sign(data);
      expect(ring.verify(data, signed)).toBe(true);
    });

    it('rejects tampered data or signatures', () => {
      const signed = ring.sign(data);
      expect(ring.verify(`${data} `, signed)).toBe(false);
      expect(
        ring.verify(data, {
          ...signed,
          signature: flipFirstByte(signed.signature),
        }),
      ).toBe(false);
      expect(ring.verify(data, { ...signed, signature: 'c2hvcnQ=' })).toBe(
        false,
      );
      expect(ring.verify(data, { ...signed, kid: 'A' })).toBe(false);
    });

    it('rejects an unknown key', () => {
      const signed = ring.sign(data);
      expect(ring.verify(data, { ...signed, kid: 'C' })).toBe(false);
      const ringA = SecretKeyRing.create({ keys: [keyA] });
      expect(ringA.verify(data, signed)).toBe(false);
    });

    it('signs with an HKDF subkey, not the encryption key itself', () => {
      const key = Buffer.from(keyB.secret, 'hex');
      const subkey = Buffer.from(
        hkdfSync('sha256', key, '', 'plugin-lifecycle config export', 32),
      );
      const hmac = (k: Buffer) =>
        createHmac('sha256', k).update(data).digest('base64');
      const signed = ring.sign(data);
      expect(signed.signature).toBe(hmac(subkey));
      expect(signed.signature).not.toBe(hmac(key));
    });
  });

  describe('isSealed', () => {
    it('recognises sealed values only', () => {
      const sealed = SecretKeyRing.create({ keys: [keyA] }).seal('x', 'c');
      expect(SecretKeyRing.isSealed(sealed)).toBe(true);
      expect(SecretKeyRing.isSealed(JSON.parse(JSON.stringify(sealed)))).toBe(
        true,
      );
      expect(SecretKeyRing.isSealed({ ...sealed, $sealed: 'aes-128' })).toBe(
        false,
      );
      expect(SecretKeyRing.isSealed({ ...sealed, ct: 1 })).toBe(false);
      expect(SecretKeyRing.isSealed('hunter2')).toBe(false);
      expect(SecretKeyRing.isSealed(null)).toBe(false);
      expect(SecretKeyRing.isSealed(undefined)).toBe(false);
    });
  });
});
