import { randomBytes, randomUUID } from 'node:crypto';
import { TestDatabases, mockServices } from '@backstage/backend-test-utils';
import { Knex } from 'knex';
import {
  makeTempDir,
  packSampleArtifacts,
} from '../__testUtils__/sampleArtifacts';
import { readPluginLifecycleConfig } from '../config';
import { InstanceStore } from '../database/InstanceStore';
import { applyDatabaseMigrations } from '../database/migrations';
import { OperationStore } from '../database/OperationStore';
import { PluginStore } from '../database/PluginStore';
import { LifecycleStateMachine } from '../engines/lifecycle/LifecycleStateMachine';
import { ProcessRuntime } from '../engines/runtime/ProcessRuntime';
import { RuntimeRegistry } from '../engines/runtime/RuntimeRegistry';
import { createOrchestrationSystem } from '../wiring/createOrchestrationSystem';
import { PluginLifecycleOrchestrationSystem } from './PluginLifecycleOrchestrationSystem';
import { SystemEvents } from '../events/SystemEvents';

jest.setTimeout(90_000);

// What runs matters here, not the database: SQLite is enough.
const databases = TestDatabases.create({ ids: ['SQLITE_3'] });
const REPLICA = 'test-replica';

/**
 * An update whose first attempt was cut off (its replica went away after it
 * had started a new instance, which died with it, and stopped an old one)
 * comes back to the queue and resumes. The resumed attempt must not remove
 * capacity it has not replaced.
 *
 * An update with a deployment moves its instances in the deployment
 * controller (deployments.integration.test); the in-operation roll tested
 * here is what the rollback of an update (`rollbackUpdate`, params with
 * `rollbackOf`) runs, so the interrupted operation is such a rollback.
 */
