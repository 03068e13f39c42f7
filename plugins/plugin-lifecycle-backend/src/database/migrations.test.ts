import { Knex } from 'knex';
import { createTestDatabases } from '../__testUtils__/databases';
import { InstanceStore } from './InstanceStore';
import { migrationsDir } from './migrations';
import { OperationStore } from './OperationStore';
import { PluginStore } from './PluginStore';

jest.setTimeout(60_000);

const databases = createTestDatabases();
const TABLES = [
  'plugins',
  'plugin_versions',
  'plugin_instances',
  'state_transitions',
  'operations',
];
/** Tables later migrations create (not written at the first one). */
const LATER_TABLES = ['deployments'];

/** The first migration: the one the data below is written at. */
const FIRST = '20261125000000_init.js';

const AT = '2026-11-25T10:00:00.000Z';

/** Rows of every table the first migration creates, in its columns only. */
async function writeAtFirstMigration(knex: Knex) {
  await knex('plugins').insert({
    id: 'kept',
    tenant: 't',
    entity_ref: 'component:default/kept',
    runtime: 'process',
    state: 'running',
    revision: 4,
    desired_state: 'running',
    current_version: '1.0.0',
    replicas: 2,
    environment: 'staging',
    configuration: JSON.stringify([{ key: 'a', value: 1 }]),
    probes: JSON.stringify([]),
    last_error: null,
    operation_id: null,
    breaker: JSON.stringify({ status: 'closed', consecutiveFailures: 1 }),
    created_at: AT,
    updated_at: AT,
  });
  await knex('plugin_versions').insert({
    plugin_id: 'kept',
    version: '1.0.0',
    artifact: JSON.stringify({ type: 'tarball', path: '/x/1.0.0.tgz' }),
    manifest: JSON.stringify({}),
    location: '/data/kept/1.0.0',
    installed_at: AT,
  });
  await knex('plugin_instances').insert({
    id: 'kept-1',
    plugin_id: 'kept',
    version: '1.0.0',
    track: 'stable',
    runtime: 'process',
    host: '127.0.0.1',
    port: 7100,
    protocol: 'http',
    pid: 4242,
    status: 'running',
    owner: 'replica-a',
    started_at: AT,
  });
  await knex('state_transitions').insert({
    plugin_id: 'kept',
    from_state: 'starting',
    to_state: 'running',
    action: 'start',
    operation_id: 'op-1',
    actor: 'user:default/a',
    reason: 'kept',
    created_at: AT,
  });
  await knex('operations').insert({
    id: 'op-1',
    plugin_id: 'kept',
    tenant: 't',
    type: 'start',
    status: 'succeeded',
    params: JSON.stringify({}),
    attempts: 1,
    max_attempts: 3,
    timeout_ms: 60_000,
    next_attempt_at: AT,
    created_at: AT,
  });
}

describe.each(databases.eachSupportedId())('migrations on %s', databaseId => {
  it('go up and down one at a time', async () => {
    const knex = await databases.init(databaseId);
    const [, pending] = await knex.migrate.list({ directory: migrationsDir });
    expect(pending.length).toBeGreaterThan(0);

    for (let i = 0; i < pending.length; i++) {
      await knex.migrate.up({ directory: migrationsDir });
    }
    for (const table of [...TABLES, ...LATER_TABLES]) {
      expect(await knex.schema.hasTable(table)).toBe(true);
    }
    for (let i = 0; i < pending.length; i++) {
      await knex.migrate.down({ directory: migrationsDir });
    }
    for (const table of [...TABLES, ...LATER_TABLES]) {
      expect(await knex.schema.hasTable(table)).toBe(false);
    }
    await knex.destroy();
  });

  it('keep data written at the first migration through every later one', async () => {
    const knex = await databases.init(databaseId);
    const [, pending] = await knex.migrate.list({ directory: migrationsDir });
    const later = pending.length - 1;
    expect(later).toBeGreaterThan(0);

    await knex.migrate.up({ directory: migrationsDir, name: FIRST });
    expect(
      await knex.migrate.currentVersion({ directory: migrationsDir }),
    ).toBe(FIRST.split('_')[0]);
    await writeAtFirstMigration(knex);
    const firstColumns = Object.fromEntries(
      await Promise.all(
        TABLES.map(async t => [
          t,
          Object.keys(await knex(t).columnInfo()).sort(),
        ]),
      ),
    ) as Record<string, string[]>;
    const select = async () => {
      const now: Record<string, unknown[]> = {};
      for (const table of TABLES) {
        now[table] = await knex(table).select(firstColumns[table]);
      }
      return now;
    };
    const written = await select();
    expect(Object.values(written).every(rows => rows.length === 1)).toBe(true);

    // One later migration at a time: the data is all there after each.
    for (let i = 0; i < later; i++) {
      const before = await knex.migrate.currentVersion({
        directory: migrationsDir,
      });
      await knex.migrate.up({ directory: migrationsDir });
      expect(
        await knex.migrate.currentVersion({ directory: migrationsDir }),
      ).not.toBe(before);
      expect(await select()).toEqual(written);
    }
    const [, left] = await knex.migrate.list({ directory: migrationsDir });
    expect(left).toEqual([]);

    // ...and the stores read it as they read their own.
    const plugin = await PluginStore.create({ db: knex }).getOrThrow('kept');
    expect(plugin).toMatchObject({
      state: 'running',
      revision: 4,
      currentVersion: '1.0.0',
      replicas: 2,
      environment: 'staging',
      configuration: [{ key: 'a', value: 1 }],
      breaker: { status: 'closed', consecutiveFailures: 1 },
      configRevision: undefined,
      createdAt: AT,
    });
    expect(
      await PluginStore.create({ db: knex }).getVersion('kept', '1.0.0'),
    ).toMatchObject({ location: '/data/kept/1.0.0', installedAt: AT });
    expect(
      (await PluginStore.create({ db: knex }).history('kept')).map(h => [
        h.fromState,
        h.toState,
        h.operationId,
      ]),
    ).toEqual([['starting', 'running', 'op-1']]);
    expect(await OperationStore.create({ db: knex }).get('op-1')).toMatchObject(
      { status: 'succeeded', attempts: 1, maxAttempts: 3, createdAt: AT },
    );
    expect(
      (await InstanceStore.create({ db: knex }).listForPlugin('kept')).map(
        i => [i.id, i.port, i.status],
      ),
    ).toEqual([['kept-1', 7100, 'running']]);
    await knex.destroy();
  });
});
