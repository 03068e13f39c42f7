import { ConfigurationEntry } from '@internal/plugin-lifecycle-common';
import { validateAgainstSchema, validateEntries } from './validation';

describe('validateEntries', () => {
  it('accepts valid entries of every type', () => {
    const entries: ConfigurationEntry[] = [
      { key: 's', value: 'text', type: 'string' },
      { key: 'empty', value: '', type: 'string' },
      { key: 'n', value: -1.5, type: 'number', required: true },
      { key: 'b', value: false, type: 'boolean', required: true },
      { key: 'j.null', value: null, type: 'json' },
      { key: 'j.obj', value: { a: [1, 'x', { b: null }] }, type: 'json' },
      { key: 'j.bare', value: Object.create(null), type: 'json' },
      {
        key: 'secret',
        value: 'pw',
        type: 'secret',
        required: true,
        rotateAt: '2030-01-01T00:00:00Z',
      },
    ];
    expect(validateEntries(entries)).toEqual([]);
  });

  it.each([
    ['string', 42, 'must be a string, got a number'],
    ['string', null, 'must be a string, got null'],
    ['number', '42', 'must be a finite number, got a string'],
    ['number', Number.NaN, 'must be a finite number, got NaN'],
    ['number', Infinity, 'must be a finite number, got Infinity'],
    ['boolean', 'true', 'must be true or false, got a string'],
    ['boolean', 0, 'must be true or false, got a number'],
    ['secret', '', 'must be a non-empty string, got a string'],
    ['secret', 123, 'must be a non-empty string, got a number'],
    ['json', undefined, 'must be a JSON value: undefined'],
    ['json', () => 1, 'must be a JSON value: a function'],
    ['json', 10n, 'must be a JSON value: a bigint'],
    [
      'json',
      { a: [1, undefined] },
      'must be a JSON value: undefined at $.a[1]',
    ],
    ['json', { d: new Date(0) }, 'must be a JSON value: a Date at $.d'],
    ['json', new Map(), 'must be a JSON value: a Map'],
    ['json', [Number.NaN], 'must be a JSON value: NaN at $[0]'],
  ] as Array<[ConfigurationEntry['type'], unknown, string]>)(
    'rejects type %s with %p',
    (type, value, message) => {
      expect(validateEntries([{ key: 'k', value, type }])).toEqual([
        { key: 'k', message },
      ]);
    },
  );

  it('rejects a circular json value', () => {
    const value: Record<string, unknown> = { a: 1 };
    value.self = { back: value };
    expect(validateEntries([{ key: 'k', value, type: 'json' }])).toEqual([
      {
        key: 'k',
        message: 'must be a JSON value: a circular reference at $.self.back',
      },
    ]);
  });

  it('accepts the same object twice when it is not a cycle', () => {
    const shared = { x: 1 };
    expect(
      validateEntries([{ key: 'k', value: [shared, shared], type: 'json' }]),
    ).toEqual([]);
  });

  it.each([
    ['string', ''],
    ['string', undefined],
    ['json', null],
    ['number', null],
    ['secret', ''],
  ] as Array<[ConfigurationEntry['type'], unknown]>)(
    'reports a required %s entry without a value (%p) once',
    (type, value) => {
      expect(
        validateEntries([{ key: 'k', value, type, required: true }]),
      ).toEqual([{ key: 'k', message: 'is required but has no value' }]);
    },
  );

  it('allows rotateAt only on secrets, and only as a date', () => {
    expect(
      validateEntries([
        {
          key: 'plain',
          value: 'x',
          type: 'string',
          sensitive: true,
          rotateAt: '2030-01-01T00:00:00Z',
        },
        { key: 'secret', value: 'x', type: 'secret', rotateAt: 'soon' },
      ]),
    ).toEqual([
      {
        key: 'plain',
        message:
          "rotateAt is only allowed on secret entries, not on type 'string'",
      },
      { key: 'secret', message: 'rotateAt must be an ISO 8601 date' },
    ]);
  });

  it('reports each duplicated key once', () => {
    expect(
      validateEntries([
        { key: 'a', value: 'x', type: 'string' },
        { key: 'b', value: 1, type: 'number' },
        { key: 'a', value: 'y', type: 'string' },
        { key: 'a', value: 'z', type: 'string' },
      ]),
    ).toEqual([
      { key: 'a', message: 'appears 3 times; each key may appear only once' },
    ]);
  });

  it('reports every problem, not just the first', () => {
    expect(
      validateEntries([
        { key: 'a', value: 1, type: 'string' },
        { key: 'a', value: 'ok', type: 'string' },
        { key: 'b', value: '', type: 'secret', required: true },
        {
          key: 'c',
          value: 'yes',
          type: 'boolean',
          rotateAt: '2030-01-01T00:00:00Z',
        },
      ]),
    ).toEqual([
      { key: 'a', message: 'appears 2 times; each key may appear only once' },
      { key: 'a', message: 'must be a string, got a number' },
      { key: 'b', message: 'is required but has no value' },
      { key: 'c', message: 'must be true or false, got a string' },
      {
        key: 'c',
        message:
          "rotateAt is only allowed on secret entries, not on type 'boolean'",
      },
    ]);
  });

  it('never puts a value in a message', () => {
    const problems = validateEntries([
      { key: 'a', value: 'hunter2', type: 'number' },
      { key: 'b', value: { pw: 'hunter2' }, type: 'boolean' },
      { key: 'c', value: ['hunter2', undefined], type: 'json' },
    ]);
    expect(problems).toHaveLength(3);
    expect(JSON.stringify(problems)).not.toContain('hunter2');
  });
});

