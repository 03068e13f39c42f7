import { mockCredentials } from '@backstage/backend-test-utils';
import request from 'supertest';
import {
  startLifecycleBackend,
  waitForDeployment,
  waitForOperation,
} from '../__testUtils__/testBackend';

jest.setTimeout(120_000);

describe('rolling an update back with its configuration', () => {
  let server: Awaited<ReturnType<typeof startLifecycleBackend>>['server'];
  let stop: () => Promise<void>;
  const auth = mockCredentials.user.header();
  const api = (path: string) => `/api/plugin-lifecycle${path}`;
  const get = (path: string) =>
    request(server).get(api(path)).set('Authorization', auth);
  const put = (path: string, body: unknown) =>
    request(server)
      .put(api(path))
      .set('Authorization', auth)
      .send(body as object);
  const post = (path: string, body: unknown = {}) =>
    request(server)
      .post(api(path))
      .set('Authorization', auth)
      .send(body as object);

  async function accepted(res: request.Response) {
    expect(res.status).toBe(202);
    const op = await waitForOperation(server, auth, res.body.operationId);
    expect(op).toMatchObject({ status: 'succeeded' });
    return op;
  }

  /** The running instances with the configuration each one lives with. */
  async function running() {
    const plugin = await get('/plugins/sample');
    const instances = (plugin.body.instances as any[]).filter(
      i => i.status === 'running',
    );
    return {
      plugin: plugin.body,
      instances: await Promise.all(
        instances.map(async i => {
          const res = await fetch(`http://${i.host}:${i.port}/config`);
          const body = (await res.json()) as { live: Record<string, unknown> };
          return { version: i.version, live: body.live };
        }),
      ),
    };
  }

  beforeAll(async () => {
    ({ server, stop } = await startLifecycleBackend({
      pluginId: 'sample',
      config: {
        defaultEnvironment: 'production',
        configuration: { watchPollInterval: 100 },
        deployments: { tickInterval: 50 },
        runtime: { process: { readyTimeout: 5_000, stopGracePeriod: 2_000 } },
      },
    }));
  });

  afterAll(() => stop());

  it('restores the previous version and the configuration it ran with', async () => {
    const install = await accepted(
      await post('/plugins/sample/install', {
        version: '1.0.0',
        start: true,
        configuration: [{ key: 'greeting', value: 'a', type: 'string' }],
      }),
    );
    const posted = await post('/plugins/sample/update', { version: '1.1.0' });
    const update = await accepted(posted);
    // The operation handed the instances to its deployment; 1.1.0 runs
    // once the deployment succeeded.
    expect(
      await waitForDeployment(server, auth, posted.body.deploymentId),
    ).toMatchObject({ phase: 'succeeded', operationId: update.id });
    expect(update.result).toMatchObject({
      fromVersion: '1.0.0',
      toVersion: '1.1.0',
      fromConfigRevision: expect.any(Number),
    });
    // The update changed code only.
    expect(update.result!.configRevision).toBe(
      update.result!.fromConfigRevision,
    );

    const write = await put('/plugins/sample/config/production', {
      entries: [{ key: 'greeting', value: 'b', type: 'string' }],
      description: 'greeting b',
    });
    expect(write.status).toBe(201);
    const configure = await waitForOperation(
      server,
      auth,
      write.body.operationId,
    );
    expect(configure).toMatchObject({ type: 'configure', status: 'succeeded' });
    expect((await running()).instances).toEqual([
      { version: '1.1.0', live: { greeting: 'b' } },
    ]);

    const rollback = await accepted(
      await post(`/plugins/sample/update/${update.id}/rollback`, {
        reason: 'greeting b broke the pipeline',
      }),
    );
    expect(rollback).toMatchObject({
      type: 'update',
      params: {
        version: '1.0.0',
        rollbackOf: update.id,
        restoreConfigRevision: update.result!.fromConfigRevision,
      },
      result: {
        fromVersion: '1.1.0',
        toVersion: '1.0.0',
        rollbackOf: update.id,
        restoredConfiguration: [
          { layer: 'production', version: 3, previousVersion: 2 },
        ],
      },
    });

    // Code and configuration went back together.
    const now = await running();
    expect(now.plugin).toMatchObject({
      state: 'running',
      currentVersion: '1.0.0',
      configRevision: rollback.result!.configRevision,
    });
    expect(now.instances).toEqual([
      { version: '1.0.0', live: { greeting: 'a' } },
    ]);

    // Rolled back once: the plugin no longer runs what the update installed.
    const second = await post(`/plugins/sample/update/${update.id}/rollback`);
    expect(second.status).toBe(409);
    expect(second.body.error.message).toBe(
      `Cannot roll back update '${update.id}' of 'sample' (1.0.0 -> 1.1.0): the plugin runs 1.0.0 now`,
    );

    // A new version on top; history is not rewritten.
    const versions = await get('/plugins/sample/config/production/versions');
    expect(
      versions.body.items.map((v: any) => [
        v.version,
        v.description,
        v.rolledBackFrom,
      ]),
    ).toEqual([
      [3, `restored with rollback of update ${update.id}`, 1],
      [2, 'greeting b', undefined],
      [1, 'given at install of 1.0.0', undefined],
    ]);
    // The restore was applied by the update itself: no configure operation.
    const operations = await get('/plugins/sample/operations');
    expect(operations.body.items.map((o: any) => [o.id, o.type])).toEqual([
      [rollback.id, 'update'],
      [configure.id, 'configure'],
      [update.id, 'update'],
      [install.id, 'install'],
    ]);

    // The rollback is a deployment too: rolling it back brings 1.1.0 and
    // greeting b back.
    const again = await accepted(
      await post(`/plugins/sample/update/${rollback.id}/rollback`),
    );
    expect(again.result).toMatchObject({
      fromVersion: '1.0.0',
      toVersion: '1.1.0',
    });
    expect((await running()).instances).toEqual([
      { version: '1.1.0', live: { greeting: 'b' } },
    ]);
  });

  it('refuses what cannot be rolled back', async () => {
    const operations = (await get('/plugins/sample/operations')).body
      .items as any[];
    const firstUpdate = operations.filter(o => o.type === 'update').pop();
    const install = operations.find(o => o.type === 'install');
    const configure = operations.find(o => o.type === 'configure');

    const unknown = await post(
      '/plugins/sample/update/00000000-0000-0000-0000-000000000000/rollback',
    );
    expect(unknown.status).toBe(404);
    const unknownPlugin = await post(
      `/plugins/nope/update/${firstUpdate.id}/rollback`,
    );
    expect(unknownPlugin.status).toBe(404);

    const notAnUpdate = await post(
      `/plugins/sample/update/${install.id}/rollback`,
    );
    expect(notAnUpdate.status).toBe(400);
    expect(notAnUpdate.body.error.message).toBe(
      `Operation '${install.id}' (install) is not an update; only an update can be rolled back`,
    );
    expect(
      (await post(`/plugins/sample/update/${configure.id}/rollback`)).status,
    ).toBe(400);

    const badBody = await post(
      `/plugins/sample/update/${firstUpdate.id}/rollback`,
      { cascade: true },
    );
    expect(badBody.status).toBe(400);
    expect(badBody.body.error.message).toMatch(/^Invalid rollback request/);
  });
});
