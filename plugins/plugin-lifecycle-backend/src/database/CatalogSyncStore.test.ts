import { Knex } from 'knex';
import { createTestDatabases } from '../__testUtils__/databases';
import { applyDatabaseMigrations } from './migrations';
import { CatalogSyncStore } from './CatalogSyncStore';

jest.setTimeout(60_000);

const databases = createTestDatabases();
const AT = new Date('2026-12-05T10:00:00.000Z');

describe.each(databases.eachSupportedId())(
  'CatalogSyncStore on %s',
  databaseId => {
    let knex: Knex;

    beforeEach(async () => {
      knex = await databases.init(databaseId);
      await applyDatabaseMigrations({ getClient: async () => knex });
    });

    afterEach(async () => {
      await knex.destroy();
    });

    it('writes, replaces and reads records, optional fields left out', async () => {
      const store = CatalogSyncStore.create({ db: knex });
      expect(await store.get('sample')).toBeUndefined();
      await store.put({ pluginId: 'other', status: 'not-installed' }, AT);
      const first = await store.put(
        {
          pluginId: 'sample',
          entityRef: 'component:default/sample',
          actedOn: '{"version":"1.1.0"}',
          deploymentId: 'd1',
          status: 'deployment-started',
          reason: 'declared by component:default/sample',
        },
        AT,
      );
      expect(await store.get('sample')).toEqual(first);
      const later = new Date(AT.getTime() + 1000);
      await store.put(
        {
          pluginId: 'sample',
          entityRef: 'component:default/sample',
          status: 'invalid',
          reason: 'bad version',
        },
        later,
      );
      expect(await store.get('sample')).toEqual({
        pluginId: 'sample',
        entityRef: 'component:default/sample',
        status: 'invalid',
        reason: 'bad version',
        updatedAt: later.toISOString(),
      });
      expect(await store.list()).toEqual([
        {
          pluginId: 'other',
          status: 'not-installed',
          updatedAt: AT.toISOString(),
        },
        expect.objectContaining({ pluginId: 'sample' }),
      ]);
    });
  },
);
