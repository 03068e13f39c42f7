import { ConfigurationEntry } from '@internal/plugin-lifecycle-common';
import fc from 'fast-check';
import {
  droppedRequiredKeys,
  patchLayer,
  sameLayerContent,
} from './layerWrite';

const layer: ConfigurationEntry[] = [
  { key: 'db.url', value: 'postgres://db', type: 'string', required: true },
  { key: 'api.key', value: 's3cret', type: 'secret', sensitive: true },
  { key: 'pool.size', value: 5, type: 'number', description: 'connections' },
];

describe('patchLayer', () => {
  it('sets the given keys in place, appends new ones and keeps the rest', () => {
    expect(
      patchLayer(layer, {
        entries: [
          { key: 'new.flag', value: true, type: 'boolean' },
          { key: 'pool.size', value: 8, type: 'number' },
        ],
      }).map(e => [e.key, e.value]),
    ).toEqual([
      ['db.url', 'postgres://db'],
      ['api.key', 's3cret'],
      ['pool.size', 8],
      ['new.flag', true],
    ]);
  });

  it('removes the keys named, and ignores a key the layer does not have', () => {
    expect(
      patchLayer(layer, { entries: [], remove: ['api.key', 'absent'] }).map(
        e => e.key,
      ),
    ).toEqual(['db.url', 'pool.size']);
  });

  it('keeps required, sensitive and description unless the entry says', () => {
    const [dbUrl, apiKey, pool] = patchLayer(layer, {
      entries: [
        { key: 'db.url', value: 'postgres://other', type: 'string' },
        { key: 'api.key', value: 'rotated', type: 'secret' },
        { key: 'pool.size', value: 9, type: 'number', description: 'more' },
      ],
    });
    expect(dbUrl).toEqual({
      key: 'db.url',
      value: 'postgres://other',
      type: 'string',
      required: true,
    });
    expect(apiKey.sensitive).toBe(true);
    expect(pool.description).toBe('more');
    const [unmarked] = patchLayer(layer, {
      entries: [{ key: 'db.url', value: 'x', type: 'string', required: false }],
    });
    expect(unmarked.required).toBe(false);
  });

  it('carries rotateAt over only while the entry stays a secret', () => {
    const secret: ConfigurationEntry = {
      key: 'token',
      value: 'a',
      type: 'secret',
      rotateAt: '2030-01-01T00:00:00Z',
    };
    expect(
      patchLayer([secret], {
        entries: [{ key: 'token', value: 'b', type: 'secret' }],
      })[0].rotateAt,
    ).toBe('2030-01-01T00:00:00Z');
    expect(
      patchLayer([secret], {
        entries: [{ key: 'token', value: 'b', type: 'string' }],
      })[0].rotateAt,
    ).toBeUndefined();
  });

  it('is the identity for an empty patch and for the layer itself', () => {
    const entries = fc.uniqueArray(
      fc.record({
        key: fc.stringMatching(/^[a-z][a-z.]{0,8}$/),
        value: fc.oneof(fc.string(), fc.integer()),
        type: fc.constant('json' as const),
        required: fc.option(fc.boolean(), { nil: undefined }),
      }),
      { selector: e => e.key, maxLength: 8 },
    );
    fc.assert(
      fc.property(entries, current => {
        expect(patchLayer(current, { entries: [] })).toEqual(current);
        expect(
          sameLayerContent(current, patchLayer(current, { entries: current })),
        ).toBe(true);
      }),
    );
  });

  it('does not modify its inputs', () => {
    const copy = structuredClone(layer);
    patchLayer(layer, {
      entries: [{ key: 'db.url', value: 'x', type: 'string' }],
      remove: ['pool.size'],
    });
    expect(layer).toEqual(copy);
  });
});

describe('droppedRequiredKeys', () => {
  it('names the required keys the new content leaves out, sorted', () => {
    const before: ConfigurationEntry[] = [
      ...layer,
      { key: 'a.required', value: 1, type: 'number', required: true },
    ];
    expect(droppedRequiredKeys(before, [])).toEqual(['a.required', 'db.url']);
    expect(droppedRequiredKeys(before, layer)).toEqual(['a.required']);
    expect(droppedRequiredKeys(before, before)).toEqual([]);
    // Optional keys may go.
    expect(droppedRequiredKeys(layer, [layer[0]])).toEqual([]);
  });
});

describe('sameLayerContent', () => {
  it('ignores order and absent flags, and compares values deeply', () => {
    const json: ConfigurationEntry = {
      key: 'limits',
      value: { a: 1, b: [1, 2] },
      type: 'json',
    };
    expect(
      sameLayerContent(
        [...layer, json],
        [{ ...json, value: { b: [1, 2], a: 1 } }, ...[...layer].reverse()],
      ),
    ).toBe(true);
    expect(
      sameLayerContent(layer, [
        { ...layer[0], required: true },
        { ...layer[1], required: false },
        layer[2],
      ]),
    ).toBe(true);
  });

  it('sees a changed value, type, flag, description or key set', () => {
    const changes: ConfigurationEntry[][] = [
      [{ ...layer[0], value: 'postgres://other' }, layer[1], layer[2]],
      [layer[0], { ...layer[1], value: 'other secret' }, layer[2]],
      [layer[0], layer[1], { ...layer[2], value: '5', type: 'string' }],
      [{ ...layer[0], required: false }, layer[1], layer[2]],
      [layer[0], layer[1], { ...layer[2], description: 'other' }],
      [layer[0], layer[1]],
    ];
    for (const changed of changes) {
      expect(sameLayerContent(layer, changed)).toBe(false);
    }
  });
});
