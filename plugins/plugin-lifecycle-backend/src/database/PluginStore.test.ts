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
    await expect(store.update('nope', { replicas: 2 })).rejects.toThrow(
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
});
