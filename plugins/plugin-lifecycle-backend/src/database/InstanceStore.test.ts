import { createTestDatabases } from '../__testUtils__/databases';
import { applyDatabaseMigrations } from './migrations';
import { InstanceStore } from './InstanceStore';
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
      return { instances: InstanceStore.create({ db: knex }), plugins };
    }

    it('keeps a bounded history of ended instances and counts crashes', async () => {
      const { instances } = await createStores();
      const base = {
        pluginId: 'p1',
        version: '1.0.0',
        track: 'stable',
        runtime: 'process',
        host: '127.0.0.1',
        protocol: 'http',
        owner: 'replica-a',
        port: 4000,
      };
      for (let i = 0; i < 6; i++) {
        await instances.insert({ ...base, id: `e${i}`, status: 'running' });
        await instances.setStatus(`e${i}`, i % 2 ? 'crashed' : 'stopped');
        await new Promise(r => setTimeout(r, 5)); // distinct start times
      }
      await instances.insert({ ...base, id: 'live', status: 'running' });
      expect(
        (await instances.crashTimes('p1', Date.now() - 60_000)).length,
      ).toBe(3);
      expect(await instances.crashTimes('p1', Date.now() + 1)).toEqual([]);

      expect(await instances.pruneEnded(2)).toBe(4);
      expect(
        (await instances.listForPlugin('p1', { endedOnly: true })).map(
          i => i.id,
        ),
      ).toEqual(['e5', 'e4']);
      expect(
        (await instances.listForPlugin('p1', { activeOnly: true })).map(
          i => i.id,
        ),
      ).toEqual(['live']);
    });

    it("forgets one plugin's ended instances, not its active ones nor another plugin's", async () => {
      const { instances, plugins } = await createStores();
      await plugins.create({ id: 'p2', tenant: 't', runtime: 'process' });
      const base = {
        version: '1.0.0',
        track: 'stable',
        runtime: 'process',
        host: '127.0.0.1',
        protocol: 'http',
        owner: 'replica-a',
        port: 4000,
        status: 'running' as const,
      };
      for (const [id, pluginId] of [
        ['a1', 'p1'],
        ['a2', 'p1'],
        ['b1', 'p2'],
      ]) {
        await instances.insert({ ...base, id, pluginId });
        await instances.setStatus(id, id === 'a2' ? 'crashed' : 'stopped');
      }
      await instances.insert({ ...base, id: 'a-live', pluginId: 'p1' });

      expect(await instances.deleteEnded('p1')).toBe(2);
      expect((await instances.listForPlugin('p1')).map(i => i.id)).toEqual([
        'a-live',
      ]);
      expect((await instances.listForPlugin('p2')).map(i => i.id)).toEqual([
        'b1',
      ]);
      expect(await instances.deleteEnded('p1')).toBe(0);
    });

    it("records what identifies an instance's process, and hands it over to one new owner", async () => {
      const { instances } = await createStores();
      const base = {
        pluginId: 'p1',
        version: '1.0.0',
        track: 'stable',
        runtime: 'process',
        host: '127.0.0.1',
        protocol: 'http',
        owner: 'gone-replica',
        port: 4000,
        status: 'running' as const,
      };
      await instances.insert({
        ...base,
        id: 'adoptable',
        pid: 4242,
        processGroup: 4242,
        processStartTime: '123456789',
      });
      await instances.insert({ ...base, id: 'old-row', pid: 77 });
      const active = await instances.listActive();
      expect(active.find(i => i.id === 'adoptable')).toMatchObject({
        pid: 4242,
        processGroup: 4242,
        processStartTime: '123456789',
      });
      const old = active.find(i => i.id === 'old-row')!;
      expect(old.processGroup).toBeUndefined();
      expect(old.processStartTime).toBeUndefined();
      // The API's view does not carry them.
      expect(await instances.get('adoptable')).not.toHaveProperty(
        'processStartTime',
      );

      // Two replicas try to take it over: one gets it.
      expect(await instances.claim('adoptable', 'gone-replica', 'r1')).toBe(
        true,
      );
      expect(await instances.claim('adoptable', 'gone-replica', 'r2')).toBe(
        false,
      );
      expect((await instances.get('adoptable'))!.owner).toBe('r1');
      // An ended instance is nobody's to claim.
      await instances.setStatus('old-row', 'stopped');
      expect(await instances.claim('old-row', 'gone-replica', 'r1')).toBe(
        false,
      );
    });

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
  },
);
