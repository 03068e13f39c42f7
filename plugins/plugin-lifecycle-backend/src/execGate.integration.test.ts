import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { mockCredentials } from '@backstage/backend-test-utils';
import request from 'supertest';
import {
  startLifecycleBackend,
  waitForOperation,
} from './__testUtils__/testBackend';
import {
  makeTempDir,
  packSampleArtifacts,
} from './__testUtils__/sampleArtifacts';

jest.setTimeout(60_000);

const auth = mockCredentials.user.header();
const api = (p: string) => `/api/plugin-lifecycle${p}`;
const KEY = 'pluginLifecycle.health.exec.allowedCommands';

// What an attacker sends: a probe whose output (returned by the health API)
// would be the backend's environment, its secrets included.
const stealer = (name = 'steal') => ({
  name,
  type: 'liveness',
  method: 'exec',
  exec: { command: 'sh', args: ['-c', 'cat /proc/$PPID/environ; env'] },
});

/**
 * The sample service packed with one more probe in its own manifest (as a
 * package's author, not the operator, would write it).
 */
function packWithManifestProbe(probe: object): string {
  const root = makeTempDir('plugin-lifecycle-manifest-exec-');
  const pkgDir = path.join(root, 'package');
  fs.mkdirSync(pkgDir);
  const source = path.resolve(
    __dirname,
    '../../../examples/sample-http-service',
  );
  const pkg = JSON.parse(
    fs.readFileSync(path.join(source, 'package.json'), 'utf8'),
  );
  pkg.pluginLifecycle.probes.push(probe);
  fs.writeFileSync(path.join(pkgDir, 'package.json'), JSON.stringify(pkg));
  fs.copyFileSync(
    path.join(source, 'server.js'),
    path.join(pkgDir, 'server.js'),
  );
  const tarball = path.join(root, 'sample-1.0.0.tgz');
  execFileSync('tar', ['czf', tarball, '-C', root, 'package']);
  return tarball;
}

describe('exec probes and npm packages from requests are refused unless app-config allows them', () => {
  let server: Awaited<ReturnType<typeof startLifecycleBackend>>['server'];
  let stop: () => Promise<void>;
  const manifestTarball = packWithManifestProbe(stealer('from-manifest'));

  beforeAll(async () => {
    const { tarballTemplate } = await packSampleArtifacts();
    ({ server, stop } = await startLifecycleBackend({
      pluginId: 'sample',
      config: {
        runtime: { process: { readyTimeout: 10_000, stopGracePeriod: 2_000 } },
        // Replaces the test backend's `plugins`, so `sample` is here again.
        plugins: {
          sample: { artifact: { type: 'tarball', path: tarballTemplate } },
          authored: { artifact: { type: 'tarball', path: manifestTarball } },
        },
      },
    }));
  });

  afterAll(() => stop());

  const send = (method: 'post' | 'put', p: string, body: unknown) =>
    request(server)
      [method](api(p))
      .set('Authorization', auth)
      .send(body as object);
  const get = (p: string) =>
    request(server).get(api(p)).set('Authorization', auth);

  it('POST /services with an exec health check: 403 naming the key, nothing stored', async () => {
    const res = await send('post', '/services', {
      serviceName: 'thief',
      host: '127.0.0.1',
      port: 4000,
      healthCheck: { ...stealer(), type: 'readiness' },
    });
    expect(res.status).toBe(403);
    expect(res.body.error.name).toBe('NotAllowedError');
    expect(res.body.error.message).toContain(KEY);
    expect((await get('/services?name=thief')).body.items).toEqual([]);
  });

  it('POST /services/batch with one exec health check: 403, none stored', async () => {
    const res = await send('post', '/services/batch', {
      services: [
        { serviceName: 'thief', host: '127.0.0.1', port: 4000 },
        {
          serviceName: 'thief',
          host: '127.0.0.1',
          port: 4001,
          healthCheck: { ...stealer(), type: 'readiness' },
        },
      ],
    });
    expect(res.status).toBe(403);
    expect(res.body.error.message).toContain(KEY);
    expect((await get('/services?name=thief')).body.items).toEqual([]);
  });

  it('install with exec healthProbes or an exec probe in the request manifest: 403, no plugin', async () => {
    for (const body of [
      { version: '1.0.0', healthProbes: [stealer()] },
      { version: '1.0.0', manifest: { probes: [stealer()] } },
    ]) {
      const res = await send('post', '/plugins/sample/install', body);
      expect(res.status).toBe(403);
      expect(res.body.error.message).toBe(
        `Exec probe command "sh" of plugin 'sample' (the install request) is not allowed; an operator may allow it with ${KEY} or pluginLifecycle.plugins.sample.allowExecProbes in app-config`,
      );
    }
    expect((await get('/plugins/sample')).status).toBe(404);
  });

  it('an npm package from an install request: 403 by default', async () => {
    const res = await send('post', '/plugins/from-npm/install', {
      version: '1.0.0',
      artifact: { type: 'npm', package: 'left-pad' },
    });
    expect(res.status).toBe(403);
    expect(res.body.error.message).toContain(
      "Artifacts of type 'npm' are not allowed in install requests (allowed: external)",
    );
    expect(res.body.error.message).toContain(
      'pluginLifecycle.requestArtifactTypes',
    );
    expect((await get('/plugins/from-npm')).status).toBe(404);
  });

  it('PUT /plugins/{id}/probes and update healthProbes with an exec probe: 403, probes unchanged', async () => {
    const installed = await send('post', '/plugins/sample/install', {
      version: '1.0.0',
    });
    expect(installed.status).toBe(202);
    expect(
      await waitForOperation(server, auth, installed.body.operationId),
    ).toMatchObject({ status: 'succeeded' });
    const before = (await get('/plugins/sample/health')).body.probes;

    const put = await send('put', '/plugins/sample/probes', {
      probes: [stealer()],
    });
    expect(put.status).toBe(403);
    expect(put.body.error.message).toContain(KEY);
    expect(put.body.error.message).toContain(
      'pluginLifecycle.plugins.sample.allowExecProbes',
    );

    const update = await send('post', '/plugins/sample/update', {
      version: '1.1.0',
      healthProbes: [stealer()],
    });
    expect(update.status).toBe(403);
    expect(update.body.error.message).toContain(KEY);

    expect((await get('/plugins/sample/health')).body.probes).toEqual(before);
  });

  it("a package's own manifest with an exec probe: the install fails naming the key", async () => {
    const res = await send('post', '/plugins/authored/install', {
      version: '1.0.0',
    });
    expect(res.status).toBe(202);
    const op = await waitForOperation(server, auth, res.body.operationId);
    expect(op.status).toBe('failed');
    expect(JSON.stringify(op)).toContain(
      `Exec probe command \\"sh\\" of plugin 'authored' (the manifest of authored@1.0.0) is not allowed`,
    );
    expect(JSON.stringify(op)).toContain(KEY);
    const plugin = await get('/plugins/authored');
    expect(plugin.body.currentVersion).toBeUndefined();
  });
});

