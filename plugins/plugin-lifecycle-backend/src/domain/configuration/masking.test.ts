import {
  ConfigurationEntry,
  CONFIG_SECRET_MASK,
} from '@internal/plugin-lifecycle-common';
import { isSecretEntry, maskEntries, maskEntry } from './masking';

describe('isSecretEntry', () => {
  it.each([
    [{ key: 'a', value: 's', type: 'secret' }, true],
    [{ key: 'a', value: 's', type: 'string', sensitive: true }, true],
    [{ key: 'a', value: 's', type: 'secret', sensitive: false }, true],
    [{ key: 'a', value: 's', type: 'string' }, false],
    [{ key: 'a', value: 's', type: 'string', sensitive: false }, false],
    [{ key: 'a', value: { x: 1 }, type: 'json' }, false],
  ] as Array<[ConfigurationEntry, boolean]>)('%j -> %s', (entry, expected) => {
    expect(isSecretEntry(entry)).toBe(expected);
  });
});

describe('maskEntry', () => {
  it('masks a secret and marks it', () => {
    const entry: ConfigurationEntry = {
      key: 'db.password',
      value: 'hunter2',
      type: 'secret',
      rotateAt: '2030-01-01T00:00:00Z',
    };
    expect(maskEntry(entry)).toEqual({
      key: 'db.password',
      value: CONFIG_SECRET_MASK,
      type: 'secret',
      rotateAt: '2030-01-01T00:00:00Z',
      masked: true,
    });
    // the input is left alone
    expect(entry.value).toBe('hunter2');
  });

  it('masks a sensitive non-secret value of any type', () => {
    const entry: ConfigurationEntry = {
      key: 'token.claims',
      value: { sub: 'me' },
      type: 'json',
      sensitive: true,
    };
    expect(maskEntry(entry)).toEqual({
      ...entry,
      value: CONFIG_SECRET_MASK,
      masked: true,
    });
  });

  it('leaves other entries unchanged, without a masked field', () => {
    const entry: ConfigurationEntry = {
      key: 'db.url',
      value: 'postgres://db',
      type: 'string',
    };
    const masked = maskEntry(entry);
    expect(masked).toEqual(entry);
    expect(masked).not.toHaveProperty('masked');
  });

  it('keeps extra fields of the input type', () => {
    const entry = {
      key: 'k',
      value: 'v',
      type: 'secret' as const,
      source: { layer: 'base', version: 3 },
    };
    expect(maskEntry(entry).source).toEqual({ layer: 'base', version: 3 });
  });
});

describe('maskEntries', () => {
  it('masks only the secret entries, keeping the order', () => {
    const entries: ConfigurationEntry[] = [
      { key: 'a', value: 1, type: 'number' },
      { key: 'b', value: 'x', type: 'secret' },
      { key: 'c', value: true, type: 'boolean', sensitive: true },
    ];
    expect(maskEntries(entries)).toEqual([
      { key: 'a', value: 1, type: 'number' },
      { key: 'b', value: CONFIG_SECRET_MASK, type: 'secret', masked: true },
      {
        key: 'c',
        value: CONFIG_SECRET_MASK,
        type: 'boolean',
        sensitive: true,
        masked: true,
      },
    ]);
  });

  it('returns an empty list for none', () => {
    expect(maskEntries([])).toEqual([]);
  });
});
