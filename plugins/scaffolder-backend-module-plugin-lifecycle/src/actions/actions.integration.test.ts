import { mockCredentials } from '@backstage/backend-test-utils';
import { createMockActionContext } from '@backstage/plugin-scaffolder-node-test-utils';
import { PluginLifecycleClient } from '@internal/plugin-lifecycle-common';
import { clientFor, startBackend } from '../__testUtils__/testBackend';
import { createConfigureAction } from './configure';
import { createMaintenanceAction } from './maintenance';
import { createUninstallAction } from './uninstall';
import { createUpdateAction } from './update';
import { createWaitAction } from './wait';

jest.setTimeout(180_000);

const PLUGIN = 'act-sample';
const ALICE = 'user:default/alice';

/**
 * The actions with Backstage's action test context against the real
 * plugin-lifecycle backend running the sample service: each acts as the
 * user who runs the template (the operations name her as their actor), a
 * dry run changes nothing, waits fail with a message that says why.
 */
describe('plugin-lifecycle scaffolder actions', () => {
  let stop: () => Promise<void>;
  let client: ReturnType<typeof clientFor>;
  let api: PluginLifecycleClient;
  const poll = { pollIntervalMs: 100 };

  beforeAll(async () => {
    const started = await startBackend({ pluginIds: [PLUGIN] });
    stop = started.stop;
    client = clientFor(started.baseUrl);
    api = client(mockCredentials.user(ALICE));
    const { operationId } = await api.installPlugin(PLUGIN, {
      version: '1.0.0',
      start: true,
    });
    const installed = await api.getOperation(operationId, { waitSeconds: 60 });
    if (installed.status !== 'succeeded') {
      throw new Error(`installing the sample failed: ${installed.error}`);
    }
  });
  afterAll(async () => {
    await stop?.();
  });

  function context<T extends Record<string, unknown>>(
    input: T,
    extra: { isDryRun?: boolean; signal?: AbortSignal } = {},
  ) {
    const outputs: Record<string, unknown> = {};
    // The mock context takes the input (and workspace, logger, ...); what
    // the scaffolder sets per run is set on it here.
    const ctx = {
      ...createMockActionContext({ input: input as any }),
      getInitiatorCredentials: async () => mockCredentials.user(ALICE),
      output: (name: string, value: unknown) => {
        outputs[name] = value;
      },
      ...extra,
    };
    return { ctx, outputs };
  }

  it('configure: a dry run previews, a run writes the layer and waits for the instances', async () => {
    const action = createConfigureAction({ client, ...poll });
    const input = {
      pluginId: PLUGIN,
      entries: [{ key: 'greeting', value: 'hello' }],
      description: 'from the test',
    };
    const dry = context(input, { isDryRun: true });
    await action.handler(dry.ctx as any);
    expect(dry.outputs).toEqual({ changed: true, configVersion: 0 });
    expect(await api.listConfigVersions(PLUGIN, 'base')).toEqual([]);

    const run = context(input);
    await action.handler(run.ctx as any);
    expect(run.outputs).toMatchObject({ changed: true, configVersion: 1 });
    const op = await api.getOperation(run.outputs.operationId as string);
    expect(op).toMatchObject({
      type: 'configure',
      status: 'succeeded',
      actor: ALICE,
    });
    const effective = await api.getConfiguration(PLUGIN, 'development');
    expect(effective.entries.find(e => e.key === 'greeting')?.value).toBe(
      'hello',
    );

    // Nothing to write: the queued configure re-applies, restarting nothing.
    const pids = (await api.getPlugin(PLUGIN)).instances.map(i => i.pid);
    const again = context({ pluginId: PLUGIN });
    await action.handler(again.ctx as any);
    expect(again.outputs.changed).toBe(false);
    const reapplied = await api.getOperation(
      again.outputs.operationId as string,
    );
    expect(reapplied).toMatchObject({
      type: 'configure',
      status: 'succeeded',
      result: { applied: 0 },
    });
    expect((await api.getPlugin(PLUGIN)).instances.map(i => i.pid)).toEqual(
      pids,
    );
  });

  it('update and wait: a rolling update to 1.1.0 followed to its outcome', async () => {
    const update = createUpdateAction({ client, ...poll });
    const dry = context(
      { pluginId: PLUGIN, version: '1.1.0', strategy: 'rolling' },
      { isDryRun: true },
    );
    await update.handler(dry.ctx as any);
    expect(dry.outputs).toEqual({
      operationId: 'dry-run',
      deploymentId: 'dry-run',
      fromVersion: '1.0.0',
    });
    expect((await api.getPlugin(PLUGIN)).currentVersion).toBe('1.0.0');

    // The backend's schema refuses what it would refuse, dry run or not.
    await expect(
      update.handler(
        context(
          { pluginId: PLUGIN, version: '1.1.0', strategy: 'a-b-testing' },
          { isDryRun: true },
        ).ctx as any,
      ),
    ).rejects.toThrow(
      'Invalid update of act-sample: deploymentConfig.abTesting: required for the a-b-testing strategy',
    );

    const run = context({
      pluginId: PLUGIN,
      version: '1.1.0',
      strategy: 'rolling',
    });
    await update.handler(run.ctx as any);
    expect(run.outputs).toMatchObject({
      operationId: expect.any(String),
      deploymentId: expect.any(String),
      fromVersion: '1.0.0',
    });

    const wait = createWaitAction({ client, ...poll });
    const outcome = context({
      deploymentId: run.outputs.deploymentId,
      timeoutSeconds: 120,
    });
    await wait.handler(outcome.ctx as any);
    expect(outcome.outputs).toEqual({ phase: 'succeeded' });
    const deployment = await api.getDeployment(
      run.outputs.deploymentId as string,
    );
    expect(deployment.createdBy).toBe(ALICE);

    const running = context({ pluginId: PLUGIN, state: ['running'] });
    await wait.handler(running.ctx as any);
    expect(running.outputs).toEqual({ state: 'running' });
    expect((await api.getPlugin(PLUGIN)).currentVersion).toBe('1.1.0');

    const op = context({ operationId: run.outputs.operationId });
    await wait.handler(op.ctx as any);
    expect(op.outputs).toEqual({ status: 'succeeded' });
  });

  it('wait: fails on a failed rollout, on timeout, when cancelled, and on a bad input', async () => {
    const wait = createWaitAction({ client, ...poll });
    const update = createUpdateAction({ client, ...poll });
    // 2.0.0's readiness never passes: the rollout cannot succeed.
    const broken = context({ pluginId: PLUGIN, version: '2.0.0' });
    await update.handler(broken.ctx as any);
    await expect(
      wait.handler(
        context({
          deploymentId: broken.outputs.deploymentId,
          timeoutSeconds: 120,
        }).ctx as any,
      ),
    ).rejects.toThrow(
      new RegExp(
        `^deployment ${broken.outputs.deploymentId} \\(act-sample to 2\\.0\\.0\\) (failed|rolled-back)`,
      ),
    );
    await wait.handler(
      context({ pluginId: PLUGIN, state: 'running', timeoutSeconds: 60 })
        .ctx as any,
    );
    expect((await api.getPlugin(PLUGIN)).currentVersion).toBe('1.1.0');

    await expect(
      wait.handler(
        context({ pluginId: PLUGIN, state: 'maintenance', timeoutSeconds: 0.3 })
          .ctx as any,
      ),
    ).rejects.toThrow(
      'Timed out after 0.3 s waiting for act-sample to be maintenance',
    );

    const controller = new AbortController();
    setTimeout(() => controller.abort(), 200);
    await expect(
      wait.handler(
        context(
          { pluginId: PLUGIN, state: 'maintenance' },
          { signal: controller.signal },
        ).ctx as any,
      ),
    ).rejects.toThrow('Waiting for act-sample to be maintenance was cancelled');

    await expect(
      wait.handler(context({ pluginId: PLUGIN }).ctx as any),
    ).rejects.toThrow(
      'plugin-lifecycle:wait needs exactly one of state (with pluginId), operationId or deploymentId',
    );
  });

  it('maintenance: on keeps the plugin out of rotation, off brings it back', async () => {
    const action = createMaintenanceAction({ client, ...poll });
    const dry = context(
      { pluginId: PLUGIN, enabled: true },
      { isDryRun: true },
    );
    await action.handler(dry.ctx as any);
    expect((await api.getPlugin(PLUGIN)).state).toBe('running');

    const on = context({ pluginId: PLUGIN, enabled: true, reason: 'test' });
    await action.handler(on.ctx as any);
    expect(on.outputs.state).toBe('maintenance');
    // A second maintenance-on: the backend's 409, as the step's error.
    await expect(
      action.handler(context({ pluginId: PLUGIN, enabled: true }).ctx as any),
    ).rejects.toThrow(
      "Cannot maintenance-on plugin 'act-sample': it is in maintenance",
    );
    const off = context({ pluginId: PLUGIN, enabled: false });
    await action.handler(off.ctx as any);
    expect(off.outputs.state).toBe('running');
  });

  it('uninstall: a dry run changes nothing; a run stops the plugin first and removes its versions', async () => {
    const action = createUninstallAction({ client, ...poll });
    const dry = context({ pluginId: PLUGIN }, { isDryRun: true });
    await action.handler(dry.ctx as any);
    expect(dry.outputs.operationId).toBe('dry-run');
    expect((await api.getPlugin(PLUGIN)).state).toBe('running');

    await expect(
      action.handler(context({ pluginId: PLUGIN, stop: false }).ctx as any),
    ).rejects.toThrow(
      'act-sample is running: stop it first, or leave stop unset',
    );

    const run = context({ pluginId: PLUGIN });
    await action.handler(run.ctx as any);
    expect(run.outputs.removedVersions).toEqual(
      expect.arrayContaining(['1.1.0']),
    );
    const plugin = await api.getPlugin(PLUGIN);
    expect(plugin.state).toBe('inactive');
    const ops = await api.listOperations(PLUGIN, { limit: 2 });
    expect(ops.map(o => [o.type, o.actor])).toEqual([
      ['uninstall', ALICE],
      ['stop', ALICE],
    ]);
  });
});
