import { mockCredentials } from '@backstage/backend-test-utils';
import request from 'supertest';
import { PluginDetails } from '@internal/plugin-lifecycle-common';
import { isProcessAlive } from './__testUtils__/sampleArtifacts';
import {
  startLifecycleBackend,
  updateAndWait,
  waitForOperation,
} from './__testUtils__/testBackend';

jest.setTimeout(60_000);

/**
 * Starts the real backend plugin (SQLite database, process runtime) and
 * drives the real sample service through its whole lifecycle over HTTP.
 */
describe('plugin-lifecycle backend, end to end over HTTP', () => {
  let server: Awaited<ReturnType<typeof startLifecycleBackend>>['server'];
  let stopBackend: () => Promise<void>;
  const auth = mockCredentials.user.header('user:default/alice');

  beforeAll(async () => {
    ({ server, stop: stopBackend } = await startLifecycleBackend({
      pluginId: 'sample-http-service',
      config: {
        requestArtifactTypes: ['command', 'tarball', 'external'],
        orchestrator: { defaultTimeout: 30_000 },
        runtime: {
          process: { readyTimeout: 3_000, stopGracePeriod: 5_000 },
          // Crashes are not replaced here (see crashRestart.integration.test).
          restartPolicy: { maxRestarts: 0 },
        },
      },
    }));
  });

  afterAll(async () => {
    await stopBackend();
  });

  const api = (path: string) => `/api/plugin-lifecycle${path}`;

  async function act(pluginId: string, action: string, body: object = {}) {
    const res = await request(server)
      .post(api(`/plugins/${pluginId}/${action}`))
      .set('Authorization', auth)
      .send(body);
    expect(res.status).toBe(202);
    return waitForOperation(server, auth, res.body.operationId);
  }

  async function getPlugin(pluginId: string): Promise<PluginDetails> {
    const res = await request(server)
      .get(api(`/plugins/${pluginId}`))
      .set('Authorization', auth);
    expect(res.status).toBe(200);
    return res.body;
  }

  it('installs, starts, serves, stops and uninstalls the sample plugin with no process left', async () => {
    const installed = await act('sample-http-service', 'install', {
      version: '1.0.0',
      replicas: 2,
      configuration: [{ key: 'greeting', value: 'hello', type: 'string' }],
    });
    expect(installed).toMatchObject({
      status: 'succeeded',
      type: 'install',
      actor: 'user:default/alice',
    });
    expect(await getPlugin('sample-http-service')).toMatchObject({
      state: 'installed',
      currentVersion: '1.0.0',
      availableActions: expect.arrayContaining(['start', 'uninstall']),
    });

    expect(await act('sample-http-service', 'start')).toMatchObject({
      status: 'succeeded',
    });
    const running = await getPlugin('sample-http-service');
    expect(running.state).toBe('running');
    const live = running.instances.filter(i => i.status === 'running');
    expect(live).toHaveLength(2);

    for (const instance of live) {
      const root = await (
        await fetch(`http://${instance.host}:${instance.port}/`)
      ).json();
      expect(root).toMatchObject({
        version: '1.0.0',
        instanceId: instance.id,
        pid: instance.pid,
      });
      const config = await (
        await fetch(`http://${instance.host}:${instance.port}/config`)
      ).json();
      expect(config.PLUGIN_CONFIG_GREETING).toBe('hello');
    }

    expect(await act('sample-http-service', 'stop')).toMatchObject({
      status: 'succeeded',
    });
    expect((await getPlugin('sample-http-service')).state).toBe('installed');
    for (const instance of live) {
      expect(isProcessAlive(instance.pid!)).toBe(false);
    }

    expect(await act('sample-http-service', 'uninstall')).toMatchObject({
      status: 'succeeded',
      result: { removedVersions: ['1.0.0'] },
    });
    const after = await getPlugin('sample-http-service');
    expect(after).toMatchObject({ state: 'inactive', versions: [] });
    expect(after.currentVersion).toBeUndefined();

    const history = await request(server)
      .get(api('/plugins/sample-http-service/history'))
      .set('Authorization', auth);
    expect(
      history.body.items.map((h: any) => `${h.fromState}->${h.toState}`),
    ).toEqual([
      'inactive->installing',
      'installing->installed',
      'installed->starting',
      'starting->running',
      'running->stopping',
      'stopping->installed',
      'installed->uninstalling',
      'uninstalling->inactive',
    ]);
    expect(
      history.body.items.every(
        (h: any) => h.actor === 'user:default/alice' && h.operationId,
      ),
    ).toBe(true);
  });

  it('ends a failed install of an unknown version back in inactive, saying why', async () => {
    const op = await act('sample-http-service', 'install', {
      version: '9.9.9',
    });
    expect(op.status).toBe('failed');
    expect(op.error).toMatch(
      /install of 9\.9\.9 failed: Artifact .*sample-http-service-9\.9\.9\.tgz does not exist/,
    );
    const plugin = await getPlugin('sample-http-service');
    expect(plugin).toMatchObject({ state: 'inactive', versions: [] });
    expect(plugin.lastError).toMatch(/9\.9\.9/);
  });

  it('puts the broken 2.0.0 in error when it never becomes ready, and stops what it started', async () => {
    await act('sample-http-service', 'install', { version: '2.0.0' });
    const op = await act('sample-http-service', 'start');
    expect(op.status).toBe('failed');
    expect(op.error).toMatch(
      /start failed: instance .* did not pass its readiness probe 'readiness' within 3000 ms: GET \/ready answered 503/,
    );
    const plugin = await getPlugin('sample-http-service');
    expect(plugin.state).toBe('error');
    expect(plugin.lastError).toMatch(/readiness/);
    expect(plugin.instances).toEqual([]);
    expect(plugin.endedInstances.length).toBeGreaterThan(0);
    for (const instance of plugin.endedInstances) {
      expect(instance.status).toBe('stopped');
      expect(isProcessAlive(instance.pid!)).toBe(false);
    }
    expect(await act('sample-http-service', 'uninstall')).toMatchObject({
      status: 'succeeded',
    });
  });

  it('puts a plugin whose process exits at once in error, with its output', async () => {
    const op = await act('exits-at-once', 'install', {
      version: '1.0.0',
      artifact: {
        type: 'command',
        command: process.execPath,
        args: ['-e', 'console.error("missing DATABASE_URL"); process.exit(3)'],
      },
      start: true,
    });
    expect(op.status).toBe('failed');
    expect(op.error).toMatch(
      /start failed: instance exited during start with code 3: missing DATABASE_URL/,
    );
    const plugin = await getPlugin('exits-at-once');
    expect(plugin.state).toBe('error');
    expect(plugin.lastError).toMatch(/missing DATABASE_URL/);
    expect(await act('exits-at-once', 'uninstall')).toMatchObject({
      status: 'succeeded',
    });
  });

  it('rolls a running plugin to a new version, and rolls the deployment back when the new version never gets ready', async () => {
    await act('sample-http-service', 'install', {
      version: '1.0.0',
      replicas: 2,
      start: true,
    });
    const before = (await getPlugin('sample-http-service')).instances.filter(
      i => i.status === 'running',
    );
    expect(before.map(i => i.version)).toEqual(['1.0.0', '1.0.0']);

    const updated = await updateAndWait(server, auth, 'sample-http-service', {
      version: '1.1.0',
    });
    expect(updated.operation).toMatchObject({
      status: 'succeeded',
      result: { fromVersion: '1.0.0', toVersion: '1.1.0' },
    });
    expect(updated.deployment).toMatchObject({
      strategy: 'rolling',
      phase: 'succeeded',
    });
    let plugin = await getPlugin('sample-http-service');
    expect(plugin).toMatchObject({ state: 'running', currentVersion: '1.1.0' });
    const after = plugin.instances.filter(i => i.status === 'running');
    expect(after.map(i => i.version)).toEqual(['1.1.0', '1.1.0']);
    for (const instance of after) {
      const root = await (
        await fetch(`http://${instance.host}:${instance.port}/`)
      ).json();
      expect(root.version).toBe('1.1.0');
    }
    // capacity never dropped: each old instance stopped only after a new one was ready
    const firstNew = Math.min(...after.map(i => Date.parse(i.startedAt)));
    for (const old of before) {
      expect(isProcessAlive(old.pid!)).toBe(false);
      const stopped = plugin.endedInstances.find(i => i.id === old.id)!;
      expect(Date.parse(stopped.stoppedAt!)).toBeGreaterThanOrEqual(firstNew);
    }

    // The operation hands over; the deployment fails its first step and
    // rolls back.
    const broken = await updateAndWait(server, auth, 'sample-http-service', {
      version: '2.0.0',
    });
    expect(broken.operation.status).toBe('succeeded');
    expect(broken.deployment).toMatchObject({
      phase: 'rolled-back',
      message: expect.stringMatching(
        /an instance of 2\.0\.0 did not become ready: .*readiness.*503/,
      ),
    });
    plugin = await getPlugin('sample-http-service');
    expect(plugin).toMatchObject({ state: 'running', currentVersion: '1.1.0' });
    expect(plugin.versions.map(v => v.version).sort()).toEqual([
      '1.0.0',
      '1.1.0',
    ]);
    const serving = plugin.instances.filter(i => i.status === 'running');
    expect(serving.map(i => i.version)).toEqual(['1.1.0', '1.1.0']);
    expect(serving.map(i => i.id).sort()).toEqual(after.map(i => i.id).sort());
    const history = await request(server)
      .get(api('/plugins/sample-http-service/history'))
      .set('Authorization', auth);
    expect(history.body.items.at(-1)).toMatchObject({
      fromState: 'updating',
      toState: 'running',
      reason: `deployment ${broken.deployment!.id} rolled-back: ${
        broken.deployment!.message
      }`,
    });
    const tried = plugin.endedInstances.filter(i => i.version === '2.0.0');
    expect(tried.length).toBeGreaterThan(0);
    for (const instance of tried) {
      expect(isProcessAlive(instance.pid!)).toBe(false);
    }

    expect(await act('sample-http-service', 'stop')).toMatchObject({
      status: 'succeeded',
    });
    expect(await act('sample-http-service', 'uninstall')).toMatchObject({
      status: 'succeeded',
      result: { removedVersions: expect.arrayContaining(['1.0.0', '1.1.0']) },
    });
  });

  it('moves a running plugin to error when its instance crashes past a restart budget of 0', async () => {
    await act('sample-http-service', 'install', {
      version: '1.1.0',
      start: true,
    });
    const running = await getPlugin('sample-http-service');
    expect(running.state).toBe('running');
    const [instance] = running.instances.filter(i => i.status === 'running');
    process.kill(instance.pid!, 'SIGKILL');
    let plugin = running;
    for (let i = 0; i < 100 && plugin.state !== 'error'; i++) {
      await new Promise(r => setTimeout(r, 50));
      plugin = await getPlugin('sample-http-service');
    }
    expect(plugin.state).toBe('error');
    expect(plugin.lastError).toMatch(/exited unexpectedly .*signal SIGKILL/);
    expect(plugin.endedInstances.find(i => i.id === instance.id)?.status).toBe(
      'crashed',
    );
    expect(plugin.restarts).toMatchObject({ maxRestarts: 0, crashLoop: true });

    // error -> start recovers it
    expect(await act('sample-http-service', 'start')).toMatchObject({
      status: 'succeeded',
    });
    expect(await act('sample-http-service', 'stop')).toMatchObject({
      status: 'succeeded',
    });
    expect(await act('sample-http-service', 'uninstall')).toMatchObject({
      status: 'succeeded',
    });
  });
});
