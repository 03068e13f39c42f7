import {
  DependencyStatus,
  checkDependenciesRunning,
  findRunningDependents,
  missingRequiredConfiguration,
  withinTenantDependencies,
} from './preconditions';

function lookupFrom(plugins: Record<string, DependencyStatus>) {
  return (pluginId: string) => plugins[pluginId];
}

describe('checkDependenciesRunning', () => {
  it('accepts running dependencies in range', () => {
    expect(
      checkDependenciesRunning(
        [
          { pluginId: 'b', range: '^2.0.0' },
          { pluginId: 'c', range: '>=1.0.0 <1.5.0' },
        ],
        lookupFrom({
          b: { state: 'running', currentVersion: '2.3.1' },
          c: { state: 'running', currentVersion: '1.4.9' },
        }),
      ),
    ).toEqual([]);
  });

  it('accepts no dependencies', () => {
    expect(checkDependenciesRunning([], lookupFrom({}))).toEqual([]);
    expect(checkDependenciesRunning(undefined, lookupFrom({}))).toEqual([]);
  });

  it('explains each unmet dependency', () => {
    expect(
      checkDependenciesRunning(
        [
          { pluginId: 'missing', range: '*' },
          { pluginId: 'b', range: '^2.0.0' },
          { pluginId: 'c', range: '^2.0.0' },
          { pluginId: 'd', range: '^1.0.0' },
        ],
        lookupFrom({
          b: { state: 'installed', currentVersion: '2.0.0' },
          c: { state: 'running', currentVersion: '1.2.0' },
          d: { state: 'running', currentVersion: '1.0.0' },
        }),
      ),
    ).toEqual([
      "'missing' is not installed",
      "'b' is installed, it must be running",
      "'c' runs 1.2.0, which does not satisfy ^2.0.0",
    ]);
  });

  it.each(['starting', 'updating', 'maintenance', 'stopping', 'error'])(
    'requires running, not %s',
    state => {
      expect(
        checkDependenciesRunning(
          [{ pluginId: 'b', range: '*' }],
          lookupFrom({ b: { state, currentVersion: '1.0.0' } }),
        ),
      ).toEqual([`'b' is ${state}, it must be running`]);
    },
  );

  it('does not let pre-releases satisfy plain ranges', () => {
    const deps = [{ pluginId: 'b', range: '^2.0.0' }];
    expect(
      checkDependenciesRunning(
        deps,
        lookupFrom({ b: { state: 'running', currentVersion: '2.1.0-beta.1' } }),
      ),
    ).toEqual(["'b' runs 2.1.0-beta.1, which does not satisfy ^2.0.0"]);
    // unless the range names a pre-release of the same version
    expect(
      checkDependenciesRunning(
        [{ pluginId: 'b', range: '^2.1.0-beta.0' }],
        lookupFrom({ b: { state: 'running', currentVersion: '2.1.0-beta.1' } }),
      ),
    ).toEqual([]);
  });

  it('handles unknown versions and invalid ranges', () => {
    expect(
      checkDependenciesRunning(
        [
          { pluginId: 'b', range: '^1.0.0' },
          { pluginId: 'c', range: '*' },
          { pluginId: 'd', range: 'not a range!' },
          { pluginId: 'e', range: '^1.0.0' },
        ],
        lookupFrom({
          b: { state: 'running' },
          c: { state: 'running' },
          d: { state: 'running', currentVersion: '1.0.0' },
          e: { state: 'running', currentVersion: 'garbage' },
        }),
      ),
    ).toEqual([
      "'b' runs an unknown version, which does not satisfy ^1.0.0",
      "'d' is required with an invalid version range 'not a range!'",
      "'e' runs garbage, which does not satisfy ^1.0.0",
    ]);
  });
});

