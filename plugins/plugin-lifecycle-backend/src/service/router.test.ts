import { mockCredentials, mockServices } from '@backstage/backend-test-utils';
import { AuthorizeResult } from '@backstage/plugin-permission-common';
import request from 'supertest';
import {
  startLifecycleBackend,
  waitForOperation,
} from '../__testUtils__/testBackend';

jest.setTimeout(30_000);

describe('plugin-lifecycle router: bad input', () => {
  let server: Awaited<ReturnType<typeof startLifecycleBackend>>['server'];
  let stop: () => Promise<void>;
  const auth = mockCredentials.user.header();

  beforeAll(async () => {
    ({ server, stop } = await startLifecycleBackend({ pluginId: 'sample' }));
  });

  afterAll(() => stop());

  const post = (path: string, body: unknown) =>
    request(server)
      .post(`/api/plugin-lifecycle${path}`)
      .set('Authorization', auth)
      .send(body as object);
  const get = (path: string) =>
    request(server)
      .get(`/api/plugin-lifecycle${path}`)
      .set('Authorization', auth);

  it.each([
    [
      'an invalid plugin id',
      '/plugins/Not_A_Slug/install',
      { version: '1.0.0' },
    ],
    ['a missing version', '/plugins/sample/install', {}],
    [
      'a version that is not semver',
      '/plugins/sample/install',
      { version: 'latest' },
    ],
    [
      'a wrong type',
      '/plugins/sample/install',
      { version: '1.0.0', replicas: 'two' },
    ],
    [
      'an unknown field',
      '/plugins/sample/install',
      { version: '1.0.0', colour: 'blue' },
    ],
    [
      'an unknown artifact type',
      '/plugins/sample/install',
      { version: '1.0.0', artifact: { type: 'ftp' } },
    ],
    [
      'a probe without its settings',
      '/plugins/sample/install',
      {
        version: '1.0.0',
        healthProbes: [{ name: 'h', type: 'liveness', method: 'http' }],
      },
    ],
    [
      'a secret when no encryption key is configured',
      '/plugins/sample/install',
      {
        version: '1.0.0',
        configuration: [{ key: 'api.key', value: 's3cret', type: 'secret' }],
      },
    ],
    [
      'a plugin with no artifact anywhere',
      '/plugins/unknown-plugin/install',
      { version: '1.0.0' },
    ],
    ['a body that is not an object', '/plugins/sample/install', [1, 2]],
    [
      'a tenant longer than 255 characters',
      '/plugins/sample/install',
      { version: '1.0.0', tenant: 't'.repeat(256) },
    ],
    [
      'an entity ref longer than 512 characters',
      '/plugins/sample/install',
      { version: '1.0.0', entityRef: `component:default/${'e'.repeat(512)}` },
    ],
    ['an unknown field on a command', '/plugins/sample/start', { force: true }],
    ['an update without a version', '/plugins/sample/update', {}],
    [
      'an update to something that is not a version',
      '/plugins/sample/update',
      { version: 'next' },
    ],
  ])('answers 400 for %s', async (_what, path, body) => {
    const res = await post(path, body);
    expect(res.status).toBe(400);
    expect(res.body.error.name).toBe('InputError');
    expect(res.body.error.message).toMatchSnapshot();
  });

  it('answers 400 for a body that is not JSON without quoting it back', async () => {
    for (const path of ['/plugins/sample/install', '/services']) {
      const res = await request(server)
        .post(`/api/plugin-lifecycle${path}`)
        .set('Authorization', auth)
        .set('Content-Type', 'application/json')
        .send('{"version": "1.0.0", "secret": "s3cret-canary');
      expect(res.status).toBe(400);
      expect(res.text).not.toContain('s3cret-canary');
      expect(res.body.error).toMatchObject({
        name: 'InputError',
        message: 'Invalid request body: it is not valid JSON',
      });
    }
  });

  it('answers 403 for an artifact type that requests may not carry', async () => {
    const res = await post('/plugins/sample/install', {
      version: '1.0.0',
      artifact: { type: 'command', command: 'rm', args: ['-rf', '/'] },
    });
    expect(res.status).toBe(403);
    expect(res.body.error.message).toMatchInlineSnapshot(
      `"Artifacts of type 'command' are not allowed in install requests (allowed: external); configure the plugin under pluginLifecycle.plugins or extend pluginLifecycle.requestArtifactTypes"`,
    );
    expect((await get('/plugins/sample')).status).toBe(404);
  });

  it('answers 400 for an unknown state filter', async () => {
    const res = await get('/plugins?state=sleeping');
    expect(res.status).toBe(400);
    expect(res.body.error.message).toMatchInlineSnapshot(
      `"Invalid query: state: Invalid option: expected one of "inactive"|"installing"|"installed"|"configuring"|"starting"|"running"|"updating"|"stopping"|"uninstalling"|"error"|"maintenance""`,
    );
  });

  it('answers 404 for unknown plugins and operations', async () => {
    for (const res of [
      await get('/plugins/nope'),
      await get('/plugins/nope/history'),
      await post('/plugins/nope/start', {}),
      await get('/operations/00000000-0000-0000-0000-000000000000'),
    ]) {
      expect(res.status).toBe(404);
      expect(res.body.error.name).toBe('NotFoundError');
    }
  });

  it('answers 409 naming the current state for a forbidden transition, and changes nothing', async () => {
    const installed = await post('/plugins/sample/install', {
      version: '1.0.0',
    });
    expect(installed.status).toBe(202);
    await waitForOperation(server, auth, installed.body.operationId);
    const before = (await get('/plugins/sample')).body;
    expect(before.state).toBe('installed');

    const res = await post('/plugins/sample/stop', {});
    expect(res.status).toBe(409);
    expect(res.body.error.message).toMatchInlineSnapshot(
      `"Cannot stop plugin 'sample': it is installed (stop is possible from running, maintenance, error)"`,
    );
    const again = await post('/plugins/sample/install', { version: '1.0.0' });
    expect(again.status).toBe(409);
    expect(again.body.error.message).toMatch(/it is installed/);

    const after = (await get('/plugins/sample')).body;
    expect(after.revision).toBe(before.revision);
    expect((await get('/plugins/sample/history')).body.items).toHaveLength(2);

    expect((await post('/plugins/sample/uninstall', {})).status).toBe(202);
  });

  it('answers an operation once it ended when asked to wait', async () => {
    const queued = await post('/plugins/waited/install', {
      version: '1.0.0',
      artifact: {
        type: 'external',
        endpoints: [{ host: '127.0.0.1', port: 1 }],
      },
    });
    expect(queued.status).toBe(202);
    const res = await get(
      `/operations/${queued.body.operationId}?waitSeconds=30`,
    );
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ type: 'install', status: 'succeeded' });

    const bad = await get(
      `/operations/${queued.body.operationId}?waitSeconds=61`,
    );
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toMatchInlineSnapshot(
      `"Invalid query: waitSeconds: waitSeconds is at most 60"`,
    );
    expect(
      (
        await get(
          '/operations/00000000-0000-0000-0000-000000000000?waitSeconds=5',
        )
      ).status,
    ).toBe(404);
    await waitForOperation(
      server,
      auth,
      (
        await post('/plugins/waited/uninstall', {})
      ).body.operationId,
    );
  });

  it("lists a plugin's operations, newest first", async () => {
    expect((await get('/plugins/nope/operations')).status).toBe(404);
    const first = await post('/plugins/listed/install', {
      version: '1.0.0',
      artifact: {
        type: 'external',
        endpoints: [{ host: '127.0.0.1', port: 1 }],
      },
    });
    await waitForOperation(server, auth, first.body.operationId);
    const second = await post('/plugins/listed/uninstall', {});
    await waitForOperation(server, auth, second.body.operationId);
    const res = await get('/plugins/listed/operations');
    expect(res.status).toBe(200);
    expect(res.body.items.map((o: any) => [o.id, o.type, o.status])).toEqual([
      [second.body.operationId, 'uninstall', 'succeeded'],
      [first.body.operationId, 'install', 'succeeded'],
    ]);
  });

  it('serves an OpenAPI document generated from the schemas', async () => {
    const res = await request(server).get('/api/plugin-lifecycle/openapi.json');
    expect(res.status).toBe(200);
    const install = res.body.paths['/plugins/{pluginId}/install'].post;
    const schema = install.requestBody.content['application/json'].schema;
    expect(schema.required).toEqual(['version']);
    expect(Object.keys(res.body.paths)).toEqual(
      expect.arrayContaining([
        '/operations/batch',
        '/operations/{operationId}/cancel',
        '/plugins/{pluginId}/operations',
        '/plugins/{pluginId}/config/{environment}',
        '/plugins/{pluginId}/config/{environment}/watch',
        '/plugins/{pluginId}/config/{layer}/rollback',
        '/plugins/{pluginId}/update/{operationId}/rollback',
      ]),
    );
    const put = res.body.paths['/plugins/{pluginId}/config/{environment}'].put;
    expect(
      Object.keys(
        put.requestBody.content['application/json'].schema.properties,
      ),
    ).toEqual(['entries', 'description', 'expectedVersion', 'dryRun']);
    const patch =
      res.body.paths['/plugins/{pluginId}/config/{environment}'].patch;
    expect(
      Object.keys(
        patch.requestBody.content['application/json'].schema.properties,
      ),
    ).toEqual([
      'entries',
      'remove',
      'description',
      'expectedVersion',
      'dryRun',
    ]);
    expect(Object.keys(patch.responses)).toEqual(
      expect.arrayContaining(['200', '201', '400', '409']),
    );
    expect(Object.keys(schema.properties)).toEqual(
      expect.arrayContaining([
        'version',
        'artifact',
        'configuration',
        'healthProbes',
        'replicas',
      ]),
    );
  });
});

describe('plugin-lifecycle router: permissions', () => {
  it('answers 403 when the policy denies', async () => {
    const backend = await startLifecycleBackend({
      pluginId: 'sample',
      features: [
        mockServices.permissions.factory({ result: AuthorizeResult.DENY }),
      ],
    });
    try {
      const res = await request(backend.server)
        .get('/api/plugin-lifecycle/plugins')
        .set('Authorization', mockCredentials.user.header());
      expect(res.status).toBe(403);
      expect(res.body.error.message).toBe(
        'Not allowed: plugin-lifecycle.plugin.read',
      );
      const install = await request(backend.server)
        .post('/api/plugin-lifecycle/plugins/sample/install')
        .set('Authorization', mockCredentials.user.header())
        .send({ version: '1.0.0' });
      expect(install.status).toBe(403);
    } finally {
      await backend.stop();
    }
  });
});
