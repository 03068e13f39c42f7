import { ConflictError, NotFoundError } from '@backstage/errors';
import { createTestDatabases } from '../__testUtils__/databases';
import { applyDatabaseMigrations } from './migrations';
import { PluginStore } from './PluginStore';

jest.setTimeout(60_000);

const databases = createTestDatabases();

describe.each(databases.eachSupportedId())('PluginStore on %s', databaseId => {
  async function createStore() {
    const knex = await databases.init(databaseId);
    await applyDatabaseMigrations({ getClient: async () => knex });
    return { store: PluginStore.create({ db: knex }), knex };
  }

  it('creates a plugin in the inactive state at revision 0', async () => {
    const { store } = await createStore();
    const plugin = await store.create({
      id: 'p1',
      tenant: 't1',
      runtime: 'process',
      replicas: 2,
    });
    expect(plugin).toMatchObject({
      id: 'p1',
      tenant: 't1',
      runtime: 'process',
      state: 'inactive',
      revision: 0,
      replicas: 2,
      configuration: [],
      probes: [],
    });
    expect(new Date(plugin.createdAt).getTime()).toBeGreaterThan(
      Date.now() - 60_000,
    );
    await expect(
      store.create({ id: 'p1', tenant: 't1', runtime: 'process' }),
    ).rejects.toThrow(ConflictError);
  });

  it('transitions with optimistic concurrency and records history in order', async () => {
    const { store } = await createStore();
    const created = await store.create({
      id: 'p1',
      tenant: 't',
      runtime: 'process',
    });
    const installing = await store.transition({
      pluginId: 'p1',
      from: 'inactive',
      to: 'installing',
      expectedRevision: created.revision,
      action: 'install',
      operationId: 'op-1',
      actor: 'user:default/alice',
      reason: 'install 1.0.0',
    });
    expect(installing).toMatchObject({ state: 'installing', revision: 1 });

    // A writer that read revision 0 loses, and nothing changes.
    await expect(
      store.transition({
        pluginId: 'p1',
        from: 'inactive',
        to: 'installing',
        expectedRevision: 0,
        action: 'install',
      }),
    ).rejects.toThrow(
      /expected state 'inactive' at revision 0, found 'installing' at revision 1/,
    );

    await store.transition({
      pluginId: 'p1',
      from: 'installing',
      to: 'installed',
      expectedRevision: 1,
      action: 'install',
      patch: {
        currentVersion: '1.0.0',
        configuration: [{ key: 'a', value: 1, type: 'number' }],
        lastError: undefined,
      },
    });
    const plugin = await store.getOrThrow('p1');
    expect(plugin).toMatchObject({
      state: 'installed',
      revision: 2,
      currentVersion: '1.0.0',
      configuration: [{ key: 'a', value: 1, type: 'number' }],
    });
    expect(plugin.lastError).toBeUndefined();

    const history = await store.history('p1');
    expect(history.map(h => [h.fromState, h.toState, h.action])).toEqual([
      ['inactive', 'installing', 'install'],
      ['installing', 'installed', 'install'],
    ]);
    expect(history[0]).toMatchObject({
      operationId: 'op-1',
      actor: 'user:default/alice',
      reason: 'install 1.0.0',
    });
  });

  it('answers NotFound for unknown plugins', async () => {
    const { store } = await createStore();
    await expect(store.getOrThrow('nope')).rejects.toThrow(NotFoundError);
    await expect(
      store.transition({
        pluginId: 'nope',
        from: 'inactive',
        to: 'installing',
        expectedRevision: 0,
        action: 'install',
      }),
    ).rejects.toThrow(NotFoundError);
    await expect(store.change('nope', () => ({ replicas: 2 }))).rejects.toThrow(
      NotFoundError,
    );
  });

  it('lists with filters', async () => {
    const { store } = await createStore();
    await store.create({
      id: 'a',
      tenant: 't1',
      runtime: 'process',
      entityRef: 'component:default/a',
    });
    await store.create({ id: 'b', tenant: 't2', runtime: 'process' });
    expect((await store.list()).map(p => p.id)).toEqual(['a', 'b']);
    expect((await store.list({ tenant: 't2' })).map(p => p.id)).toEqual(['b']);
    expect(
      (await store.list({ entityRef: 'component:default/a' })).map(p => p.id),
    ).toEqual(['a']);
    expect(await store.list({ state: 'running' })).toEqual([]);
  });

  it('stores versions with their artifact and manifest', async () => {
    const { store } = await createStore();
    await store.create({ id: 'p1', tenant: 't', runtime: 'process' });
    const version = {
      pluginId: 'p1',
      version: '1.0.0',
      artifact: { type: 'tarball' as const, path: '/x/${version}.tgz' },
      manifest: {
        probes: [
          { name: 'r', type: 'readiness' as const, method: 'tcp' as const },
        ],
      },
      location: '/data/p1/1.0.0',
      installedAt: new Date().toISOString(),
    };
    await store.putVersion(version);
    await store.putVersion({ ...version, location: '/data/p1/1.0.0-again' });
    expect(await store.listVersions('p1')).toEqual([
      { ...version, location: '/data/p1/1.0.0-again' },
    ]);
    expect(await store.getVersion('p1', '9.9.9')).toBeUndefined();
    await store.deleteVersion('p1', '1.0.0');
    expect(await store.listVersions('p1')).toEqual([]);
  });
  it('applies transitions made at the same moment each on its own terms', async () => {
    const { store } = await createStore();
    const ids = Array.from({ length: 30 }, (_, i) => `p${i}`);
    for (const id of ids) {
      await store.create({ id, tenant: 't', runtime: 'process' });
    }
    const results = await Promise.allSettled([
      ...ids.map((id, i) =>
        store.applyTransition({
          pluginId: id,
          from: 'inactive',
          to: i % 2 ? 'installing' : 'installed',
          // p7 was read at a revision it no longer has
          expectedRevision: id === 'p7' ? 3 : 0,
          action: 'install',
          operationId: `op-${id}`,
          actor: i % 3 ? 'user:default/a' : undefined,
          reason: `reason ${i}`,
          patch:
            i % 2
              ? undefined
              : {
                  currentVersion: `1.0.${i}`,
                  desiredState: 'installed',
                  lastError: undefined,
                  probes: [],
                  replicas: 3,
                  environment: i % 4 ? 'staging' : undefined,
                  configRevision: i,
                },
        }),
      ),
      store.applyTransition({
        pluginId: 'nope',
        from: 'inactive',
        to: 'installing',
        expectedRevision: 0,
        action: 'install',
      }),
    ]);
    expect(results.map(r => r.status)).toEqual([
      ...ids.map(id => (id === 'p7' ? 'rejected' : 'fulfilled')),
      'rejected',
    ]);
    expect((results[7] as PromiseRejectedResult).reason).toBeInstanceOf(
      ConflictError,
    );
    expect((results[30] as PromiseRejectedResult).reason).toBeInstanceOf(
      NotFoundError,
    );
    const seen = await Promise.all(
      ids.map(async id => {
        const plugin = await store.getOrThrow(id);
        return {
          state: plugin.state,
          revision: plugin.revision,
          operationId: plugin.operationId,
          currentVersion: plugin.currentVersion,
          desiredState: plugin.desiredState,
          replicas: plugin.replicas,
          environment: plugin.environment,
          configRevision: plugin.configRevision,
          probes: plugin.probes,
          history: (await store.history(id)).map(h => ({
            fromState: h.fromState,
            toState: h.toState,
            operationId: h.operationId,
            actor: h.actor,
            reason: h.reason,
          })),
        };
      }),
    );
    const untouched = {
      state: 'inactive',
      revision: 0,
      operationId: undefined,
      currentVersion: undefined,
      desiredState: undefined,
      replicas: 1,
      environment: undefined,
      configRevision: undefined,
      probes: [],
      history: [],
    };
    expect(seen).toEqual(
      ids.map((id, i) => {
        if (id === 'p7') return untouched;
        const history = [
          {
            fromState: 'inactive',
            toState: i % 2 ? 'installing' : 'installed',
            operationId: `op-${id}`,
            actor: i % 3 ? 'user:default/a' : undefined,
            reason: `reason ${i}`,
          },
        ];
        return i % 2
          ? {
              ...untouched,
              state: 'installing',
              revision: 1,
              operationId: `op-${id}`,
              history,
            }
          : {
              ...untouched,
              state: 'installed',
              revision: 1,
              currentVersion: `1.0.${i}`,
              desiredState: 'installed',
              replicas: 3,
              environment: i % 4 ? 'staging' : undefined,
              configRevision: i,
              history,
            };
      }),
    );
  });

  it('lets one of two transitions from the same revision win', async () => {
    const { store } = await createStore();
    await store.create({ id: 'p1', tenant: 't', runtime: 'process' });
    const attempt = (operationId: string) =>
      store.applyTransition({
        pluginId: 'p1',
        from: 'inactive',
        to: 'installing',
        expectedRevision: 0,
        action: 'install',
        operationId,
      });
    const results = await Promise.allSettled([attempt('a'), attempt('b')]);
    expect(results.map(r => r.status).sort()).toEqual([
      'fulfilled',
      'rejected',
    ]);
    expect(await store.history('p1')).toHaveLength(1);
    expect(await store.getOrThrow('p1')).toMatchObject({ revision: 1 });
  });

  it('reads and creates several plugins at once', async () => {
    const { store } = await createStore();
    const created = await store.createMany([
      { id: 'a', tenant: 't1', runtime: 'process' },
      { id: 'b', tenant: 't2', runtime: 'external', replicas: 2 },
    ]);
    expect(created.map(p => [p.id, p.state, p.replicas])).toEqual([
      ['a', 'inactive', 1],
      ['b', 'inactive', 2],
    ]);
    const [a, missing, b] = await Promise.all([
      store.get('a'),
      store.get('missing'),
      store.get('b'),
    ]);
    expect([a?.tenant, missing, b?.runtime]).toEqual([
      't1',
      undefined,
      'external',
    ]);
    const many = await store.getMany(['b', 'missing', 'a', 'b']);
    expect([...many.keys()].sort()).toEqual(['a', 'b']);
    expect(many.get('b')).toMatchObject({ tenant: 't2', replicas: 2 });
    // one that exists: none is created
    await expect(
      store.createMany([
        { id: 'c', tenant: 't', runtime: 'process' },
        { id: 'a', tenant: 't', runtime: 'process' },
      ]),
    ).rejects.toThrow("Plugin 'a' already exists");
    expect(await store.get('c')).toBeUndefined();
    expect(await store.createMany([])).toEqual([]);
  });

  it('stores versions given at the same moment, the same one twice too', async () => {
    const { store } = await createStore();
    await store.create({ id: 'p1', tenant: 't', runtime: 'process' });
    await store.create({ id: 'p2', tenant: 't', runtime: 'process' });
    const version = (pluginId: string, v: string, location: string) => ({
      pluginId,
      version: v,
      artifact: { type: 'tarball' as const, path: `/x/${v}.tgz` },
      manifest: {},
      location,
      installedAt: new Date().toISOString(),
    });
    await Promise.all([
      store.putVersion(version('p1', '1.0.0', 'first')),
      store.putVersion(version('p2', '1.0.0', 'p2')),
      store.putVersion(version('p1', '1.0.0', 'second')),
      store.putVersion(version('p1', '2.0.0', 'other')),
    ]);
    expect(
      (await store.listVersions('p1')).map(v => [v.version, v.location]).sort(),
    ).toEqual([
      ['1.0.0', 'second'],
      ['2.0.0', 'other'],
    ]);
    expect((await store.listVersions('p2')).map(v => v.location)).toEqual([
      'p2',
    ]);
  });
});