describe('exec probes the operator allowed', () => {
  let server: Awaited<ReturnType<typeof startLifecycleBackend>>['server'];
  let stop: () => Promise<void>;

  beforeAll(async () => {
    process.env.PLUGIN_LIFECYCLE_CANARY = 'backend-secret-canary';
    ({ server, stop } = await startLifecycleBackend({
      pluginId: 'sample',
      config: {
        runtime: { process: { readyTimeout: 10_000, stopGracePeriod: 2_000 } },
        health: {
          targetRefreshInterval: 200,
          flushInterval: 200,
          feedInterval: 200,
          exec: { allowedCommands: ['true', 'sh'] },
          // Quick probes keep the test short; the default floor is 1 s.
          probeLimits: { minPeriodSeconds: 0.1 },
        },
      },
    }));
  });

  afterAll(async () => {
    delete process.env.PLUGIN_LIFECYCLE_CANARY;
    await stop();
  });

  const send = (p: string, body: unknown) =>
    request(server)
      .post(api(p))
      .set('Authorization', auth)
      .send(body as object);
  const get = (p: string) =>
    request(server).get(api(p)).set('Authorization', auth);

  it('run as before, with bounded output and none of the backend environment', async () => {
    const probes = [
      {
        name: 'ready',
        type: 'readiness',
        method: 'exec',
        exec: { command: 'true' },
        periodSeconds: 0.2,
      },
      {
        name: 'env',
        type: 'liveness',
        method: 'exec',
        exec: { command: 'sh', args: ['-c', 'env; exit 1'] },
        periodSeconds: 0.2,
        failureThreshold: 1000,
      },
      {
        name: 'big',
        type: 'liveness',
        method: 'exec',
        exec: { command: 'sh', args: ['-c', 'yes x | head -c 10000; exit 1'] },
        periodSeconds: 0.2,
        failureThreshold: 1000,
      },
    ];
    for (const action of ['install', 'start']) {
      const res = await send(`/plugins/sample/${action}`, {
        ...(action === 'install'
          ? { version: '1.0.0', healthProbes: probes }
          : {}),
      });
      expect(res.status).toBe(202);
      expect(
        await waitForOperation(server, auth, res.body.operationId),
      ).toMatchObject({ status: 'succeeded' });
    }
    const messages = async () => {
      const health = (await get('/plugins/sample/health')).body;
      return (health.instances ?? []).flatMap((i: any) =>
        i.probes.map((p: any) => [p.name, p.lastOk, p.lastMessage]),
      );
    };
    let seen: any[] = [];
    for (let i = 0; i < 100; i++) {
      seen = await messages();
      if (seen.filter(([, , m]) => m).length === 3) break;
      await new Promise(r => setTimeout(r, 100));
    }
    expect(seen).toContainEqual(['ready', true, 'exited with code 0']);
    const [, envOk, envMessage] = seen.find(([name]) => name === 'env');
    expect(envOk).toBe(false);
    expect(envMessage).toContain('PROBE_PLUGIN_ID=sample');
    expect(envMessage).not.toContain('backend-secret-canary');
    expect(envMessage).not.toContain('PLUGIN_LIFECYCLE_CANARY');
    const [, , bigMessage] = seen.find(([name]) => name === 'big');
    // The output's newlines come escaped, and the whole message bounded.
    expect(bigMessage).toMatch(/^exited with code 1: (x|\\n)+…?$/);
    expect(bigMessage.length).toBeLessThanOrEqual(600);
  });
});