describe('findRunningDependents', () => {
  const all = [
    { id: 'a', state: 'running', dependencies: ['b'] },
    { id: 'b', state: 'running', dependencies: [] },
    { id: 'c', state: 'starting', dependencies: ['b', 'x'] },
    { id: 'd', state: 'updating', dependencies: ['b'] },
    { id: 'e', state: 'maintenance', dependencies: ['b'] },
    { id: 'f', state: 'installed', dependencies: ['b'] },
    { id: 'g', state: 'error', dependencies: ['b'] },
    { id: 'h', state: 'stopping', dependencies: ['b'] },
    { id: 'i', state: 'running', dependencies: ['a'] },
  ];

  it('lists active plugins that depend on the plugin directly', () => {
    expect(findRunningDependents('b', all)).toEqual(['a', 'c', 'd', 'e']);
  });

  it('does not follow dependencies transitively', () => {
    expect(findRunningDependents('a', all)).toEqual(['i']);
  });

  it('returns nothing without dependents', () => {
    expect(findRunningDependents('i', all)).toEqual([]);
    expect(findRunningDependents('b', [])).toEqual([]);
  });

  it('ignores a plugin that names itself', () => {
    expect(
      findRunningDependents('a', [
        { id: 'a', state: 'running', dependencies: ['a'] },
      ]),
    ).toEqual([]);
  });
});

describe('missingRequiredConfiguration', () => {
  const schema = {
    type: 'object',
    required: ['database.url', 'apiKey', 'region'],
    properties: {},
  };

  it('lists required keys without a value', () => {
    expect(
      missingRequiredConfiguration(schema, [
        { key: 'database.url', value: 'postgres://db' },
        { key: 'apiKey', value: '' },
      ]),
    ).toEqual(['apiKey', 'region']);
  });

  it('counts undefined, null and empty strings as missing', () => {
    expect(
      missingRequiredConfiguration(schema, [
        { key: 'database.url', value: null },
        { key: 'apiKey', value: undefined },
        { key: 'region' },
      ]),
    ).toEqual(['database.url', 'apiKey', 'region']);
  });

  it('counts false, 0 and objects as values', () => {
    expect(
      missingRequiredConfiguration(
        { required: ['enabled', 'port', 'tags', 'options'] },
        [
          { key: 'enabled', value: false },
          { key: 'port', value: 0 },
          { key: 'tags', value: [] },
          { key: 'options', value: {} },
        ],
      ),
    ).toEqual([]);
  });

  it('finds dotted keys inside object values of a prefix', () => {
    expect(
      missingRequiredConfiguration(
        { required: ['database.url', 'database.pool.max', 'database.user'] },
        [
          { key: 'database', value: { url: 'postgres://db' } },
          { key: 'database.pool', value: { max: 10 } },
          { key: 'database.user', value: '' },
        ],
      ),
    ).toEqual(['database.user']);
    expect(
      missingRequiredConfiguration({ required: ['a.b'] }, [
        { key: 'a', value: 'not an object' },
      ]),
    ).toEqual(['a.b']);
    expect(
      missingRequiredConfiguration({ required: ['a.toString'] }, [
        { key: 'a', value: {} },
      ]),
    ).toEqual(['a.toString']);
  });

  it('accepts a schema without required keys', () => {
    expect(missingRequiredConfiguration(undefined, [])).toEqual([]);
    expect(missingRequiredConfiguration({}, [])).toEqual([]);
    expect(missingRequiredConfiguration({ required: 'apiKey' }, [])).toEqual(
      [],
    );
  });

  it('only looks at the top level', () => {
    expect(
      missingRequiredConfiguration(
        {
          required: ['a'],
          properties: { a: { type: 'object', required: ['nested'] } },
        },
        [{ key: 'a', value: { other: 1 } }],
      ),
    ).toEqual([]);
  });

  it('ignores malformed and duplicate required entries', () => {
    expect(
      missingRequiredConfiguration({ required: ['x', 'x', 1, null, ''] }, []),
    ).toEqual(['x']);
  });
});

describe('withinTenantDependencies', () => {
  const view = [
    { id: 'a-db', tenant: 'team-a', state: 'running', dependencies: [] },
    { id: 'a-app', tenant: 'team-a', state: 'running', dependencies: ['a-db'] },
    // Tenant B names tenant A's plugin to hold it running.
    {
      id: 'b-squatter',
      tenant: 'team-b',
      state: 'running',
      dependencies: ['a-db', 'b-later'],
    },
  ];

  it("drops dependencies on another tenant's plugins (attack: block another tenant's stop)", () => {
    const scoped = withinTenantDependencies(view);
    expect(scoped.map(p => p.dependencies)).toEqual([
      [],
      ['a-db'],
      ['b-later'],
    ]);
    expect(findRunningDependents('a-db', scoped)).toEqual(['a-app']);
    // Without the rule, B's plugin would hold A's.
    expect(findRunningDependents('a-db', view)).toEqual([
      'a-app',
      'b-squatter',
    ]);
  });
});
