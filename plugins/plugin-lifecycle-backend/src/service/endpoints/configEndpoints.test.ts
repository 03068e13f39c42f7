import { randomBytes } from 'node:crypto';
import {
  coreServices,
  createServiceFactory,
} from '@backstage/backend-plugin-api';
import { mockCredentials } from '@backstage/backend-test-utils';
import { AuthorizeResult } from '@backstage/plugin-permission-common';
import request from 'supertest';
import {
  startLifecycleBackend,
  waitForOperation,
} from '../../__testUtils__/testBackend';

jest.setTimeout(90_000);

const KEY = randomBytes(32).toString('base64');
const CANARY = 'PLAINTEXT-CANARY-route-41c9';

/** Allows everything but revealing secrets, as a platform team might. */
const noRevealPermissions = createServiceFactory({
  service: coreServices.permissions,
  deps: {},
  factory: () => ({
    authorize: async (requests: any[]) =>
      requests.map(r => ({
        result:
          r.permission.name === 'plugin-lifecycle.config.reveal'
            ? AuthorizeResult.DENY
            : AuthorizeResult.ALLOW,
      })),
    authorizeConditional: async (requests: any[]) =>
      requests.map(() => ({ result: AuthorizeResult.ALLOW })),
  }),
});

async function startBackend(features: any[] = []) {
  return startLifecycleBackend({
    pluginId: 'sample',
    config: {
      defaultEnvironment: 'production',
      configuration: {
        encryption: { keys: [{ id: 'k1', secret: KEY }] },
        watchPollInterval: 100,
      },
      runtime: { process: { readyTimeout: 5_000, stopGracePeriod: 2_000 } },
    },
    features,
  });
}

