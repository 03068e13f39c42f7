import { randomBytes } from 'node:crypto';
import { mockServices } from '@backstage/backend-test-utils';
import { Knex } from 'knex';
import { createTestDatabases } from '../__testUtils__/databases';
import {
  externalArtifact,
  waitForSystemDeployment,
} from '../__testUtils__/deploymentSystem';
import { makeTempDir } from '../__testUtils__/sampleArtifacts';
import { readPluginLifecycleConfig } from '../config';
import { applyDatabaseMigrations } from '../database/migrations';
import { ExternalRuntime } from '../engines/runtime/ExternalRuntime';
import { RuntimeRegistry } from '../engines/runtime/RuntimeRegistry';
import { createOrchestrationSystem } from '../wiring/createOrchestrationSystem';
import { PluginLifecycleOrchestrationSystem } from './PluginLifecycleOrchestrationSystem';

jest.setTimeout(60_000);

const databases = createTestDatabases();

/**
 * An update's deployment is created before its operation is queued; an
 * update cancelled while still queued never runs to hand it over.
 */
describe.each(databases.eachSupportedId())(
  'an update cancelled while queued on %s',
  databaseId => {
    let knex: Knex;
    let system: PluginLifecycleOrchestrationSystem;
    /** Ends the `restart` that holds the plugin's operation slot. */
    let release: () => void = () => {};
    const released = new Promise<void>(resolve => {
      release = resolve;
    });

    beforeAll(async () => {
      knex = await databases.init(databaseId);
      await applyDatabaseMigrations({ getClient: async () => knex });
      system = await createOrchestrationSystem({
        logger: mockServices.logger.mock(),
        db: knex,
        config: readPluginLifecycleConfig(
          mockServices.rootConfig({
            data: {
              pluginLifecycle: {
                dataDir: makeTempDir('plugin-lifecycle-cancelled-update-'),
                configuration: {
                  encryption: {
                    keys: [
                      { id: 'k1', secret: randomBytes(32).toString('base64') },
                    ],
                  },
                },
                orchestrator: { pollInterval: 20 },
                deployments: { tickInterval: 50 },
              },
            },
          }),
        ),
        runtimes: RuntimeRegistry.create([ExternalRuntime.create()]),
        replicaId: 'test-replica',
        extraHandlers: {
          restart: async () => {
            await released;
            return {};
          },
        },
      });
    });

    afterAll(async () => {
      release();
      await system?.shutdown();
      await knex?.destroy();
    });

    it('ends its pending deployment failed, so the next update is not refused', async () => {
      const install = await system.installPlugin('sample', '1.0.0', {
        artifact: externalArtifact,
        healthProbes: [],
        start: true,
      });
      expect(await system.waitForOperation(install.operationId)).toMatchObject({
        status: 'succeeded',
      });
      // A restart holds the plugin's slot: the update waits behind it.
      const restart = await system.restartPlugin('sample');
      const update = await system.updatePlugin('sample', '1.1.0', {
        artifact: externalArtifact,
      });
      expect(update.deploymentId).toEqual(expect.any(String));
      await system.cancelOperation(update.operationId);
      expect(await system.waitForOperation(update.operationId)).toMatchObject({
        status: 'cancelled',
        attempts: 0,
      });
      expect(
        await waitForSystemDeployment(system, update.deploymentId!, {
          timeoutMs: 10_000,
        }),
      ).toMatchObject({
        phase: 'failed',
        message: `its update ${update.operationId} was cancelled before it ran`,
      });
      release();
      expect(await system.waitForOperation(restart.operationId)).toMatchObject({
        status: 'succeeded',
      });

      const next = await system.updatePlugin('sample', '1.1.0', {
        artifact: externalArtifact,
      });
      expect(await system.waitForOperation(next.operationId)).toMatchObject({
        status: 'succeeded',
      });
      expect(
        await waitForSystemDeployment(system, next.deploymentId!),
      ).toMatchObject({ phase: 'succeeded' });
      expect(await system.getPlugin('sample')).toMatchObject({
        state: 'running',
        currentVersion: '1.1.0',
      });
    });
  },
);
