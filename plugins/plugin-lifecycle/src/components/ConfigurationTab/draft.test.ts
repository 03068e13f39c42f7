import { CONFIG_SECRET_MASK } from '@internal/plugin-lifecycle-common';
import {
  DraftEntry,
  emptyDraftEntry,
  fromDraft,
  keepsMaskedValue,
  toDraftEntry,
} from './draft';

const maskedSecret = toDraftEntry({
  key: 'api.token',
  type: 'secret',
  value: CONFIG_SECRET_MASK,
  masked: true,
  rotateAt: '2026-01-01T00:00:00.000Z',
});

function edit(entry: DraftEntry, patch: Partial<DraftEntry>): DraftEntry {
  return { ...entry, ...patch };
}

describe('draft entries', () => {
  it('loads values as text and masked values as empty', () => {
    expect(toDraftEntry({ key: 'n', type: 'number', value: 8 })).toMatchObject({
      text: '8',
      maskedKey: undefined,
    });
    expect(
      toDraftEntry({ key: 'j', type: 'json', value: { a: [1] } }).text,
    ).toBe('{\n  "a": [\n    1\n  ]\n}');
    expect(toDraftEntry({ key: 'j', type: 'json', value: null }).text).toBe(
      'null',
    );
    expect(
      toDraftEntry({ key: 'b', type: 'boolean', value: true }),
    ).toMatchObject({ checked: true });
    expect(maskedSecret).toMatchObject({ text: '', maskedKey: 'api.token' });
    expect(keepsMaskedValue(maskedSecret)).toBe(true);
  });

  it('sends the mask for a secret the user did not touch', () => {
    expect(fromDraft([maskedSecret])).toEqual({
      entries: [
        {
          key: 'api.token',
          type: 'secret',
          value: CONFIG_SECRET_MASK,
          rotateAt: '2026-01-01T00:00:00.000Z',
        },
      ],
      problems: [],
    });
    const replaced = edit(maskedSecret, {
      text: 's3cr3t',
      maskedKey: undefined,
    });
    expect(fromDraft([replaced]).entries[0].value).toBe('s3cr3t');
  });

  it('keeps a sensitive value of any type masked', () => {
    const sensitive = toDraftEntry({
      key: 'port',
      type: 'number',
      value: CONFIG_SECRET_MASK,
      masked: true,
      sensitive: true,
    });
    expect(fromDraft([sensitive]).entries).toEqual([
      {
        key: 'port',
        type: 'number',
        value: CONFIG_SECRET_MASK,
        sensitive: true,
      },
    ]);
  });

  it('stops keeping the masked value once the key or secrecy changes', () => {
    // The backend keeps a stored value by key, and only for secrets.
    const renamed = edit(maskedSecret, { key: 'api.key' });
    expect(keepsMaskedValue(renamed)).toBe(false);
    expect(fromDraft([renamed]).entries[0].value).toBe('');

    const plain = edit(maskedSecret, { type: 'string' });
    expect(fromDraft([plain]).entries).toEqual([
      { key: 'api.token', type: 'string', value: '' },
    ]);
    // Changing it back restores the mask.
    expect(keepsMaskedValue(edit(plain, { type: 'secret' }))).toBe(true);
  });

  it('parses numbers and JSON, and reports what does not parse', () => {
    const row = (patch: Partial<DraftEntry>) => edit(emptyDraftEntry(), patch);
    expect(
      fromDraft([
        row({ key: 'a', type: 'number', text: ' 1.5 ' }),
        row({ key: 'b', type: 'number', text: '' }),
        row({ key: 'c', type: 'json', text: '[1, "x"]' }),
        row({ key: 'd', type: 'boolean', checked: true, required: true }),
        row({ key: ' e ', text: 'x', description: '  about e ' }),
      ]),
    ).toEqual({
      entries: [
        { key: 'a', type: 'number', value: 1.5 },
        { key: 'b', type: 'number', value: null },
        { key: 'c', type: 'json', value: [1, 'x'] },
        { key: 'd', type: 'boolean', value: true, required: true },
        { key: 'e', type: 'string', value: 'x', description: 'about e' },
      ],
      problems: [],
    });

    const { problems } = fromDraft([
      row({ key: 'a', type: 'number', text: 'twelve' }),
      row({ key: 'b', type: 'json', text: '{' }),
      row({ key: '  ', text: 'x' }),
    ]);
    expect(problems).toHaveLength(3);
    expect(problems[0]).toBe('a: is not a number');
    expect(problems[1]).toMatch(/^b: is not valid JSON/);
    expect(problems[2]).toBe('Row 3: the key is empty');
  });
});
