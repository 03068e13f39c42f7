import { ConflictError } from '@backstage/errors';
import { createTestDatabases } from '../../../__testUtils__/databases';
import { BreakerState } from '../../../domain/orchestration';
import { applyDatabaseMigrations } from '../../migrations';
import { PluginStore } from '../../PluginStore';

jest.setTimeout(60_000);

const databases = createTestDatabases();

const open = (failures: number): BreakerState => ({
  status: 'open',
  consecutiveFailures: failures,
  openedAt: 1_000,
});

describe.each(databases.eachSupportedId())(
  'one write path to plugins on %s',
  databaseId => {
    async function createStore() {
      const knex = await databases.init(databaseId);
      await applyDatabaseMigrations({ getClient: async () => knex });
      return PluginStore.create({ db: knex });
    }

    const install = (pluginId: string, expectedRevision: number) => ({
      pluginId,
      from: 'inactive' as const,
      to: 'installing' as const,
      expectedRevision,
      action: 'install',
      operationId: `op-${pluginId}`,
      patch: { desiredState: 'installed' as const },
    });

    it('keeps a breaker written between reading a plugin and moving it', async () => {
      const store = await createStore();
      await store.create({ id: 'p1', tenant: 't', runtime: 'process' });
      const read = await store.getOrThrow('p1');

      const changed = await store.change('p1', () => ({ breaker: open(3) }));
      expect(changed).toMatchObject({ revision: 1, breaker: open(3) });
      const applied = await store.applyTransition(install('p1', read.revision));

      expect(applied).toMatchObject({
        revision: 2,
        rebasedOn: { revision: 1, breaker: open(3), state: 'inactive' },
      });
      expect(await store.getOrThrow('p1')).toMatchObject({
        state: 'installing',
        revision: 2,
        desiredState: 'installed',
        operationId: 'op-p1',
        breaker: open(3),
      });
      expect(await store.history('p1')).toHaveLength(1);
    });

    it('lets a breaker write and a state transition racing each other both survive', async () => {
      const store = await createStore();
      const ids = Array.from({ length: 12 }, (_, i) => `p${i}`);
      await store.createMany(
        ids.map(id => ({ id, tenant: 't', runtime: 'process' })),
      );
      const read = await store.getMany(ids);
      await Promise.all(
        ids.flatMap((id, i) => {
          const transition = store.applyTransition(
            install(id, read.get(id)!.revision),
          );
          const breaker = store.change(id, () => ({ breaker: open(i) }));
          // either may be asked for first
          return i % 2 ? [transition, breaker] : [breaker, transition];
        }),
      );
      for (const [i, id] of ids.entries()) {
        expect(await store.getOrThrow(id)).toMatchObject({
          state: 'installing',
          revision: 2,
          desiredState: 'installed',
          breaker: open(i),
        });
        expect(await store.history(id)).toHaveLength(1);
      }
    });

    it('loses no update among field writes racing each other', async () => {
      const store = await createStore();
      await store.create({ id: 'p1', tenant: 't', runtime: 'process' });
      await Promise.all(
        Array.from({ length: 8 }, () =>
          store.change('p1', current => ({
            breaker: open((current.breaker?.consecutiveFailures ?? 0) + 1),
          })),
        ),
      );
      expect(await store.getOrThrow('p1')).toMatchObject({
        revision: 8,
        breaker: open(8),
      });
    });

    it('writes nothing when the decision is to leave the plugin as it is', async () => {
      const store = await createStore();
      await store.create({ id: 'p1', tenant: 't', runtime: 'process' });
      expect(await store.change('p1', () => undefined)).toMatchObject({
        revision: 0,
      });
      expect(await store.getOrThrow('p1')).toMatchObject({ revision: 0 });
    });

    it('still refuses a transition from a state the plugin left', async () => {
      const store = await createStore();
      await store.create({ id: 'p1', tenant: 't', runtime: 'process' });
      await store.applyTransition(install('p1', 0));
      await store.change('p1', () => ({ breaker: open(1) }));
      await expect(store.applyTransition(install('p1', 0))).rejects.toThrow(
        ConflictError,
      );
      expect(await store.history('p1')).toHaveLength(1);
    });
  },
);