describe('a resumed rollback of an update', () => {
  let system: PluginLifecycleOrchestrationSystem | undefined;
  let artifacts: Awaited<ReturnType<typeof packSampleArtifacts>>;

  beforeAll(async () => {
    artifacts = await packSampleArtifacts();
  });

  afterEach(async () => {
    await system?.shutdown();
    system = undefined;
  });

  /** Every stop of an instance, with what served at that moment. */
  type StopRecord = {
    instanceId: string;
    version: string;
    /** Running instances whose process is alive, other than this one. */
    servingOthers: Array<{ id: string; version: string }>;
  };

  async function setUp() {
    const knex: Knex = await databases.init('SQLITE_3');
    await applyDatabaseMigrations({ getClient: async () => knex });
    const dataDir = makeTempDir('plugin-lifecycle-resume-');
    const config = readPluginLifecycleConfig(
      mockServices.rootConfig({
        data: {
          pluginLifecycle: {
            dataDir,
            shutdown: { stopInstances: true },
            configuration: {
              encryption: {
                keys: [
                  { id: 'k1', secret: randomBytes(32).toString('base64') },
                ],
              },
            },
            runtime: { process: { readyTimeout: 2000, stopGracePeriod: 2000 } },
            orchestrator: {
              pollInterval: 20,
              retryBaseDelay: 50,
              retryMaxDelay: 200,
              leaseDuration: 2000,
            },
            plugins: {
              sample: {
                artifact: { type: 'tarball', path: artifacts.tarballTemplate },
              },
            },
          },
        },
      }),
    );
    const logger = mockServices.logger.mock();
    const process = ProcessRuntime.create({ logger, dataDir });
    const instances = InstanceStore.create({ db: knex });
    const stops: StopRecord[] = [];
    // The real runtime, with every stop recorded together with what served
    // right then (before the stop takes effect).
    const recorded = new Proxy(process, {
      get(target, prop) {
        const value = Reflect.get(target, prop, target);
        if (prop === 'stopInstance') {
          return async (request: { instanceId: string }) => {
            const all = await instances.listForPlugin('sample');
            const alive = await Promise.all(all.map(i => target.isAlive(i.id)));
            stops.push({
              instanceId: request.instanceId,
              version:
                all.find(i => i.id === request.instanceId)?.version ?? '?',
              servingOthers: all
                .filter(
                  (i, n) =>
                    alive[n] &&
                    i.status === 'running' &&
                    i.id !== request.instanceId,
                )
                .map(i => ({ id: i.id, version: i.version })),
            });
            return value.call(target, request);
          };
        }
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    system = await createOrchestrationSystem({
      logger,
      db: knex,
      config,
      runtimes: RuntimeRegistry.create([recorded]),
      replicaId: REPLICA,
    });
    return {
      knex,
      system,
      stops,
      runtime: process,
      instances,
      plugins: PluginStore.create({ db: knex }),
      operations: OperationStore.create({ db: knex }),
    };
  }

  /**
   * Leaves the state an earlier attempt of `update sample -> version` left
   * when its replica went away: the plugin is `updating` under the
   * operation; that attempt started a new instance (gone with it) and
   * stopped one of the two 1.0.0 instances. Its lease has expired, so the
   * queue takes it back and runs attempt 2.
   */
  async function interruptedUpdate(
    env: Awaited<ReturnType<typeof setUp>>,
    version: string,
  ) {
    const { knex, runtime, instances, plugins } = env;
    const install = await env.system.installPlugin('sample', '1.0.0', {
      replicas: 2,
      start: true,
    });
    expect(
      await env.system.waitForOperation(install.operationId),
    ).toMatchObject({ status: 'succeeded' });
    const before = (await instances.listForPlugin('sample')).filter(
      i => i.status === 'running',
    );
    expect(before.map(i => i.version)).toEqual(['1.0.0', '1.0.0']);

    const id = randomUUID();
    // What rollbackUpdate queues for an update X -> 1.0.0 (X never ran
    // here: only the in-operation roll matters, and the configuration
    // revision it restores is the one 1.0.0 runs with).
    const { configRevision } = await plugins.getOrThrow('sample');
    expect(configRevision).toEqual(expect.any(Number));
    // Written as running under an expired lease in one transaction, so the
    // queue never sees it queued (it would run it as a first attempt).
    await knex.transaction(async trx => {
      await OperationStore.create({ db: trx }).enqueue(
        [
          {
            id,
            pluginId: 'sample',
            tenant: 'default',
            type: 'update',
            params: {
              version,
              rollbackOf: randomUUID(),
              expectedCurrentVersion: '1.0.0',
              restoreConfigRevision: configRevision,
            },
            maxAttempts: 3,
            timeoutMs: 60_000,
          },
        ],
        Date.now(),
      );
      await trx('operations')
        .where({ id })
        .update({
          status: 'running',
          attempts: 1,
          lease_owner: 'gone-replica',
          // long enough for the setup below, short enough to come back soon
          lease_expires_at: new Date(Date.now() + 1500),
          started_at: new Date(),
        });
    });
    const stateMachine = LifecycleStateMachine.create({
      store: plugins,
      events: new SystemEvents(),
    });
    await stateMachine.transition(
      await plugins.getOrThrow('sample'),
      'updating',
      {
        action: 'update',
        operationId: id,
        reason: `update 1.0.0 -> ${version}`,
      },
    );
    // The new instance of the earlier attempt, gone with its replica.
    await instances.insert({
      id: `sample-${randomUUID().slice(0, 8)}`,
      pluginId: 'sample',
      version,
      track: 'stable',
      runtime: 'process',
      host: '127.0.0.1',
      port: 1,
      protocol: 'http',
      status: 'starting',
      owner: REPLICA,
    });
    // The old instance it had stopped (as if the new one had got ready).
    const [stoppedEarlier, survivor] = before;
    await instances.setStatus(stoppedEarlier.id, 'stopping');
    await runtime.stopInstance({
      pluginId: 'sample',
      instanceId: stoppedEarlier.id,
      gracePeriodMs: 2000,
    });
    await instances.setStatus(stoppedEarlier.id, 'stopped');
    env.stops.length = 0; // only what the resumed attempt stops counts
    return { id, survivor };
  }

  it('brings the old capacity back before replacing anything, and stops an old instance only after a new one is ready', async () => {
    const env = await setUp();
    const { id, survivor } = await interruptedUpdate(env, '1.1.0');

    const op = await env.system.waitForOperation(id, { timeoutMs: 60_000 });
    expect(op).toMatchObject({
      status: 'succeeded',
      attempts: 2,
      result: { rollbackOf: expect.any(String), toVersion: '1.1.0' },
    });
    const plugin = await env.system.getPlugin('sample');
    expect(plugin).toMatchObject({ state: 'running', currentVersion: '1.1.0' });
    const serving = plugin.instances.filter(i => i.status === 'running');
    expect(serving.map(i => i.version)).toEqual(['1.1.0', '1.1.0']);

    const oldStops = env.stops.filter(s => s.version === '1.0.0');
    // the survivor and the instance started again in its partner's place
    expect(oldStops).toHaveLength(2);
    expect(oldStops.map(s => s.instanceId)).toContain(survivor.id);
    for (const stop of oldStops) {
      // a ready instance of the new version was there first ...
      expect(stop.servingOthers.map(i => i.version)).toContain('1.1.0');
      // ... and the plugin never served with fewer than its 2 instances
      expect(stop.servingOthers.length).toBeGreaterThanOrEqual(2);
    }
  });

  it('fails once on a version that never gets ready, and leaves as many old instances serving as before the update', async () => {
    const env = await setUp();
    const { id, survivor } = await interruptedUpdate(env, '2.0.0');

    const op = await env.system.waitForOperation(id, { timeoutMs: 60_000 });
    // attempt 2 was the resumed one; the readiness failure is not retried
    expect(op).toMatchObject({ status: 'failed', attempts: 2 });
    expect(op.error).toMatch(/update 1\.0\.0 -> 2\.0\.0 failed: .*readiness/);
    // no old instance was stopped: nothing ever replaced one
    expect(env.stops.filter(s => s.version === '1.0.0')).toEqual([]);

    const plugin = await env.system.getPlugin('sample');
    expect(plugin).toMatchObject({ state: 'running', currentVersion: '1.0.0' });
    expect(plugin.lastError).toMatch(/readiness/);
    const serving = plugin.instances.filter(i => i.status === 'running');
    expect(serving.map(i => i.version)).toEqual(['1.0.0', '1.0.0']);
    expect(serving.map(i => i.id)).toContain(survivor.id);
    for (const instance of serving) {
      const res = await fetch(`http://${instance.host}:${instance.port}/`);
      expect(((await res.json()) as { version: string }).version).toBe('1.0.0');
    }
  });
});