describe('configuration routes', () => {
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
  const patch = (path: string, body: unknown) =>
    request(server)
      .patch(api(path))
      .set('Authorization', auth)
      .send(body as object);
  const post = (path: string, body: unknown) =>
    request(server)
      .post(api(path))
      .set('Authorization', auth)
      .send(body as object);

  async function runningInstances(pluginId: string) {
    const res = await get(`/plugins/${pluginId}`);
    return (res.body.instances as any[]).filter(i => i.status === 'running');
  }

  async function liveConfig(instance: { host: string; port: number }) {
    const res = await fetch(`http://${instance.host}:${instance.port}/config`);
    return (await res.json()) as {
      live: Record<string, unknown>;
      reloads: number;
    };
  }

  beforeAll(async () => {
    ({ server, stop } = await startBackend());
  });

  afterAll(() => stop());

  it('stores install configuration as version 1, secrets sealed and masked', async () => {
    const accepted = await post('/plugins/sample/install', {
      version: '1.0.0',
      start: true,
      configuration: [
        { key: 'greeting', value: 'hello', type: 'string' },
        { key: 'api.key', value: CANARY, type: 'secret', sensitive: true },
      ],
      manifest: { reloadStrategy: 'endpoint' },
    });
    expect(accepted.status).toBe(202);
    expect(JSON.stringify(accepted.body)).not.toContain(CANARY);
    const op = await waitForOperation(server, auth, accepted.body.operationId);
    expect(op.status).toBe('succeeded');
    expect(JSON.stringify(op)).not.toContain(CANARY);

    const effective = await get('/plugins/sample/config/production');
    expect(effective.status).toBe(200);
    expect(effective.body).toMatchObject({
      pluginId: 'sample',
      environment: 'production',
      version: 1,
      baseVersion: 0,
    });
    expect(effective.body.entries).toEqual([
      expect.objectContaining({
        key: 'api.key',
        value: '********',
        masked: true,
        source: { layer: 'production', version: 1 },
      }),
      expect.objectContaining({ key: 'greeting', value: 'hello' }),
    ]);
    // The instance got the plaintext: it is what the secret is for.
    const [instance] = await runningInstances('sample');
    expect((await liveConfig(instance)).live['api.key']).toBe(CANARY);

    const revealed = await get('/plugins/sample/config/production?reveal=true');
    expect(revealed.body.entries[0].value).toBe(CANARY);
  });

  it('hot-reloads a running plugin through its reload endpoint', async () => {
    const [before] = await runningInstances('sample');
    const base = await put('/plugins/sample/config/base', {
      entries: [{ key: 'greeting', value: 'from base', type: 'string' }],
      description: 'a shared default',
    });
    expect(base.status).toBe(201);
    const write = await put('/plugins/sample/config/production', {
      entries: [
        { key: 'api.key', value: '********', type: 'secret', sensitive: true },
        { key: 'pool.size', value: 5, type: 'number' },
      ],
      expectedVersion: 1,
      description: 'pool size; greeting now from base',
    });
    expect(write.status).toBe(201);
    expect(write.body.version).toMatchObject({
      layer: 'production',
      version: 2,
    });
    expect(write.body.operationId).toBeDefined();
    const op = await waitForOperation(server, auth, write.body.operationId);
    expect(op).toMatchObject({ type: 'configure', status: 'succeeded' });

    const [after] = await runningInstances('sample');
    expect(after.id).toBe(before.id); // reloaded in place, not restarted
    const live = await liveConfig(after);
    expect(live.live).toEqual({
      'api.key': CANARY, // kept: it was sent masked
      greeting: 'from base',
      'pool.size': 5,
    });
    expect(live.reloads).toBeGreaterThanOrEqual(1);

    const effective = await get('/plugins/sample/config/production');
    expect(
      effective.body.entries.map((e: any) => [e.key, e.source.layer]),
    ).toEqual([
      ['api.key', 'production'],
      ['greeting', 'base'],
      ['pool.size', 'production'],
    ]);
    const plugin = await get('/plugins/sample');
    expect(plugin.body.state).toBe('running');
  });

  it('rolls a bad change back when the first instance does not stay ready', async () => {
    const [before] = await runningInstances('sample');
    const write = await put('/plugins/sample/config/production', {
      entries: [
        { key: 'api.key', value: '********', type: 'secret', sensitive: true },
        { key: 'pool.size', value: 5, type: 'number' },
        { key: 'sample.failReadiness', value: true, type: 'boolean' },
      ],
      description: 'a change that breaks readiness',
    });
    expect(write.status).toBe(201);
    const op = await waitForOperation(server, auth, write.body.operationId);
    expect(op.status).toBe('failed');
    expect(op.error).toMatch(/^configuration revision \d+ failed \(endpoint\)/);
    expect(op.error).toMatch(/configuration restored/);

    // The instance is back on the previous configuration and ready.
    const [after] = await runningInstances('sample');
    expect(after.id).toBe(before.id);
    expect((await liveConfig(after)).live['sample.failReadiness']).toBe(
      undefined,
    );
    const ready = await fetch(`http://${after.host}:${after.port}/ready`);
    expect(ready.status).toBe(200);

    // What is stored is what runs: a rollback version on top.
    const versions = await get('/plugins/sample/config/production/versions');
    expect(versions.body.items[0]).toMatchObject({
      version: 4,
      rolledBackFrom: 2,
      author: 'plugin-lifecycle:configure',
    });
    const diff = await get(
      '/plugins/sample/config/production/diff?from=3&to=4',
    );
    expect(diff.body.removed.map((e: any) => e.key)).toEqual([
      'sample.failReadiness',
    ]);
    const plugin = await get('/plugins/sample');
    expect(plugin.body.state).toBe('running');
    expect(plugin.body.lastError).toMatch(/failed \(endpoint\)/);
  });

  it('reads versions only in decimal digits (attack: 0x1 and 1e3 read as numbers)', async () => {
    const answers = [];
    for (const path of [
      '/plugins/sample/config/production/versions/0x1',
      '/plugins/sample/config/production/versions/1e0',
      '/plugins/sample/config/production/diff?from=0x1&to=2',
      '/plugins/sample/config/production/diff?from=1&to=1e3',
      '/plugins/sample/config/production/watch?afterRevision=1e3&timeoutMs=0',
    ]) {
      const res = await get(path);
      answers.push(`${res.status} ${res.body.error?.message}`);
    }
    expect(answers).toMatchInlineSnapshot(`
      [
        "400 Invalid version '0x1': a positive whole number in decimal digits",
        "400 Invalid version '1e0': a positive whole number in decimal digits",
        "400 Invalid query: from: must be a whole number in decimal digits",
        "400 Invalid query: to: must be a whole number in decimal digits",
        "400 Invalid query: afterRevision: must be a whole number in decimal digits",
      ]
    `);
  });

  it('lists, diffs and rolls back versions without showing secrets', async () => {
    const versions = await get('/plugins/sample/config/production/versions');
    expect(versions.status).toBe(200);
    expect(versions.body.items.map((v: any) => v.version)).toEqual([
      4, 3, 2, 1,
    ]);
    const v1 = await get('/plugins/sample/config/production/versions/1');
    expect(v1.body.entries.find((e: any) => e.key === 'api.key')).toMatchObject(
      { value: '********', masked: true },
    );
    const diff = await get(
      '/plugins/sample/config/production/diff?from=1&to=2',
    );
    expect(diff.body).toMatchObject({
      from: 1,
      to: 2,
      added: [expect.objectContaining({ key: 'pool.size' })],
      removed: [expect.objectContaining({ key: 'greeting' })],
    });
    expect(JSON.stringify(diff.body)).not.toContain(CANARY);

    const rollback = await post('/plugins/sample/config/production/rollback', {
      toVersion: 1,
    });
    expect(rollback.status).toBe(201);
    expect(rollback.body.version).toMatchObject({
      version: 5,
      rolledBackFrom: 1,
    });
    await waitForOperation(server, auth, rollback.body.operationId);
    const [instance] = await runningInstances('sample');
    expect((await liveConfig(instance)).live).toEqual({
      'api.key': CANARY,
      greeting: 'hello',
    });
  });

  it('answers a long-poll watch at the next change', async () => {
    const current = await get('/plugins/sample/config/production');
    const revision = current.body.revision;
    const watching = get(
      `/plugins/sample/config/production/watch?afterRevision=${revision}&timeoutMs=20000`,
    );
    const answered = watching.then(res => res);
    await new Promise(r => setTimeout(r, 200));
    await put('/plugins/sample/config/base', {
      entries: [{ key: 'greeting', value: 'watched', type: 'string' }],
    });
    const res = await answered;
    expect(res.status).toBe(200);
    expect(res.body.changed).toBe(true);
    expect(res.body.configuration.revision).toBeGreaterThan(revision);

    const idle = await get(
      `/plugins/sample/config/production/watch?afterRevision=${res.body.configuration.revision}&timeoutMs=100`,
    );
    expect(idle.body.changed).toBe(false);
  });

  it('reads the configuration as it was at a past time', async () => {
    const versions = await get('/plugins/sample/config/production/versions');
    const first = versions.body.items.at(-1);
    const at = new Date(Date.parse(first.createdAt) + 1).toISOString();
    const past = await get(
      `/plugins/sample/config/production?at=${encodeURIComponent(at)}`,
    );
    expect(past.status).toBe(200);
    expect(past.body).toMatchObject({ version: 1, at });
  });

  it('exports and re-imports configuration, refusing a changed file', async () => {
    const exported = await get('/config/export');
    expect(exported.status).toBe(200);
    expect(JSON.stringify(exported.body)).not.toContain(CANARY);
    const again = await post('/config/import', exported.body);
    expect(again.body.error?.message).toBeUndefined();
    expect(again.status).toBe(200);
    expect(again.body.restored).toEqual([]);
    expect(again.body.skipped.map((s: any) => s.reason)).toEqual([
      'unchanged',
      'unchanged',
    ]);

    const tampered = structuredClone(exported.body);
    tampered.versions[0].description = 'edited by hand';
    const refused = await post('/config/import', tampered);
    expect(refused.status).toBe(400);
    expect(refused.body.error.message).toMatch(/signature does not match/);
  });

  it('PATCH sets keys and keeps the others; neither PUT nor PATCH drops a required key', async () => {
    const added = await patch('/plugins/sample/config/production', {
      entries: [
        {
          key: 'db.url',
          value: 'postgres://db',
          type: 'string',
          required: true,
        },
      ],
      description: 'a required key',
    });
    expect(added.status).toBe(201);
    expect(added.body).toMatchObject({
      changed: true,
      version: { version: 6, entryCount: 3 },
    });
    await waitForOperation(server, auth, added.body.operationId);
    const [instance] = await runningInstances('sample');
    expect((await liveConfig(instance)).live).toEqual({
      'api.key': CANARY,
      'db.url': 'postgres://db',
      greeting: 'hello',
    });

    const dropped = await put('/plugins/sample/config/production', {
      entries: [{ key: 'greeting', value: 'hello', type: 'string' }],
    });
    expect(dropped.status).toBe(400);
    expect(dropped.body.error.message).toMatchInlineSnapshot(
      `"Invalid configuration for 'sample' (production): db.url: is required and this write would remove it"`,
    );
    const removed = await patch('/plugins/sample/config/production', {
      remove: ['db.url'],
    });
    expect(removed.status).toBe(400);
    expect(removed.body.error.message).toMatchInlineSnapshot(
      `"Invalid configuration for 'sample' (production): db.url: is required and this write would remove it"`,
    );
    const both = await patch('/plugins/sample/config/production', {
      entries: [{ key: 'greeting', value: 'hi', type: 'string' }],
      remove: ['greeting'],
    });
    expect(both.status).toBe(400);
    expect(both.body.error.message).toMatchInlineSnapshot(
      `"Invalid configuration: remove: 'greeting' is both set and removed"`,
    );
    const versions = await get('/plugins/sample/config/production/versions');
    expect(versions.body.items[0].version).toBe(6);
  });

  it('answers a write that changes nothing with 200 and the current version, leaving instances alone', async () => {
    const [before] = await runningInstances('sample');
    const reloads = (await liveConfig(before)).reloads;
    const operations = await get('/plugins/sample/operations');
    const latest = await get('/plugins/sample/config/production/versions/6');

    const same = await put('/plugins/sample/config/production', {
      // As read: the secret masked, in another order.
      entries: latest.body.entries
        .map(({ masked: _m, ...entry }: any) => entry)
        .reverse(),
      expectedVersion: 6,
    });
    expect(same.status).toBe(200);
    expect(same.body).toEqual({
      changed: false,
      version: expect.objectContaining({ version: 6 }),
    });
    const patched = await patch('/plugins/sample/config/production', {
      entries: [{ key: 'greeting', value: 'hello', type: 'string' }],
    });
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({
      changed: false,
      version: { version: 6 },
    });
    // Rolling back to the content the layer holds is no change either.
    const rolled = await post('/plugins/sample/config/production/rollback', {
      toVersion: 6,
      expectedVersion: 6,
    });
    expect(rolled.status).toBe(200);
    expect(rolled.body).toEqual({
      changed: false,
      version: expect.objectContaining({ version: 6 }),
    });

    const [after] = await runningInstances('sample');
    expect(after.id).toBe(before.id);
    expect((await liveConfig(after)).reloads).toBe(reloads);
    expect((await get('/plugins/sample/operations')).body).toEqual(
      operations.body,
    );
    const versions = await get('/plugins/sample/config/production/versions');
    expect(versions.body.items[0].version).toBe(6);
  });

  it('restarts nothing for a change that leaves every value the instances get', async () => {
    const [before] = await runningInstances('sample');
    const reloads = (await liveConfig(before)).reloads;
    // The production layer sets greeting: the base's greeting never shows.
    const base = await put('/plugins/sample/config/base', {
      entries: [{ key: 'greeting', value: 'overridden', type: 'string' }],
    });
    expect(base.status).toBe(201);
    const op = await waitForOperation(server, auth, base.body.operationId);
    expect(op).toMatchObject({
      type: 'configure',
      status: 'succeeded',
      result: { applied: 0, reason: expect.stringMatching(/changes no value/) },
    });
    const [after] = await runningInstances('sample');
    expect(after.id).toBe(before.id);
    expect(after.configRevision).toBe(base.body.version.revision);
    expect((await liveConfig(after)).reloads).toBe(reloads);
    expect((await get('/plugins/sample')).body).toMatchObject({
      state: 'running',
    });
  });

  it('answers dryRun with a preview and stores nothing', async () => {
    const operations = await get('/plugins/sample/operations');
    const preview = await patch('/plugins/sample/config/production', {
      entries: [{ key: 'pool.size', value: 7, type: 'number' }],
      remove: ['greeting'],
      dryRun: true,
    });
    expect(preview.status).toBe(200);
    expect(preview.body).toMatchObject({
      dryRun: true,
      layer: 'production',
      currentVersion: 6,
      changed: true,
      diff: {
        from: 6,
        to: 7,
        added: [expect.objectContaining({ key: 'pool.size' })],
        removed: [expect.objectContaining({ key: 'greeting' })],
        changed: [],
      },
    });
    expect(preview.body.operationId).toBeUndefined();
    expect(JSON.stringify(preview.body)).not.toContain(CANARY);
    expect(
      preview.body.effective[0].entries.map((e: any) => [
        e.key,
        e.source.layer,
      ]),
    ).toEqual([
      ['api.key', 'production'],
      ['db.url', 'production'],
      ['greeting', 'base'],
      ['pool.size', 'production'],
    ]);
    const refused = await put('/plugins/sample/config/production', {
      entries: [],
      dryRun: true,
    });
    expect(refused.status).toBe(400);
    expect(refused.body.error.message).toMatch(/db\.url: is required/);

    const versions = await get('/plugins/sample/config/production/versions');
    expect(versions.body.items[0].version).toBe(6);
    expect((await get('/plugins/sample/operations')).body).toEqual(
      operations.body,
    );
  });

  it.each([
    [
      'a wrong type',
      '/plugins/sample/config/production',
      { entries: [{ key: 'pool.size', value: 'five', type: 'number' }] },
      400,
    ],
    [
      'an unknown environment',
      '/plugins/sample/config/moon',
      { entries: [] },
      400,
    ],
    [
      'a stale expected version',
      '/plugins/sample/config/production',
      { entries: [], expectedVersion: 1 },
      409,
    ],
    [
      'an unknown plugin',
      '/plugins/nobody/config/production',
      { entries: [] },
      404,
    ],
    [
      'an unknown field',
      '/plugins/sample/config/production',
      { entries: [], colour: 'blue' },
      400,
    ],
  ])(
    'answers %s with %s and stores nothing',
    async (_what, path, body, status) => {
      const before = await get('/plugins/sample/config/production/versions');
      const res = await put(path, body);
      expect(res.status).toBe(status);
      expect(res.body.error.message).toBeTruthy();
      const after = await get('/plugins/sample/config/production/versions');
      expect(after.body.items.length).toBe(before.body.items.length);
    },
  );
});

describe('configuration routes without the reveal permission', () => {
  it('masks secrets and refuses reveal=true with 403', async () => {
    const { server, stop } = await startBackend([noRevealPermissions]);
    const auth = mockCredentials.user.header();
    try {
      const accepted = await request(server)
        .post('/api/plugin-lifecycle/plugins/sample/install')
        .set('Authorization', auth)
        .send({
          version: '1.0.0',
          configuration: [{ key: 'api.key', value: CANARY, type: 'secret' }],
        });
      await waitForOperation(server, auth, accepted.body.operationId);
      const masked = await request(server)
        .get('/api/plugin-lifecycle/plugins/sample/config/production')
        .set('Authorization', auth);
      expect(masked.body.entries[0].value).toBe('********');
      const revealed = await request(server)
        .get(
          '/api/plugin-lifecycle/plugins/sample/config/production?reveal=true',
        )
        .set('Authorization', auth);
      expect(revealed.status).toBe(403);
      expect(JSON.stringify(revealed.body)).not.toContain(CANARY);
    } finally {
      await stop();
    }
  });
});
