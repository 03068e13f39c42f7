import fs from 'node:fs';
import path from 'node:path';
import { mockCredentials } from '@backstage/backend-test-utils';
import request from 'supertest';
import { makeTempDir } from '../__testUtils__/sampleArtifacts';
import {
  startLifecycleBackend,
  waitForOperation,
} from '../__testUtils__/testBackend';
import { startTinyRegistry } from '../__testUtils__/tinyNpmPackage';

jest.setTimeout(120_000);

/**
 * `GET /plugins/{pluginId}/versions` on the real backend: the files a
 * tarball path template matches, a configured list, the npm registry's
 * versions (a tiny registry npm is pointed at), none for a command, and 404
 * for a plugin neither stored nor configured.
 */
describe('GET /plugins/{pluginId}/versions', () => {
  const auth = mockCredentials.user.header('user:default/alice');
  const api = (p: string) => `/api/plugin-lifecycle${p}`;
  const registryBefore = process.env.npm_config_registry;
  const strays = makeTempDir('plugin-lifecycle-versions-');
  // Beside the versions: files the template does not match.
  for (const name of [
    'other-1.0.0.tgz',
    'sample-http-service-latest.tgz',
    'sample-http-service-1.0.0.tgz.sha256',
  ]) {
    fs.writeFileSync(path.join(strays, name), '');
  }
  for (const version of ['0.9.0', '0.10.0', '1.0.0-rc.1']) {
    fs.writeFileSync(
      path.join(strays, `sample-http-service-${version}.tgz`),
      '',
    );
  }

  let backend: Awaited<ReturnType<typeof startLifecycleBackend>>;
  let registry: Awaited<ReturnType<typeof startTinyRegistry>>;

  beforeAll(async () => {
    registry = await startTinyRegistry({
      'tiny-http-server': ['0.1.0', '1.0.0', '1.2.0', '1.10.0', '2.0.0-beta.1'],
    });
    process.env.npm_config_registry = registry.url;
    backend = await startLifecycleBackend({
      pluginId: 'sample-http-service',
      config: {
        plugins: {
          strays: {
            artifact: {
              type: 'tarball',
              path: path.join(strays, 'sample-http-service-${version}.tgz'),
            },
          },
          listed: {
            artifact: { type: 'command', command: 'node', args: ['x.js'] },
            versions: ['1.0.0', '10.0.0', '2.0.0', '1.0.0'],
          },
          'from-npm': {
            artifact: { type: 'npm', package: 'tiny-http-server' },
          },
          'not-in-registry': {
            artifact: { type: 'npm', package: 'nowhere-to-be-found' },
          },
          commanded: {
            artifact: { type: 'command', command: 'node', args: ['x.js'] },
          },
        },
      },
    });
  });

  afterAll(async () => {
    await backend?.stop();
    await registry?.close();
    if (registryBefore === undefined) delete process.env.npm_config_registry;
    else process.env.npm_config_registry = registryBefore;
  });

  const versionsOf = (pluginId: string) =>
    request(backend.server)
      .get(api(`/plugins/${pluginId}/versions`))
      .set('Authorization', auth);

  it('lists the tarballs of the template directory, newest first, the installed one marked', async () => {
    const before = await versionsOf('sample-http-service');
    expect(before.status).toBe(200);
    expect(before.body).toEqual({
      pluginId: 'sample-http-service',
      source: 'tarball',
      items: ['2.1.0', '2.0.0', '1.1.0', '1.0.0'].map(version => ({
        version,
        current: false,
        installed: false,
      })),
    });

    const res = await request(backend.server)
      .post(api('/plugins/sample-http-service/install'))
      .set('Authorization', auth)
      .send({ version: '1.0.0' });
    expect(res.status).toBe(202);
    expect(
      await waitForOperation(backend.server, auth, res.body.operationId),
    ).toMatchObject({ status: 'succeeded' });

    const after = await versionsOf('sample-http-service');
    expect(after.body.currentVersion).toBe('1.0.0');
    expect(after.body.items).toContainEqual({
      version: '1.0.0',
      current: true,
      installed: true,
    });
    expect(
      after.body.items.filter((i: { current: boolean }) => i.current),
    ).toHaveLength(1);
  });

  it('keeps only the files that match the template with a semantic version, sorted by semver', async () => {
    const res = await versionsOf('strays');
    expect(res.status).toBe(200);
    expect(res.body.items.map((i: { version: string }) => i.version)).toEqual([
      '1.0.0-rc.1',
      '0.10.0',
      '0.9.0',
    ]);
  });

  it('answers the configured list, deduplicated and newest first, for a plugin never installed', async () => {
    const res = await versionsOf('listed');
    expect(res.status).toBe(200);
    expect(res.body.source).toBe('configured');
    expect(res.body.items.map((i: { version: string }) => i.version)).toEqual([
      '10.0.0',
      '2.0.0',
      '1.0.0',
    ]);
  });

  it("answers the npm registry's versions of an npm artifact", async () => {
    const res = await versionsOf('from-npm');
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ source: 'npm' });
    expect(res.body.problem).toBeUndefined();
    expect(res.body.items.map((i: { version: string }) => i.version)).toEqual([
      '2.0.0-beta.1',
      '1.10.0',
      '1.2.0',
      '1.0.0',
      '0.1.0',
    ]);
    expect(registry.requests).toContain('tiny-http-server');
  });

  it('says why when the registry has no such package, with no versions', async () => {
    const res = await versionsOf('not-in-registry');
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ source: 'npm', items: [] });
    expect(res.body.problem).toMatch(/^Could not list the npm versions: /);
  });

  it('offers nothing for a command artifact without a list', async () => {
    const res = await versionsOf('commanded');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      pluginId: 'commanded',
      source: 'none',
      items: [],
    });
  });

  it('is a 404 for a plugin neither stored nor configured, and a 400 for a bad id', async () => {
    const res = await versionsOf('nobody-knows-me');
    expect(res.status).toBe(404);
    expect(res.body.error).toMatchObject({
      name: 'NotFoundError',
      message: "No plugin with id 'nobody-knows-me'",
    });
    expect((await versionsOf('Not_A_Slug')).status).toBe(400);
  });
});
