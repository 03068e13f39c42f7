import { ConfigurationEntry } from '@internal/plugin-lifecycle-common';
import fc from 'fast-check';
import {
  ConfigLayer,
  compareKeys,
  configDocument,
  mergeLayers,
} from './overlay';

const byKey = (a: { key: string }, b: { key: string }) =>
  compareKeys(a.key, b.key);

const base: ConfigLayer = {
  layer: 'base',
  version: 4,
  entries: [
    { key: 'log.level', value: 'info', type: 'string' },
    { key: 'database.url', value: 'postgres://base', type: 'string' },
    { key: 'pool.size', value: 5, type: 'number' },
  ],
};

const production: ConfigLayer = {
  layer: 'production',
  version: 2,
  entries: [
    {
      key: 'database.url',
      value: 'postgres://prod',
      type: 'string',
      required: true,
    },
    { key: 'api.token', value: 's3cret', type: 'secret' },
  ],
};

describe('mergeLayers', () => {
  it('returns nothing for no layers', () => {
    expect(mergeLayers([])).toEqual([]);
  });

  it('lets a later layer override an earlier one, key by key, sorted by key', () => {
    expect(mergeLayers([base, production])).toEqual([
      {
        key: 'api.token',
        value: 's3cret',
        type: 'secret',
        source: { layer: 'production', version: 2 },
      },
      {
        key: 'database.url',
        value: 'postgres://prod',
        type: 'string',
        required: true,
        source: { layer: 'production', version: 2 },
      },
      {
        key: 'log.level',
        value: 'info',
        type: 'string',
        source: { layer: 'base', version: 4 },
      },
      {
        key: 'pool.size',
        value: 5,
        type: 'number',
        source: { layer: 'base', version: 4 },
      },
    ]);
  });

  it('replaces the whole entry, not only its value', () => {
    const env: ConfigLayer = {
      layer: 'development',
      version: 1,
      entries: [{ key: 'pool.size', value: '7', type: 'string' }],
    };
    const [entry] = mergeLayers([
      { ...base, entries: [{ ...base.entries[2], required: true }] },
      env,
    ]);
    expect(entry).toEqual({
      key: 'pool.size',
      value: '7',
      type: 'string',
      source: { layer: 'development', version: 1 },
    });
  });

  it('does not modify its input', () => {
    const layers = [base, production];
    const before = JSON.stringify(layers);
    const merged = mergeLayers(layers);
    merged[0].value = 'changed';
    expect(JSON.stringify(layers)).toBe(before);
  });

  it('sorts by code unit, not by locale', () => {
    const layer: ConfigLayer = {
      layer: 'base',
      version: 1,
      entries: ['b', 'a', 'B', '_x', 'A.b', 'a-b'].map(key => ({
        key,
        value: key,
        type: 'string' as const,
      })),
    };
    expect(mergeLayers([layer]).map(e => e.key)).toEqual([
      'A.b',
      'B',
      '_x',
      'a',
      'a-b',
      'b',
    ]);
  });

  describe('properties', () => {
    const keyArb = fc.constantFrom('a', 'b', 'c', 'db.url', 'db.user', 'x_1');
    const entryArb = fc.record({
      key: keyArb,
      value: fc.oneof(fc.string(), fc.integer(), fc.boolean()),
      type: fc.constant('json' as const),
    });
    const layersArb = fc.array(
      fc.record({
        layer: fc.constantFrom('base', 'staging', 'production'),
        version: fc.nat({ max: 100 }),
        entries: fc.uniqueArray(entryArb, { selector: e => e.key }),
      }),
      { maxLength: 5 },
    );

    it('has every key of every layer exactly once, from the last layer that has it', () => {
      fc.assert(
        fc.property(layersArb, layers => {
          const merged = mergeLayers(layers);
          const keys = merged.map(e => e.key);
          const expectedKeys = new Set(
            layers.flatMap(l => l.entries.map(e => e.key)),
          );
          expect(new Set(keys)).toEqual(expectedKeys);
          expect(keys).toHaveLength(expectedKeys.size);
          expect(keys).toEqual([...keys].sort());

          for (const entry of merged) {
            const index = layers.findLastIndex(l =>
              l.entries.some(e => e.key === entry.key),
            );
            const layer = layers[index];
            const source = layer.entries.find(e => e.key === entry.key)!;
            expect(entry.value).toBe(source.value);
            expect(entry.source).toEqual({
              layer: layer.layer,
              version: layer.version,
            });
          }
        }),
      );
    });

    it('is the identity (with sources) for a single layer', () => {
      fc.assert(
        fc.property(
          layersArb.filter(l => l.length > 0),
          ([layer]) => {
            const merged = mergeLayers([layer]);
            const stripped = merged.map(
              ({ source: _source, ...entry }) => entry,
            );
            expect(stripped).toEqual([...layer.entries].sort(byKey));
          },
        ),
      );
    });
  });
});

describe('configDocument', () => {
  it('maps each key to its value, keeping keys flat', () => {
    const entries: ConfigurationEntry[] = [
      { key: 'database.url', value: 'postgres://db', type: 'string' },
      { key: 'pool.size', value: 5, type: 'number' },
      { key: 'features', value: { beta: true }, type: 'json' },
      { key: 'enabled', value: false, type: 'boolean' },
    ];
    expect(configDocument(entries)).toEqual({
      'database.url': 'postgres://db',
      'pool.size': 5,
      features: { beta: true },
      enabled: false,
    });
  });

  it('returns an empty document for no entries', () => {
    expect(configDocument([])).toEqual({});
  });

  it('stores a __proto__ key as data', () => {
    const document = configDocument([
      { key: '__proto__', value: { polluted: true }, type: 'json' },
    ]);
    expect(Object.keys(document)).toEqual(['__proto__']);
    expect(Object.getPrototypeOf(document)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('works on merged entries', () => {
    expect(configDocument(mergeLayers([base, production]))).toEqual({
      'api.token': 's3cret',
      'database.url': 'postgres://prod',
      'log.level': 'info',
      'pool.size': 5,
    });
  });
});
