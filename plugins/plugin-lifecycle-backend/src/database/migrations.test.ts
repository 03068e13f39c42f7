import { createTestDatabases } from '../__testUtils__/databases';
import { migrationsDir } from './migrations';

jest.setTimeout(60_000);

const databases = createTestDatabases();
const TABLES = [
  'plugins',
  'plugin_versions',
  'plugin_instances',
  'state_transitions',
  'operations',
];

describe.each(databases.eachSupportedId())('migrations on %s', databaseId => {
  it('go up and down one at a time, and data survives going up', async () => {
    const knex = await databases.init(databaseId);
    const [, pending] = await knex.migrate.list({ directory: migrationsDir });
    expect(pending.length).toBeGreaterThan(0);

    for (let i = 0; i < pending.length; i++) {
      await knex.migrate.up({ directory: migrationsDir });
    }
    for (const table of TABLES) {
      expect(await knex.schema.hasTable(table)).toBe(true);
    }
    await knex('plugins').insert({
      id: 'kept',
      tenant: 't',
      runtime: 'process',
      state: 'inactive',
      revision: 0,
      replicas: 1,
      created_at: new Date().toISOString(),
      updated_at: new Date().toISOString(),
    });
    await knex.migrate.latest({ directory: migrationsDir });
    expect(await knex('plugins').pluck('id')).toEqual(['kept']);

    for (let i = 0; i < pending.length; i++) {
      await knex.migrate.down({ directory: migrationsDir });
    }
    for (const table of TABLES) {
      expect(await knex.schema.hasTable(table)).toBe(false);
    }
    await knex.destroy();
  });
});
