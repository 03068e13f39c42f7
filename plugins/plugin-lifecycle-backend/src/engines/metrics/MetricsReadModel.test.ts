import { createTestDatabases } from '../../__testUtils__/databases';
import { applyDatabaseMigrations } from '../../database/migrations';
import { ConfigStore } from '../../database/ConfigStore';
import { InstanceStore } from '../../database/InstanceStore';
import { PluginStore } from '../../database/PluginStore';
import { StoreMetricsReadModel } from './MetricsReadModel';

jest.setTimeout(60_000);

const databases = createTestDatabases();

describe.each(databases.eachSupportedId())(
  'StoreMetricsReadModel on %s',
  databaseId => {
    it('reads what the gauges show, once per maxAgeMs', async () => {
      const db = await databases.init(databaseId);
      await applyDatabaseMigrations({ getClient: async () => db });
      const plugins = PluginStore.create({ db });
      await plugins.create({ id: 'p1', tenant: 't', runtime: 'process' });
      await plugins.create({ id: 'p2', tenant: 't', runtime: 'process' });
      const instances = InstanceStore.create({ db });
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
      await instances.insert({ ...base, id: 'i1', status: 'running' });
      await instances.insert({ ...base, id: 'i2', status: 'running' });
      await instances.setStatus('i2', 'stopped');
      const configs = ConfigStore.create({ db });
      for (let i = 0; i < 2; i++) {
        await configs.append({
          pluginId: 'p1',
          layer: 'base',
          entries: [],
          keyIds: [],
        });
      }
      await configs.append({
        pluginId: 'p1',
        layer: 'production',
        entries: [],
        keyIds: [],
      });
      let now = 1_000;
      const model = StoreMetricsReadModel.create({
        db,
        instanceHealth: () => 'healthy',
        configWatchers: () => 3,
        maxAgeMs: 1_000,
        clock: () => now,
      });
      const first = await model.snapshot();
      expect(first).toEqual({
        plugins: [
          { id: 'p1', state: 'inactive' },
          { id: 'p2', state: 'inactive' },
        ],
        // Ended instances are not counted; p1 has no probes: not checked.
        instances: [{ id: 'i1', pluginId: 'p1', health: 'not_checked' }],
        operations: { queued: 0, running: 0 },
        activeDeployments: [],
        configVersions: expect.arrayContaining([
          { pluginId: 'p1', layer: 'base', version: 2 },
          { pluginId: 'p1', layer: 'production', version: 1 },
        ]),
        configWatchers: 3,
      });
      expect(first.configVersions).toHaveLength(2);
      // Every gauge of one scrape gets the same read.
      expect(await model.snapshot()).toBe(first);
      now += 1_000;
      await plugins.create({ id: 'p3', tenant: 't', runtime: 'process' });
      const second = await model.snapshot();
      expect(second).not.toBe(first);
      expect(second.plugins).toHaveLength(3);
    });
  },
);
