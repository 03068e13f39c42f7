import {
  ConfigDiff,
  ConfigurationEntry,
  CONFIG_SECRET_MASK,
} from '@internal/plugin-lifecycle-common';
import fc from 'fast-check';
import { diffEntries } from './diff';

const versions = { from: 1, to: 2 };

describe('diffEntries', () => {
  it('finds nothing between equal lists, whatever their order', () => {
    const entries: ConfigurationEntry[] = [
      { key: 'a', value: { x: [1, 2], y: 'z' }, type: 'json' },
      { key: 'b', value: 'v', type: 'string', required: true },
    ];
    const reordered: ConfigurationEntry[] = [
      { key: 'b', value: 'v', type: 'string', required: true },
      { key: 'a', value: { y: 'z', x: [1, 2] }, type: 'json' },
    ];
    expect(diffEntries(entries, reordered, versions)).toEqual({
      from: 1,
      to: 2,
      added: [],
      removed: [],
      changed: [],
    });
  });

  it('lists added, removed and changed entries, sorted by key', () => {
    const from: ConfigurationEntry[] = [
      { key: 'pool.size', value: 5, type: 'number' },
      { key: 'old.flag', value: true, type: 'boolean' },
      { key: 'log.level', value: 'info', type: 'string' },
      { key: 'a.removed', value: 'x', type: 'string' },
    ];
    const to: ConfigurationEntry[] = [
      { key: 'log.level', value: 'debug', type: 'string', required: true },
      { key: 'pool.size', value: 5, type: 'number' },
      { key: 'z.added', value: [1], type: 'json' },
      { key: 'b.added', value: 'y', type: 'string' },
    ];
    expect(diffEntries(from, to, { from: 3, to: 7 })).toEqual({
      from: 3,
      to: 7,
      added: [
        { key: 'b.added', value: 'y', type: 'string' },
        { key: 'z.added', value: [1], type: 'json' },
      ],
      removed: [
        { key: 'a.removed', value: 'x', type: 'string' },
        { key: 'old.flag', value: true, type: 'boolean' },
      ],
      changed: [
        {
          key: 'log.level',
          from: { key: 'log.level', value: 'info', type: 'string' },
          to: {
            key: 'log.level',
            value: 'debug',
            type: 'string',
            required: true,
          },
          fields: ['value', 'required'],
        },
      ],
    });
  });

  it('compares values deeply', () => {
    const diff = diffEntries(
      [{ key: 'j', value: { a: { b: [1, 2] } }, type: 'json' }],
      [{ key: 'j', value: { a: { b: [2, 1] } }, type: 'json' }],
      versions,
    );
    expect(diff.changed.map(c => c.fields)).toEqual([['value']]);
  });

  it('compares values as JSON: key order and prototypes do not count', () => {
    const bare = Object.assign(Object.create(null), { b: 1, a: [{ y: 2 }] });
    const diff = diffEntries(
      [{ key: 'j', value: { a: [{ y: 2 }], b: 1 }, type: 'json' }],
      [{ key: 'j', value: bare, type: 'json' }],
      versions,
    );
    expect(diff.changed).toEqual([]);
  });

  it('lists every differing field in a fixed order', () => {
    const diff = diffEntries(
      [
        {
          key: 'k',
          value: 1,
          type: 'number',
          description: 'before',
          sensitive: true,
        },
      ],
      [
        {
          key: 'k',
          value: 'abc',
          type: 'secret',
          rotateAt: '2030-01-01T00:00:00Z',
          required: true,
        },
      ],
      versions,
    );
    expect(diff.changed[0].fields).toEqual([
      'value',
      'type',
      'required',
      'sensitive',
      'description',
      'rotateAt',
    ]);
  });

  it('treats an absent flag as false', () => {
    const diff = diffEntries(
      [{ key: 'k', value: 'v', type: 'string' }],
      [{ key: 'k', value: 'v', type: 'string', required: false }],
      versions,
    );
    expect(diff.changed).toEqual([]);
  });

  it('never shows a secret or sensitive value', () => {
    const from: ConfigurationEntry[] = [
      { key: 'api.token', value: 'old-token', type: 'secret' },
      { key: 'gone', value: 'gone-secret', type: 'secret' },
      { key: 'same', value: 'same-secret', type: 'secret' },
      { key: 'claims', value: { sub: 'old' }, type: 'json', sensitive: true },
    ];
    const to: ConfigurationEntry[] = [
      { key: 'api.token', value: 'new-token', type: 'secret' },
      { key: 'fresh', value: 'fresh-secret', type: 'secret' },
      { key: 'same', value: 'same-secret', type: 'secret' },
      { key: 'claims', value: { sub: 'new' }, type: 'json', sensitive: true },
    ];
    const diff = diffEntries(from, to, versions);

    const text = JSON.stringify(diff);
    for (const secret of ['old-token', 'new-token', 'gone-secret']) {
      expect(text).not.toContain(secret);
    }
    expect(text).not.toContain('fresh-secret');
    expect(text).not.toContain('"old"');
    expect(text).not.toContain('"new"');

    expect(diff.added).toEqual([
      {
        key: 'fresh',
        value: CONFIG_SECRET_MASK,
        type: 'secret',
        masked: true,
      },
    ]);
    expect(diff.removed).toEqual([
      { key: 'gone', value: CONFIG_SECRET_MASK, type: 'secret', masked: true },
    ]);
    // A changed secret is still listed as changed, by field name only.
    expect(diff.changed.map(c => [c.key, c.fields])).toEqual([
      ['api.token', ['value']],
      ['claims', ['value']],
    ]);
    expect(diff.changed[0].from.value).toBe(CONFIG_SECRET_MASK);
    expect(diff.changed[0].to.value).toBe(CONFIG_SECRET_MASK);
  });

  it('masks a value that becomes secret, and one that stops being secret', () => {
    const diff = diffEntries(
      [
        { key: 'a', value: 'plain-a', type: 'string' },
        { key: 'b', value: 'hidden-b', type: 'secret' },
      ],
      [
        { key: 'a', value: 'hidden-a', type: 'secret' },
        { key: 'b', value: 'plain-b', type: 'string' },
      ],
      versions,
    );
    const [a, b] = diff.changed;
    expect(a.from.value).toBe('plain-a');
    expect(a.to).toMatchObject({ value: CONFIG_SECRET_MASK, masked: true });
    expect(b.from).toMatchObject({ value: CONFIG_SECRET_MASK, masked: true });
    expect(b.to.value).toBe('plain-b');
    expect(JSON.stringify(diff)).not.toContain('hidden');
  });

  it('does not modify its input', () => {
    const from: ConfigurationEntry[] = [
      { key: 's', value: 'one', type: 'secret' },
    ];
    const to: ConfigurationEntry[] = [
      { key: 's', value: 'two', type: 'secret' },
    ];
    diffEntries(from, to, versions);
    expect(from[0].value).toBe('one');
    expect(to[0].value).toBe('two');
  });

  describe('properties', () => {
    const jsonValue = fc.oneof(
      fc.string({ maxLength: 4 }),
      fc.integer({ min: -3, max: 3 }),
      fc.boolean(),
      fc.constant(null),
      fc.array(fc.integer({ min: 0, max: 2 }), { maxLength: 2 }),
      fc.dictionary(fc.constantFrom('p', 'q'), fc.integer({ min: 0, max: 2 })),
    );
    const entryArb: fc.Arbitrary<ConfigurationEntry> = fc.record(
      {
        key: fc.constantFrom('a', 'b', 'c', 'd.e', 'f_g'),
        value: jsonValue,
        type: fc.constantFrom(
          'string' as const,
          'number' as const,
          'json' as const,
          'secret' as const,
        ),
        required: fc.boolean(),
        sensitive: fc.boolean(),
        description: fc.constantFrom('one', 'two'),
      },
      { requiredKeys: ['key', 'value', 'type'] },
    );
    const entriesArb = fc.uniqueArray(entryArb, {
      selector: e => e.key,
      maxLength: 5,
    });

    it('finds no difference between a list and itself', () => {
      fc.assert(
        fc.property(entriesArb, entries => {
          const diff = diffEntries(entries, structuredClone(entries), {
            from: 1,
            to: 1,
          });
          expect(diff.added).toEqual([]);
          expect(diff.removed).toEqual([]);
          expect(diff.changed).toEqual([]);
        }),
      );
    });

    it('is inverted by swapping its inputs', () => {
      fc.assert(
        fc.property(entriesArb, entriesArb, (a, b) => {
          const forward = diffEntries(a, b, { from: 1, to: 2 });
          const backward = diffEntries(b, a, { from: 2, to: 1 });
          const inverted: ConfigDiff = {
            from: forward.to,
            to: forward.from,
            added: forward.removed,
            removed: forward.added,
            changed: forward.changed.map(c => ({
              key: c.key,
              from: c.to,
              to: c.from,
              fields: c.fields,
            })),
          };
          expect(backward).toEqual(inverted);
        }),
      );
    });

    it('accounts for every key exactly once and shows no secret', () => {
      fc.assert(
        fc.property(entriesArb, entriesArb, (a, b) => {
          const diff = diffEntries(a, b, versions);
          const listed = [
            ...diff.added.map(e => e.key),
            ...diff.removed.map(e => e.key),
            ...diff.changed.map(c => c.key),
          ];
          expect(new Set(listed).size).toBe(listed.length);
          const aKeys = new Set(a.map(e => e.key));
          const bKeys = new Set(b.map(e => e.key));
          expect(diff.added.map(e => e.key).sort()).toEqual(
            [...bKeys].filter(k => !aKeys.has(k)).sort(),
          );
          expect(diff.removed.map(e => e.key).sort()).toEqual(
            [...aKeys].filter(k => !bKeys.has(k)).sort(),
          );
          const views = [
            ...diff.added,
            ...diff.removed,
            ...diff.changed.flatMap(c => [c.from, c.to]),
          ];
          const secrets = views.filter(v => v.type === 'secret' || v.sensitive);
          expect(secrets.map(v => [v.value, v.masked])).toEqual(
            secrets.map(() => [CONFIG_SECRET_MASK, true]),
          );
        }),
      );
    });
  });
});
