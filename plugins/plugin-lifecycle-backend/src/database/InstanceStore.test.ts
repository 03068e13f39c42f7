import { createTestDatabases } from '../__testUtils__/databases';
import { applyDatabaseMigrations } from './migrations';
import { InstanceStore } from './InstanceStore';
import { OperationStore } from './OperationStore';
import { PluginStore } from './PluginStore';

jest.setTimeout(60_000);

const databases = createTestDatabases();

describe.each(databases.eachSupportedId())(
  'InstanceStore and OperationStore on %s',
  databaseId => {
    async function createStores() {
      const knex = await databases.init(databaseId);
      await applyDatabaseMigrations({ getClient: async () => knex });
      const plugins = PluginStore.create({ db: knex });
      await plugins.create({ id: 'p1', tenant: 't', runtime: 'process' });
      return {
        instances: InstanceStore.create({ db: knex }),
        operations: OperationStore.create({ db: knex }),
      };
    }

    it('tracks an instance from start to stop', async () => {
      const { instances } = await createStores();
      const base = {
        pluginId: 'p1',
        version: '1.0.0',
        track: 'stable',
        runtime: 'process',
        host: '127.0.0.1',
        protocol: 'http',
        owner: 'replica-a',
      };
      await instances.insert({
        ...base,
        id: 'i1',
        port: 4001,
        pid: 123,
        status: 'starting',
      });
      await instances.insert({
        ...base,
        id: 'i2',
        port: 4002,
        status: 'running',
      });
      await instances.setStatus('i1', 'running');
      expect(
        (await instances.listActive({ owner: 'replica-a' }))
          .map(i => i.id)
          .sort(),
      ).toEqual(['i1', 'i2']);

      await instances.setStatus('i1', 'crashed', {
        exitCode: 3,
        lastError: 'boom',
      });
      const crashed = await instances.get('i1');
      expect(crashed).toMatchObject({
        status: 'crashed',
        exitCode: 3,
        lastError: 'boom',
        pid: 123,
        port: 4001,
      });
      expect(crashed!.stoppedAt).toBeDefined();
      expect(
        (await instances.listForPlugin('p1', { activeOnly: true })).map(
          i => i.id,
        ),
      ).toEqual(['i2']);
      expect(await instances.listForPlugin('p1')).toHaveLength(2);
    });

    it('records an operation through its life', async () => {
      const { operations } = await createStores();
      await operations.create({
        id: 'op-1',
        pluginId: 'p1',
        tenant: 't',
        type: 'install',
        actor: 'user:default/alice',
        params: { version: '1.0.0' },
      });
      expect(await operations.get('op-1')).toMatchObject({
        status: 'queued',
        attempts: 0,
        params: { version: '1.0.0' },
      });
      expect((await operations.listUnfinished()).map(o => o.id)).toEqual([
        'op-1',
      ]);

      await operations.markRunning('op-1');
      expect(await operations.get('op-1')).toMatchObject({
        status: 'running',
        attempts: 1,
      });

      await operations.markFinished('op-1', {
        status: 'failed',
        error: 'no such version',
      });
      const failed = await operations.get('op-1');
      expect(failed).toMatchObject({
        status: 'failed',
        error: 'no such version',
      });
      expect(failed.finishedAt).toBeDefined();
      expect(await operations.listUnfinished()).toEqual([]);
      await expect(operations.get('nope')).rejects.toThrow(
        "No operation with id 'nope'",
      );
    });
  },
);