describe('validateAgainstSchema', () => {
  const schema = {
    type: 'object',
    required: ['database.url', 'pool.size'],
    additionalProperties: false,
    properties: {
      'database.url': { type: 'string', minLength: 1 },
      'pool.size': { type: 'integer', minimum: 1 },
      'log.level': { enum: ['debug', 'info', 'warn'] },
      'a/b~c': { type: 'string' },
      features: {
        type: 'object',
        properties: { beta: { type: 'boolean' } },
        additionalProperties: false,
      },
      homepage: { type: 'string', format: 'uri' },
    },
  };

  it('returns nothing without a schema', () => {
    expect(validateAgainstSchema({ anything: 1 }, undefined)).toEqual([]);
  });

  it('returns nothing for a valid document', () => {
    expect(
      validateAgainstSchema(
        {
          'database.url': 'postgres://db',
          'pool.size': 4,
          features: { beta: true },
        },
        schema,
      ),
    ).toEqual([]);
  });

  it('reports every problem by the top-level key it concerns', () => {
    expect(
      validateAgainstSchema(
        {
          'pool.size': 2.5,
          'log.level': 'loud',
          'a/b~c': 1,
          features: { beta: 'yes', gamma: true },
          extra: true,
        },
        schema,
      ),
    ).toEqual([
      { key: 'database.url', message: "is required by the plugin's schema" },
      { key: 'extra', message: "is not a key the plugin's schema allows" },
      { key: 'pool.size', message: 'must be integer' },
      {
        key: 'log.level',
        message:
          'must be equal to one of the allowed values: "debug", "info", "warn"',
      },
      { key: 'a/b~c', message: 'must be string' },
      {
        key: 'features',
        message: "must NOT have additional properties ('gamma')",
      },
      { key: 'features', message: 'at /beta: must be boolean' },
    ]);
  });

  it('names the key for dependencies and property names', () => {
    expect(
      validateAgainstSchema(
        { 'tls.cert': 'x', Bad: 1 },
        {
          type: 'object',
          dependencies: { 'tls.cert': ['tls.key'] },
          propertyNames: { pattern: '^[a-z.]+$' },
        },
      ),
    ).toEqual([
      {
        key: 'Bad',
        message: 'is not a valid key: must match pattern "^[a-z.]+$"',
      },
      {
        key: 'tls.key',
        message: "is required by the plugin's schema when 'tls.cert' is set",
      },
    ]);
  });

  it('reports errors about the document as a whole under (document)', () => {
    expect(
      validateAgainstSchema({ a: 1 }, { type: 'object', maxProperties: 0 }),
    ).toEqual([
      { key: '(document)', message: 'must NOT have more than 0 properties' },
    ]);
  });

  it('explains a failed then, without the bare if error', () => {
    expect(
      validateAgainstSchema(
        { mode: 'tls' },
        {
          if: { properties: { mode: { const: 'tls' } } },
          then: { required: ['tls.cert'] },
        },
      ),
    ).toEqual([
      { key: 'tls.cert', message: "is required by the plugin's schema" },
    ]);
  });

  it('ignores formats it does not know instead of failing', () => {
    expect(
      validateAgainstSchema(
        { 'database.url': 'x', 'pool.size': 1, homepage: 'not a uri' },
        schema,
      ),
    ).toEqual([]);
  });

  it('reports an invalid schema as one problem', () => {
    const problems = validateAgainstSchema({ a: 1 }, { type: 'nope' });
    expect(problems).toEqual([
      {
        key: '(schema)',
        message: expect.stringMatching(
          /^the plugin's configuration schema is invalid: /,
        ),
      },
    ]);
    // and again from the cache
    expect(validateAgainstSchema({ a: 2 }, { type: 'nope' })).toEqual(problems);
    expect(
      validateAgainstSchema({}, { $ref: '#/definitions/missing' }),
    ).toEqual([
      {
        key: '(schema)',
        message: expect.stringContaining('schema is invalid'),
      },
    ]);
  });

  it('runs a catastrophic pattern in linear time (attack: ^(a+)+$ against a+!)', () => {
    // On a backtracking engine each extra "a" doubles the time: 24 take a
    // second, these 5,000 would never end.
    const evil = `${'a'.repeat(5_000)}!`;
    expect(
      validateAgainstSchema(
        { name: evil },
        { properties: { name: { type: 'string', pattern: '^(a+)+$' } } },
      ),
    ).toEqual([{ key: 'name', message: 'must match pattern "^(a+)+$"' }]);
    expect(
      validateAgainstSchema(
        { [evil]: 1 },
        {
          patternProperties: { '^(a|a)*$': { type: 'string' } },
          additionalProperties: false,
        },
      ),
    ).toEqual([
      { key: evil, message: "is not a key the plugin's schema allows" },
    ]);
  });

  it('keeps JavaScript pattern syntax and tells patterns apart', () => {
    const named = {
      properties: {
        a: { type: 'string', pattern: '^(?<word>\\w+)/\\d{2}$' },
        b: { type: 'string', pattern: '^x$' },
      },
    };
    expect(validateAgainstSchema({ a: 'ab/12', b: 'x' }, named)).toEqual([]);
    expect(validateAgainstSchema({ a: 'ab/1', b: 'y' }, named)).toEqual([
      { key: 'a', message: expect.stringContaining('must match pattern') },
      { key: 'b', message: 'must match pattern "^x$"' },
    ]);
  });

  it('refuses a pattern that needs backtracking (backreference, lookahead) as an invalid schema', () => {
    for (const pattern of ['^(a+)\\1$', '^(?=a)a+$']) {
      expect(
        validateAgainstSchema(
          { name: 'aa' },
          { properties: { name: { type: 'string', pattern } } },
        ),
      ).toEqual([
        {
          key: '(schema)',
          message: expect.stringMatching(
            /^the plugin's configuration schema is invalid: /,
          ),
        },
      ]);
    }
  });

  it('accepts two schemas with the same $id', () => {
    const a = {
      $id: 'https://example.com/plugin.json',
      type: 'object',
      required: ['a'],
    };
    const b = {
      $id: 'https://example.com/plugin.json',
      type: 'object',
      required: ['b'],
    };
    expect(validateAgainstSchema({ a: 1 }, a)).toEqual([]);
    expect(validateAgainstSchema({ a: 1 }, b)).toEqual([
      { key: 'b', message: "is required by the plugin's schema" },
    ]);
  });

  it('keeps working when more schemas are used than it caches', () => {
    for (let i = 0; i < 120; i++) {
      const s = { type: 'object', properties: { n: { maximum: i } } };
      expect(validateAgainstSchema({ n: i + 1 }, s)).toEqual([
        { key: 'n', message: `must be <= ${i}` },
      ]);
    }
  });

  it('never puts a value in a message', () => {
    const problems = validateAgainstSchema(
      { 'database.url': 'hunter2', 'pool.size': 'hunter2', features: 'x' },
      schema,
    );
    expect(problems.length).toBeGreaterThan(0);
    expect(JSON.stringify(problems)).not.toContain('hunter2');
  });
});
