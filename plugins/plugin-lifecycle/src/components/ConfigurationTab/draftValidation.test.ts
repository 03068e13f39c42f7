import { CONFIG_SECRET_MASK } from '@internal/plugin-lifecycle-common';
import { DraftEntry, emptyDraftEntry, toDraftEntry } from './draft';
import {
  isUnchanged,
  serverRowErrors,
  validateDrafts,
} from './draftValidation';

const row = (patch: Partial<DraftEntry>): DraftEntry => ({
  ...emptyDraftEntry(),
  ...patch,
});

describe('validateDrafts', () => {
  it('checks keys, values by type and descriptions, per row and field', () => {
    const rows = [
      row({ key: 'a', type: 'number', text: '' }),
      row({ key: 'a', type: 'number', text: '3' }),
      row({ key: 'b c', type: 'json', text: '{x' }),
      row({ key: '', type: 'secret', text: '' }),
      row({ key: 'ok', type: 'string', text: '', required: true }),
      row({
        key: 'fine',
        type: 'string',
        text: '',
        description: 'x'.repeat(1001),
      }),
      row({ key: 'good', type: 'boolean' }),
    ];
    const errors = validateDrafts(rows);
    expect(errors[rows[0].id]).toEqual({
      key: 'Another row has this key',
      value: 'A number is needed',
    });
    expect(errors[rows[1].id]).toEqual({ key: 'Another row has this key' });
    expect(errors[rows[2].id].key).toMatch(/^The key must be letters/);
    expect(errors[rows[2].id].value).toMatch(/^Not valid JSON/);
    expect(errors[rows[3].id]).toEqual({
      key: 'A key is needed',
      value: 'A secret needs a value',
    });
    expect(errors[rows[4].id]).toEqual({ value: 'Required: give it a value' });
    expect(errors[rows[5].id]).toEqual({
      description: 'At most 1000 characters',
    });
    expect(errors[rows[6].id]).toBeUndefined();
  });

  it('accepts a masked secret kept as stored', () => {
    const kept = toDraftEntry({
      key: 'token',
      type: 'secret',
      value: CONFIG_SECRET_MASK,
      masked: true,
    });
    expect(validateDrafts([kept])).toEqual({});
  });
});

describe('isUnchanged', () => {
  const loaded = [
    toDraftEntry({ key: 'n', type: 'number', value: 2 }),
    toDraftEntry({ key: 'j', type: 'json', value: { a: 1, b: [1, 2] } }),
    toDraftEntry({
      key: 's',
      type: 'secret',
      value: CONFIG_SECRET_MASK,
      masked: true,
    }),
  ];

  it('sees the loaded rows, reordered or reformatted, as no change', () => {
    expect(isUnchanged(loaded, loaded)).toBe(true);
    const reformatted = [
      loaded[2],
      { ...loaded[1], text: '{"b":[1,2],"a":1}' },
      { ...loaded[0], text: ' 2 ' },
    ];
    expect(isUnchanged(reformatted, loaded)).toBe(true);
  });

  it('sees a new value, a replaced secret, a flag or a removed row as a change', () => {
    expect(
      isUnchanged([{ ...loaded[0], text: '3' }, ...loaded.slice(1)], loaded),
    ).toBe(false);
    expect(
      isUnchanged(
        [...loaded.slice(0, 2), { ...loaded[2], text: 'x', replaced: true }],
        loaded,
      ),
    ).toBe(false);
    expect(
      isUnchanged(
        [{ ...loaded[0], required: true }, ...loaded.slice(1)],
        loaded,
      ),
    ).toBe(false);
    expect(isUnchanged(loaded.slice(1), loaded)).toBe(false);
    expect(isUnchanged([...loaded, { ...loaded[1], text: '{' }], loaded)).toBe(
      false,
    );
  });
});

describe('serverRowErrors', () => {
  const rows = [
    row({ key: 'a', type: 'number', text: '1' }),
    row({ key: 'a.b', type: 'string', text: 'x' }),
    row({ key: 's', type: 'secret', text: 'x' }),
  ];

  it("puts each problem of the backend's message on its row's field", () => {
    const { errors, rest } = serverRowErrors(
      "Invalid configuration for 'p' (production): a.b: must be one of x; y; a: must be <= 3; s: rotateAt must be an ISO 8601 date; (document): must have required property 'c'",
      rows,
    );
    expect(errors).toEqual({
      [rows[0].id]: { value: 'must be <= 3' },
      [rows[1].id]: { value: 'must be one of x; y' },
      [rows[2].id]: { key: 'rotateAt must be an ISO 8601 date' },
    });
    expect(rest).toBe("(document): must have required property 'c'");
  });

  it('maps a refused request shape onto the row at that position', () => {
    const { errors, rest } = serverRowErrors(
      'Invalid configuration: entries.1.key: must be letters; entries.2.description: Too big',
      rows,
    );
    expect(errors).toEqual({
      [rows[1].id]: { key: 'must be letters' },
      [rows[2].id]: { description: 'Too big' },
    });
    expect(rest).toBeUndefined();
  });

  it('leaves a message that names no row whole', () => {
    expect(serverRowErrors('something else went wrong', rows)).toEqual({
      errors: {},
      rest: 'something else went wrong',
    });
  });
});
