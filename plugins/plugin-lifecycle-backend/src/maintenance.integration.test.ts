import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mockCredentials } from '@backstage/backend-test-utils';
import request from 'supertest';
import { isProcessAlive } from './__testUtils__/sampleArtifacts';
import {
  startLifecycleBackend,
  waitForOperation,
} from './__testUtils__/testBackend';

jest.setTimeout(180_000);

const auth = mockCredentials.user.header();
const api = (path: string) => `/api/plugin-lifecycle${path}`;

/**
 * maintenance-on, maintenance-off and configure as queued commands, on the
 * real backend with the sample service: maintenance keeps the instances
 * running but out of the proxy's rotation, the table's 409s, and a
 * configure that restarts instances only when a value changed.
 */
describe('maintenance and configure commands', () => {
  let server: Server;
  let stop: () => Promise<void>;

  beforeAll(async () => {
    ({ server, stop } = await startLifecycleBackend({ pluginId: 'maint' }));
  });
  afterAll(async () => {
    await stop?.();
  });

  const post = (path: string, body: object = {}) =>
    request(server).post(api(path)).set('Authorization', auth).send(body);
  const plugin = async () =>
    (
      await request(server)
        .get(api('/plugins/maint'))
        .set('Authorization', auth)
    ).body;
  const run = async (path: string, body: object = {}) => {
    const res = await post(path, body);
    expect(res.status).toBe(202);
    const op = await waitForOperation(server, auth, res.body.operationId);
    return op;
  };
  const proxied = async () => {
    const { port } = server.address() as AddressInfo;
    const res = await fetch(`http://127.0.0.1:${port}${api('/proxy/maint/')}`, {
      headers: { Authorization: auth },
    });
    return res.status;
  };
  const eventually = async (what: () => Promise<number>, status: number) => {
    for (let i = 0; i < 100 && (await what()) !== status; i++) {
      await new Promise(r => setTimeout(r, 100));
    }
    return what();
  };

  it('answers 404 for a plugin never installed', async () => {
    // Never installed: inactive.
    const on = await post('/plugins/maint/maintenance-on');
    expect(on.status).toBe(404);
  });

  it('keeps instances running out of rotation during maintenance, and puts them back', async () => {
    const installed = await run('/plugins/maint/install', {
      version: '1.0.0',
      start: true,
    });
    expect(installed.status).toBe('succeeded');
    expect(await eventually(proxied, 200)).toBe(200);
    const before = await plugin();
    const pids = before.instances.map((i: { pid: number }) => i.pid);

    // Off while running: 409, with the states it is possible from.
    const off = await post('/plugins/maint/maintenance-off');
    expect(off.status).toBe(409);
    expect(off.body.error.message).toBe(
      "Cannot maintenance-off plugin 'maint': it is running (maintenance-off is possible from maintenance)",
    );

    const entered = await run('/plugins/maint/maintenance-on', {
      reason: 'migration',
    });
    expect(entered).toMatchObject({
      status: 'succeeded',
      result: { fromState: 'running', state: 'maintenance', instances: 1 },
    });
    const during = await plugin();
    expect(during.state).toBe('maintenance');
    expect(during.availableActions).toEqual(
      expect.arrayContaining(['stop', 'uninstall', 'maintenance-off']),
    );
    // The instance runs on, but the proxy routes nothing to it.
    expect(pids.every(isProcessAlive)).toBe(true);
    expect(await eventually(proxied, 503)).toBe(503);

    // No configure (nor start, restart, update) from maintenance.
    const configure = await post('/plugins/maint/configure');
    expect(configure.status).toBe(409);
    expect(configure.body.error.message).toMatch(
      /^Cannot configure plugin 'maint': it is in maintenance/,
    );
    expect((await post('/plugins/maint/maintenance-on')).status).toBe(409);

    const left = await run('/plugins/maint/maintenance-off');
    expect(left).toMatchObject({
      status: 'succeeded',
      result: { fromState: 'maintenance', state: 'running', instances: 1 },
    });
    expect(await eventually(proxied, 200)).toBe(200);
    expect(
      (await plugin()).instances.map((i: { pid: number }) => i.pid),
    ).toEqual(pids);

    const history = await request(server)
      .get(api('/plugins/maint/history'))
      .set('Authorization', auth);
    expect(
      history.body.items
        .slice(-2)
        .map((t: any) => [t.action, t.fromState, t.toState, t.reason]),
    ).toEqual([
      ['maintenance-on', 'running', 'maintenance', 'migration'],
      [
        'maintenance-off',
        'maintenance',
        'running',
        'back in rotation with 1 instance(s)',
      ],
    ]);
  });

  it('re-applies the configuration with configure: no restart without a changed value', async () => {
    const pids = (await plugin()).instances.map((i: { pid: number }) => i.pid);
    const same = await run('/plugins/maint/configure', { reason: 'check' });
    expect(same.status).toBe('succeeded');
    expect(same.result).toMatchObject({ applied: 0 });
    expect(
      (await plugin()).instances.map((i: { pid: number }) => i.pid),
    ).toEqual(pids);
  });

  it('leaves the sample uninstalled', async () => {
    const stopped = await run('/plugins/maint/stop');
    expect(stopped.status).toBe('succeeded');
    // Installed: maintenance-off is refused, maintenance-on allowed.
    expect((await post('/plugins/maint/maintenance-off')).status).toBe(409);
    expect((await run('/plugins/maint/maintenance-on')).result).toMatchObject({
      fromState: 'installed',
      state: 'maintenance',
      instances: 0,
    });
    expect((await run('/plugins/maint/maintenance-off')).result).toMatchObject({
      state: 'installed',
      instances: 0,
    });
    const uninstalled = await run('/plugins/maint/uninstall');
    expect(uninstalled.status).toBe('succeeded');
    const on = await post('/plugins/maint/maintenance-on');
    expect(on.status).toBe(409);
  });
});
