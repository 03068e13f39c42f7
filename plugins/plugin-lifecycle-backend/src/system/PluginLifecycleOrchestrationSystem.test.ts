import { mockServices } from '@backstage/backend-test-utils';
import { InputError, NotFoundError } from '@backstage/errors';
import { createTestDatabases } from '../__testUtils__/databases';
import {
  isProcessAlive,
  makeTempDir,
  packSampleArtifacts,
} from '../__testUtils__/sampleArtifacts';
import { readPluginLifecycleConfig } from '../config';
import { applyDatabaseMigrations } from '../database/migrations';
import { ExternalRuntime } from '../engines/runtime/ExternalRuntime';
import { ProcessRuntime } from '../engines/runtime/ProcessRuntime';
import { RuntimeRegistry } from '../engines/runtime/RuntimeRegistry';
import { PluginLifecycleOrchestrationSystem } from './PluginLifecycleOrchestrationSystem';

jest.setTimeout(60_000);

const databases = createTestDatabases();

describe.each(databases.eachSupportedId())('the facade on %s', databaseId => {
  let system: PluginLifecycleOrchestrationSystem;
  let artifacts: Awaited<ReturnType<typeof packSampleArtifacts>>;

  beforeAll(async () => {
    artifacts = await packSampleArtifacts();
  });

  async function createSystem(
    dataDir = makeTempDir('plugin-lifecycle-facade-'),
  ) {
    const knex = await databases.init(databaseId);
    await applyDatabaseMigrations({ getClient: async () => knex });
    const config = readPluginLifecycleConfig(
      mockServices.rootConfig({
        data: {
          pluginLifecycle: {
            dataDir,
            runtime: { process: { readyTimeout: 5000, stopGracePeriod: 3000 } },
            orchestrator: { pollInterval: 20 },
            plugins: {
              'my-plugin': {
                artifact: { type: 'tarball', path: artifacts.tarballTemplate },
              },
            },
          },
        },
      }),
    );
    const logger = mockServices.logger.mock();
    const make = () =>
      PluginLifecycleOrchestrationSystem.create({
        logger,
        db: knex,
        config,
        runtimes: RuntimeRegistry.create([
          ProcessRuntime.create({ logger, dataDir }),
          ExternalRuntime.create(),
        ]),
        replicaId: 'test-replica',
      });
    return { make, knex };
  }

  afterEach(async () => {
    await system?.shutdown();
  });

  it('runs the usage example of the original design', async () => {
    const { make } = await createSystem();
    system = await make();
    const events: string[] = [];
    system.on('systemEvent', e => events.push(`${e.component}:${e.event}`));
    const completed: string[] = [];
    system.on('orchestrator:operationCompleted', result =>
      completed.push(result.operationId),
    );

    // As in ORIGINAL-DESIGN.md "Basic Plugin Installation" (plus start: true)
    const result = await system.installPlugin('my-plugin', '1.0.0', {
      userId: 'admin',
      environment: 'production',
      configuration: [
        {
          key: 'database.url',
          value: 'postgresql://localhost:5432/mydb',
          type: 'string',
          required: true,
        },
      ],
      healthProbes: [
        {
          name: 'http-health',
          type: 'liveness',
          method: 'http',
          http: { path: '/health', expectedStatusCodes: [200] },
          periodSeconds: 30,
          failureThreshold: 3,
        },
      ],
      start: true,
    });
    const operation = await system.waitForOperation(result.operationId);
    expect(operation).toMatchObject({ status: 'succeeded', actor: 'admin' });
    expect(completed).toEqual([result.operationId]);
    expect(events).toEqual(
      expect.arrayContaining([
        'orchestrator:operationQueued',
        'orchestrator:operationStarted',
        'stateMachine:stateChanged',
        'orchestrator:operationCompleted',
      ]),
    );

    const plugin = await system.getPlugin('my-plugin');
    expect(plugin).toMatchObject({ state: 'running', currentVersion: '1.0.0' });
    const [instance] = plugin.instances;
    const config = await (
      await fetch(`http://${instance.host}:${instance.port}/config`)
    ).json();
    expect(config).toMatchObject({
      PLUGIN_CONFIG_DATABASE_URL: 'postgresql://localhost:5432/mydb',
      PLUGIN_CONFIG: { 'database.url': 'postgresql://localhost:5432/mydb' },
    });

    const metrics = await system.getSystemMetrics();
    expect(metrics.plugins.byState.running).toBe(1);
    expect(metrics.instances.running).toBe(1);

    await system.waitForOperation(
      (
        await system.stopPlugin('my-plugin', { userId: 'admin' })
      ).operationId,
    );
    expect(isProcessAlive(instance.pid!)).toBe(false);
  });

  it('refuses bad requests before anything is stored', async () => {
    const { make, knex } = await createSystem();
    system = await make();
    await expect(system.installPlugin('My Plugin', '1.0.0')).rejects.toThrow(
      InputError,
    );
    await expect(system.installPlugin('my-plugin', 'one')).rejects.toThrow(
      'Invalid install request: version: must be a semantic version such as 1.2.3',
    );
    await expect(system.startPlugin('my-plugin')).rejects.toThrow(
      NotFoundError,
    );
    expect(Number((await knex('plugins').count({ n: '*' }))[0].n)).toBe(0);
    expect(Number((await knex('operations').count({ n: '*' }))[0].n)).toBe(0);
  });

  it("queues actions behind the plugin's earlier operations and runs them in order", async () => {
    const { make } = await createSystem();
    system = await make();
    const install = await system.installPlugin('my-plugin', '1.0.0');
    // start is not possible from inactive, but it waits behind the install
    const start = await system.startPlugin('my-plugin');
    expect((await system.waitForOperation(start.operationId)).status).toBe(
      'succeeded',
    );
    expect((await system.getOperation(install.operationId)).status).toBe(
      'succeeded',
    );
    expect((await system.getPlugin('my-plugin')).state).toBe('running');
    await system.waitForOperation(
      (
        await system.stopPlugin('my-plugin')
      ).operationId,
    );
    // with nothing queued, a forbidden action is refused at once
    await expect(system.stopPlugin('my-plugin')).rejects.toThrow(
      "Cannot stop plugin 'my-plugin': it is installed",
    );
  });

  it('manages instances someone else runs with the external runtime', async () => {
    const { make } = await createSystem();
    system = await make();
    const op = await system.installPlugin('ext-plugin', '3.1.0', {
      artifact: {
        type: 'external',
        endpoints: [
          { host: 'api.internal.example', port: 8443, protocol: 'https' },
        ],
      },
      healthProbes: [],
    });
    expect((await system.waitForOperation(op.operationId)).status).toBe(
      'succeeded',
    );
    const plugin = await system.getPlugin('ext-plugin');
    expect(plugin).toMatchObject({ runtime: 'external', state: 'installed' });
  });

  it('after a restart, fails cut-off operations and brings running plugins back', async () => {
    const dataDir = makeTempDir('plugin-lifecycle-restart-');
    const { make } = await createSystem(dataDir);
    system = await make();
    const op = await system.installPlugin('my-plugin', '1.0.0', {
      start: true,
    });
    await system.waitForOperation(op.operationId);
    const [before] = (await system.getPlugin('my-plugin')).instances;
    await system.shutdown(); // stops the instance, as a backend restart does
    expect(isProcessAlive(before.pid!)).toBe(false);
    system = await make();
    let plugin = await system.getPlugin('my-plugin');
    for (let i = 0; i < 100 && plugin.state !== 'running'; i++) {
      await new Promise(r => setTimeout(r, 50));
      plugin = await system.getPlugin('my-plugin');
    }
    expect(plugin.state).toBe('running');
    const history = await system.getHistory('my-plugin');
    expect(
      history.slice(-3).map(h => `${h.fromState}->${h.toState}:${h.action}`),
    ).toEqual([
      'running->error:recover',
      'error->starting:start',
      'starting->running:start',
    ]);
    expect(history.at(-2)!.actor).toBe('plugin-lifecycle:auto-recovery');
  });
});
