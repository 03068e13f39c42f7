import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { mockServices } from '@backstage/backend-test-utils';
import { InputError, NotFoundError } from '@backstage/errors';
import { createTestDatabases } from '../__testUtils__/databases';
import { waitForSystemDeployment } from '../__testUtils__/deploymentSystem';
import {
  isProcessAlive,
  makeTempDir,
  packSampleArtifacts,
} from '../__testUtils__/sampleArtifacts';
import { readPluginLifecycleConfig } from '../config';
import { PreconditionError } from '../domain/orchestration';
import { applyDatabaseMigrations } from '../database/migrations';
import { ExternalRuntime } from '../engines/runtime/ExternalRuntime';
import { ProcessRuntime } from '../engines/runtime/ProcessRuntime';
import { RuntimeRegistry } from '../engines/runtime/RuntimeRegistry';
import {
  OrchestrationSystemOptions,
  createOrchestrationSystem,
} from '../wiring/createOrchestrationSystem';
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
    extraHandlers: OrchestrationSystemOptions['extraHandlers'] = {},
    // Most tests stop the instances with the system, as before #13.
    shutdown: { stopInstances: boolean } = { stopInstances: true },
  ) {
    const knex = await databases.init(databaseId);
    await applyDatabaseMigrations({ getClient: async () => knex });
    const config = readPluginLifecycleConfig(
      mockServices.rootConfig({
        data: {
          pluginLifecycle: {
            dataDir,
            configuration: {
              encryption: {
                keys: [
                  { id: 'k1', secret: randomBytes(32).toString('base64') },
                ],
              },
            },
            shutdown,
            runtime: {
              process: { readyTimeout: 5000, stopGracePeriod: 3000 },
              restartPolicy: { backoffBase: 50, backoffMax: 100 },
            },
            orchestrator: {
              pollInterval: 20,
              retryBaseDelay: 50,
              retryMaxDelay: 200,
            },
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
    const make = (replicaId = 'test-replica') =>
      createOrchestrationSystem({
        logger,
        db: knex,
        config,
        runtimes: RuntimeRegistry.create([
          ProcessRuntime.create({ logger, dataDir, owner: replicaId }),
          ExternalRuntime.create(),
        ]),
        replicaId,
        extraHandlers,
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
    // The design's shape: probes defined, none run yet, no traffic.
    expect(metrics.healthMonitoring).toEqual({
      healthyPlugins: 0,
      degradedPlugins: 0,
      unhealthyPlugins: 0,
      uncheckedPlugins: 1,
      instancesByHealth: {
        healthy: 0,
        degraded: 0,
        unhealthy: 0,
        unknown: 1,
        notChecked: 0,
      },
    });
    expect(metrics.deployment).toMatchObject({
      activeDeployments: 0,
      completedDeployments: 0,
    });
    expect(metrics.deployment.successRate).toBeUndefined();
    expect(metrics.serviceDiscovery).toEqual({
      averageResponseTime: 0,
      totalRequests: 0,
      errorRate: 0,
      activeConnections: 0,
      servicesWithTraffic: 0,
    });

    // As in "Dynamic Configuration Management": the call sets its keys and
    // keeps the one the install marked required.
    const configManager = system.getPluginConfigurationManager();
    const write = await configManager.setPluginConfiguration(
      'my-plugin',
      [
        {
          key: 'feature.enabled',
          value: true,
          type: 'boolean',
          description: 'Enable new feature flag',
        },
        {
          key: 'api.key',
          value: 'secret-key-value',
          type: 'secret',
          sensitive: true,
        },
      ],
      {
        environment: 'production',
        userId: 'admin',
        description: 'Enable new feature with API key',
      },
    );
    expect(write).toMatchObject({ changed: true, version: { version: 2 } });
    const configured = await system.waitForOperation(write.operationId!);
    expect(configured).toMatchObject({
      type: 'configure',
      status: 'succeeded',
    });
    const [reconfigured] = (
      await system.getPlugin('my-plugin')
    ).instances.filter(i => i.status === 'running');
    const live = await (
      await fetch(`http://${reconfigured.host}:${reconfigured.port}/config`)
    ).json();
    expect(live.PLUGIN_CONFIG).toEqual({
      'api.key': 'secret-key-value',
      'database.url': 'postgresql://localhost:5432/mydb',
      'feature.enabled': true,
    });
    // The same call again changes nothing: no version, no restart.
    const again = await configManager.setPluginConfiguration(
      'my-plugin',
      [{ key: 'feature.enabled', value: true, type: 'boolean' }],
      { environment: 'production', userId: 'admin' },
    );
    expect(again).toEqual({ changed: false, version: write.version });

    await system.waitForOperation(
      (
        await system.stopPlugin('my-plugin', { userId: 'admin' })
      ).operationId,
    );
    expect(isProcessAlive(reconfigured.pid!)).toBe(false);
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

  it('does not redo an operation whose earlier attempt finished before its replica went away', async () => {
    const { make, knex } = await createSystem();
    system = await make();
    const op = await system.installPlugin('ext-plugin', '3.1.0', {
      artifact: {
        type: 'external',
        endpoints: [
          { host: 'api.internal.example', port: 8443, protocol: 'https' },
        ],
      },
    });
    expect((await system.waitForOperation(op.operationId)).status).toBe(
      'succeeded',
    );
    const transitions = (await system.getHistory('ext-plugin')).length;
    // As if the replica died after its last transition and before it wrote
    // the outcome: the operation is running under a lease that expired.
    await knex('operations')
      .where({ id: op.operationId })
      .update({
        status: 'running',
        lease_owner: 'gone-replica',
        lease_expires_at: new Date(Date.now() - 60_000),
        finished_at: null,
        result: null,
      });
    let taken;
    for (let i = 0; i < 200; i++) {
      taken = await system.getOperation(op.operationId);
      if (taken.attempts > 1 && !['queued', 'running'].includes(taken.status))
        break;
      await new Promise(r => setTimeout(r, 50));
    }
    expect(taken).toMatchObject({
      status: 'succeeded',
      attempts: 2,
      result: expect.objectContaining({ completedByEarlierAttempt: true }),
    });
    expect(await system.getPlugin('ext-plugin')).toMatchObject({
      state: 'installed',
    });
    expect(await system.getHistory('ext-plugin')).toHaveLength(transitions);
  });

  it('after a restart, marks lost instances stopped and starts running plugins again', async () => {
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

  it('after a restart, adopts the instances left running: the same process, no restart, its crash still heard', async () => {
    const dataDir = makeTempDir('plugin-lifecycle-adopt-');
    const { make } = await createSystem(dataDir, {}, { stopInstances: false });
    // A replica on this host whose process is gone by the time of the next
    // start (no process has pid 2^22 + 1).
    system = await make(`${os.hostname()}:4194305:first`);
    const op = await system.installPlugin('my-plugin', '1.0.0', {
      start: true,
    });
    await system.waitForOperation(op.operationId);
    const [before] = (await system.getPlugin('my-plugin')).instances;
    await system.shutdown();
    expect(isProcessAlive(before.pid!)).toBe(true);
    const transitions = (await system.getHistory('my-plugin')).length;

    const second = `${os.hostname()}:${process.pid}:second`;
    system = await make(second);
    try {
      const plugin = await system.getPlugin('my-plugin');
      expect(plugin.state).toBe('running');
      expect(plugin.instances).toEqual([
        expect.objectContaining({
          id: before.id,
          pid: before.pid,
          status: 'running',
          owner: second,
        }),
      ]);
      expect(await system.getHistory('my-plugin')).toHaveLength(transitions);

      // Not a child of this process, its crash is still seen and replaced.
      process.kill(before.pid!, 'SIGKILL');
      let replaced;
      for (let i = 0; i < 200 && !replaced; i++) {
        await new Promise(r => setTimeout(r, 50));
        replaced = (await system.getPlugin('my-plugin')).instances.find(
          i2 => i2.id !== before.id && i2.status === 'running',
        );
      }
      expect(replaced).toBeDefined();
      expect(
        (await system.getPlugin('my-plugin')).endedInstances?.find(
          e => e.id === before.id,
        ),
      ).toMatchObject({ status: 'crashed' });
    } finally {
      for (const instance of (await system.getPlugin('my-plugin')).instances) {
        if (instance.pid) process.kill(-instance.pid, 'SIGKILL');
      }
    }
  });

  it('retries a transient failure with backoff, and not a precondition failure', async () => {
    const calls: Record<string, number> = {};
    const { make } = await createSystem(undefined, {
      // start handlers standing in for a runtime: one fails once the way a
      // network hiccup does, the other finds a precondition unmet
      start: async op => {
        calls[op.pluginId] = (calls[op.pluginId] ?? 0) + 1;
        if (op.pluginId === 'flaky' && calls.flaky === 1) {
          throw new Error('ECONNRESET talking to the runtime');
        }
        if (op.pluginId === 'unmet') {
          throw new PreconditionError("'db' is installed, it must be running");
        }
        return { calls: calls[op.pluginId] };
      },
    });
    system = await make();
    const external = {
      artifact: {
        type: 'external' as const,
        endpoints: [{ host: 'h', port: 1, protocol: 'http' as const }],
      },
    };
    for (const id of ['flaky', 'unmet']) {
      await system.waitForOperation(
        (
          await system.installPlugin(id, '1.0.0', external)
        ).operationId,
      );
    }
    const flaky = await system.waitForOperation(
      (
        await system.startPlugin('flaky')
      ).operationId,
    );
    expect(flaky).toMatchObject({
      status: 'succeeded',
      attempts: 2,
      result: { calls: 2 },
    });
    const unmet = await system.waitForOperation(
      (
        await system.startPlugin('unmet')
      ).operationId,
    );
    expect(unmet).toMatchObject({ status: 'failed', attempts: 1 });
    expect(unmet.error).toMatch(/must be running/);
    expect(calls).toEqual({ flaky: 2, unmet: 1 });
  });

  it('reverts the configuration a failed rollback restored, so what is stored is what runs', async () => {
    const { make } = await createSystem();
    system = await make();
    const configuration = system.getPluginConfigurationManager();
    const run = async (accepted: Promise<{ operationId: string }>) =>
      system.waitForOperation((await accepted).operationId);
    // 1.0.0 was installed with a configuration it cannot become ready with.
    await run(
      system.installPlugin('my-plugin', '1.0.0', {
        configuration: [
          { key: 'sample.failReadiness', value: true, type: 'boolean' },
        ],
      }),
    );
    // Updated while not running: the revision current then is recorded.
    const accepted = await system.updatePlugin('my-plugin', '1.1.0');
    const update = await system.waitForOperation(accepted.operationId);
    const installed = await configuration.resolve('my-plugin', 'production');
    expect(update).toMatchObject({
      status: 'succeeded',
      result: {
        fromVersion: '1.0.0',
        toVersion: '1.1.0',
        fromConfigRevision: installed.revision,
        configRevision: installed.revision,
        instances: [],
        deploymentId: accepted.deploymentId,
      },
    });
    // The operation handed over; the deployment swaps the files.
    expect(
      await waitForSystemDeployment(system, accepted.deploymentId!),
    ).toMatchObject({ phase: 'succeeded' });
    expect(await system.getPlugin('my-plugin')).toMatchObject({
      state: 'installed',
      currentVersion: '1.1.0',
    });
    const write = await configuration.replacePluginConfiguration('my-plugin', [
      { key: 'greeting', value: 'ok', type: 'string' },
    ]);
    expect(write.operationId).toBeUndefined(); // not running
    await run(system.startPlugin('my-plugin'));
    const [before] = (await system.getPlugin('my-plugin')).instances;

    const rollback = await run(
      system.rollbackUpdate('my-plugin', update.id, { timeoutMs: 1500 }),
    );
    expect(rollback).toMatchObject({ status: 'failed', attempts: 1 });
    expect(rollback.error).toMatch(/^update 1\.1\.0 -> 1\.0\.0 failed/);

    const plugin = await system.getPlugin('my-plugin');
    expect(plugin).toMatchObject({ state: 'running', currentVersion: '1.1.0' });
    const running = plugin.instances.filter(i => i.status === 'running');
    expect(running.map(i => [i.id, i.version])).toEqual([[before.id, '1.1.0']]);
    // 1.0.0 started with the restored configuration and never got ready.
    expect(
      plugin.endedInstances
        .filter(i => i.version === '1.0.0')
        .map(i => i.status),
    ).toEqual(['stopped']);
    expect(plugin.instances.map(i => i.version)).toEqual(['1.1.0']);
    const live = await (
      await fetch(`http://${before.host}:${before.port}/config`)
    ).json();
    expect(live.PLUGIN_CONFIG).toEqual({ greeting: 'ok' });
    // Restored, then reverted: both kept as versions; the latest content
    // is what the running instance has.
    const versions = await configuration.listVersions(
      'my-plugin',
      'production',
    );
    expect(versions.map(v => [v.version, v.rolledBackFrom, v.author])).toEqual([
      [4, 2, 'plugin-lifecycle:update'],
      [3, 1, undefined],
      [2, undefined, undefined],
      [1, undefined, undefined],
    ]);
    expect(versions[1].description).toBe(
      `restored with rollback of update ${update.id}`,
    );
    const effective = await configuration.getEffectiveConfiguration(
      'my-plugin',
      'production',
    );
    expect(effective.entries.map(e => [e.key, e.value])).toEqual([
      ['greeting', 'ok'],
    ]);
    // No configure operation was queued by either write.
    const operations = await system.listOperations('my-plugin');
    expect(operations.map(o => o.type)).toEqual([
      'update',
      'start',
      'update',
      'install',
    ]);
  });

  it('fails an operation at its timeout and runs the compensation', async () => {
    const { make } = await createSystem();
    system = await make();
    await system.waitForOperation(
      (
        await system.installPlugin('my-plugin', '2.0.0')
      ).operationId,
    );
    // 2.0.0 never becomes ready; the operation times out first
    const started = await system.startPlugin('my-plugin', { timeoutMs: 1500 });
    const op = await system.waitForOperation(started.operationId);
    expect(op).toMatchObject({ status: 'failed', attempts: 1 });
    expect(op.error).toMatch(/start failed: .*timed out after 1500 ms/);
    const plugin = await system.getPlugin('my-plugin');
    expect(plugin.state).toBe('error');
    expect(plugin.instances).toEqual([]);
    expect(plugin.endedInstances.length).toBeGreaterThan(0);
    for (const instance of plugin.endedInstances) {
      expect(instance.status).toBe('stopped');
      expect(isProcessAlive(instance.pid!)).toBe(false);
    }
  });
});
