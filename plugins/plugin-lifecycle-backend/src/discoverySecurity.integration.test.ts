import http from 'node:http';
import { AddressInfo } from 'node:net';
import { mockCredentials } from '@backstage/backend-test-utils';
import request from 'supertest';
import { Pool } from 'undici';
import {
  startLifecycleBackend,
  waitForOperation,
} from './__testUtils__/testBackend';

jest.setTimeout(120_000);

const auth = mockCredentials.user.header();
const api = (p: string) => `/api/plugin-lifecycle${p}`;
const PLUGIN = 'sample';
const TOKEN = 'data-plane-token-for-tests';

/** A real HTTP server that records the headers of every request it gets. */
async function recorder(): Promise<{
  server: http.Server;
  port: number;
  seen: http.IncomingHttpHeaders[];
}> {
  const seen: http.IncomingHttpHeaders[] = [];
  const server = http.createServer((req, res) => {
    seen.push(req.headers);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ recorder: true }));
  });
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port, seen };
}

/**
 * The attacks of issue #14 (items 4-6) against a running backend
 * (startTestBackend, SQLite, real child processes, real HTTP servers): each
 * one fails with a clear 4xx or has no effect.
 */
describe('discovery is not a way in', () => {
  let server: http.Server;
  let stop: () => Promise<void>;
  let thief: Awaited<ReturnType<typeof recorder>>;
  let trusted: Awaited<ReturnType<typeof recorder>>;
  let backendPort: number;

  beforeAll(async () => {
    thief = await recorder();
    trusted = await recorder();
    ({ server, stop } = await startLifecycleBackend({
      pluginId: PLUGIN,
      config: {
        runtime: { process: { readyTimeout: 10_000, stopGracePeriod: 2_000 } },
        // An external plugin the operator configured: its endpoint is the
        // operator's word, so it may get callers' Authorization.
        plugins: {
          'configured-outside': {
            runtime: 'external',
            artifact: {
              type: 'external',
              endpoints: [{ host: '127.0.0.1', port: trusted.port }],
            },
          },
        },
      },
      rootConfig: {
        // This backend's own database stays an in-memory SQLite; another
        // plugin's (catalog's, not started here) is PostgreSQL on this host.
        backend: {
          database: {
            client: 'better-sqlite3',
            connection: ':memory:',
            plugin: {
              catalog: {
                client: 'pg',
                connection: { host: '127.0.0.1', port: 5432, user: 'postgres' },
              },
            },
          },
        },
      },
    }));
    backendPort = (server.address() as AddressInfo).port;
    // Set-up, not the attack: a failure here says which step failed.
    for (const [action, body] of [
      ['install', { version: '1.0.0' }],
      ['start', {}],
    ] as const) {
      const res = await request(server)
        .post(api(`/plugins/${PLUGIN}/${action}`))
        .set('Authorization', auth)
        .send(body);
      const done = await waitForOperation(server, auth, res.body.operationId);
      if (done.status !== 'succeeded') {
        throw new Error(`${action} ${done.status}: ${done.error}`);
      }
    }
  });

  afterAll(async () => {
    await stop();
    await new Promise(resolve => thief.server.close(resolve));
    await new Promise(resolve => trusted.server.close(resolve));
  });

  const register = (body: object) =>
    request(server)
      .post(api('/services'))
      .set('Authorization', auth)
      .send(body);

  it('refuses a registration under a managed plugin id (hijack): 409, and traffic still goes only to its instances', async () => {
    const hijack = await register({
      serviceId: 'hijack-1',
      serviceName: PLUGIN,
      host: '127.0.0.1',
      port: thief.port,
      loadBalancing: { weight: 1_000_000 },
    });
    expect(hijack.status).toBe(409);
    expect(hijack.body.error.name).toBe('ConflictError');
    expect(hijack.body.error.message).toMatch(
      /Service name 'sample' is the id of a managed plugin.*reserved service names/,
    );
    const batch = await request(server)
      .post(api('/services/batch'))
      .set('Authorization', auth)
      .send({
        services: [
          { serviceName: 'harmless', host: '127.0.0.1', port: thief.port },
          { serviceName: PLUGIN, host: '127.0.0.1', port: thief.port },
        ],
      });
    expect(batch.status).toBe(409);
    // All or none: the harmless one was not stored either.
    const harmless = await request(server)
      .get(api('/services?name=harmless'))
      .set('Authorization', auth);
    expect(harmless.body.items).toEqual([]);

    // One of Backstage's own plugin ids, too.
    const catalog = await register({
      serviceName: 'catalog',
      host: '127.0.0.1',
      port: thief.port,
    });
    expect(catalog.status).toBe(409);
    expect(catalog.body.error.message).toMatch(
      /one of Backstage's own backend plugins.*pluginLifecycle\.discovery\.reservedServiceNames/,
    );

    for (let i = 0; i < 10; i++) {
      const res = await request(server)
        .get(api(`/proxy/${PLUGIN}/health`))
        .set('Authorization', auth);
      expect(res.status).toBe(200);
    }
    expect(thief.seen).toHaveLength(0);
    const pool = await request(server)
      .get(api(`/services?name=${PLUGIN}`))
      .set('Authorization', auth);
    expect(
      (pool.body.items as Array<{ source: string }>).map(s => s.source),
    ).toEqual(['instance']);
  });

  it('gives a registration naming a managed plugin as pluginId no Authorization', async () => {
    const res = await register({
      serviceId: 'token-thief',
      serviceName: 'token-thief',
      pluginId: PLUGIN,
      host: '127.0.0.1',
      port: thief.port,
    });
    expect(res.status).toBe(201);
    const proxied = await request(server)
      .get(api('/proxy/token-thief/x'))
      .set('Authorization', auth)
      .set('Cookie', 'backstage-session=secret');
    expect(proxied.status).toBe(200);
    expect(thief.seen).toHaveLength(1);
    expect(thief.seen[0]).not.toHaveProperty('authorization');
    expect(thief.seen[0]).not.toHaveProperty('cookie');
  });

  it('gives an external endpoint named in an install request no Authorization; one the operator configured gets it', async () => {
    const act = async (pluginId: string, action: string, body: object) => {
      const res = await request(server)
        .post(api(`/plugins/${pluginId}/${action}`))
        .set('Authorization', auth)
        .send(body);
      expect(res.status).toBe(202);
      const done = await waitForOperation(server, auth, res.body.operationId);
      expect(done.status).toBe('succeeded');
    };
    // An installer with deploy names its own server as the endpoint.
    await act('outside', 'install', {
      version: '1.0.0',
      runtime: 'external',
      artifact: {
        type: 'external',
        endpoints: [{ host: '127.0.0.1', port: thief.port }],
      },
    });
    await act('outside', 'start', {});
    await act('configured-outside', 'install', { version: '1.0.0' });
    await act('configured-outside', 'start', {});

    const before = thief.seen.length;
    const proxied = await request(server)
      .get(api('/proxy/outside/x'))
      .set('Authorization', auth);
    expect(proxied.status).toBe(200);
    expect(thief.seen).toHaveLength(before + 1);
    expect(thief.seen[before]).not.toHaveProperty('authorization');

    const configured = await request(server)
      .get(api('/proxy/configured-outside/x'))
      .set('Authorization', auth);
    expect(configured.status).toBe(200);
    expect(trusted.seen.at(-1)).toHaveProperty('authorization', auth);
  });

  it.each([
    [
      'a link-local (cloud metadata) address',
      '169.254.169.254',
      80,
      /link-local/,
    ],
    [
      'an IPv4-mapped link-local address',
      '::ffff:169.254.169.254',
      80,
      /link-local/,
    ],
    [
      'a public address',
      '8.8.8.8',
      53,
      /outside pluginLifecycle\.discovery\.allowedTargets/,
    ],
    ['the database', '127.0.0.1', 5432, /the database of plugin 'catalog'/],
    [
      'the database by another loopback address',
      '127.0.0.2',
      5432,
      /the database of plugin 'catalog'/,
    ],
    [
      'a name that resolves to loopback at the database port',
      'localhost',
      5432,
      /resolves to .*the database of plugin 'catalog'/,
    ],
  ])(
    'refuses a registration to %s: 400 naming allowedTargets',
    async (_what, host, port, why) => {
      const res = await register({ serviceName: 'ssrf', host, port });
      expect(res.status).toBe(400);
      expect(res.body.error.name).toBe('InputError');
      expect(res.body.error.message).toMatch(why);
      expect(res.body.error.message).toMatch(
        /pluginLifecycle\.discovery\.allowedTargets/,
      );
    },
  );

  it("refuses a registration to the backend's own port, and a health check that would scan it", async () => {
    const own = await register({
      serviceName: 'loop',
      host: '127.0.0.1',
      port: backendPort,
    });
    expect(own.status).toBe(400);
    expect(own.body.error.message).toMatch(/the backend's own listener/);
    const scan = await register({
      serviceName: 'scanner',
      host: '127.0.0.1',
      port: thief.port,
      healthCheck: {
        name: 'scan',
        type: 'readiness',
        method: 'tcp',
        tcp: { port: 5432 },
      },
    });
    expect(scan.status).toBe(400);
    expect(scan.body.error.message).toMatch(
      /Service 'scanner' \(its health check\) may not point at 127\.0\.0\.1:5432/,
    );
  });

  it('refuses an external endpoint at a link-local address at install', async () => {
    const res = await request(server)
      .post(api('/plugins/metadata-reader/install'))
      .set('Authorization', auth)
      .send({
        version: '1.0.0',
        runtime: 'external',
        artifact: {
          type: 'external',
          endpoints: [{ host: '169.254.169.254', port: 80 }],
        },
      });
    const outcome =
      res.status === 202
        ? await waitForOperation(server, auth, res.body.operationId)
        : undefined;
    const message = outcome?.error ?? (res.body.error?.message as string);
    expect(outcome?.status ?? 'refused').not.toBe('succeeded');
    expect(message).toMatch(
      /Endpoint 0 of plugin 'metadata-reader'.*link-local.*pluginLifecycle\.discovery\.allowedTargets/,
    );
  });
});

describe('data planes refuse strangers', () => {
  it('answers 401 to an unauthenticated caller; an anonymous caller cannot pick a tenant', async () => {
    const { stop } = await startLifecycleBackend({
      pluginId: PLUGIN,
      config: { discovery: { dataPlane: { port: 17_781, token: TOKEN } } },
    });
    const anonymous = await startLifecycleBackend({
      pluginId: PLUGIN,
      config: { discovery: { dataPlane: { port: 17_782 } } },
    });
    const guarded = new Pool('http://127.0.0.1:17781');
    const open = new Pool('http://127.0.0.1:17782');
    try {
      const noToken = await guarded.request({
        method: 'GET',
        path: `/proxy/${PLUGIN}/health`,
      });
      expect(noToken.statusCode).toBe(401);
      expect(((await noToken.body.json()) as any).error.name).toBe(
        'AuthenticationError',
      );
      const picked = await open.request({
        method: 'GET',
        path: `/proxy/${PLUGIN}/health`,
        headers: { 'x-plugin-lifecycle-tenant': 'someone-else' },
      });
      expect(picked.statusCode).toBe(400);
      expect(((await picked.body.json()) as any).error.message).toMatch(
        /needs an authenticated caller/,
      );
    } finally {
      await guarded.close();
      await open.close();
      await anonymous.stop();
      await stop();
    }
  });

  it('reaches only the tenants its token stands for, whatever header its caller sends', async () => {
    const upstream = await recorder();
    const { server, stop } = await startLifecycleBackend({
      pluginId: PLUGIN,
      config: {
        discovery: {
          dataPlane: { port: 17_783, token: TOKEN, tenants: ['team-a'] },
        },
      },
    });
    const plane = new Pool('http://127.0.0.1:17783');
    try {
      for (const tenant of ['team-a', 'team-b']) {
        const res = await request(server)
          .post(api('/services'))
          .set('Authorization', auth)
          .send({
            serviceId: `shared-${tenant}`,
            serviceName: 'shared',
            tenant,
            host: '127.0.0.1',
            port: upstream.port,
          });
        expect(res.status).toBe(201);
      }
      const call = async (tenant: string) => {
        const res = await plane.request({
          method: 'GET',
          path: '/proxy/shared/',
          headers: {
            authorization: `Bearer ${TOKEN}`,
            'x-plugin-lifecycle-tenant': tenant,
          },
        });
        await res.body.dump();
        return res.statusCode;
      };
      expect(await call('team-a')).toBe(200);
      expect(await call('team-b')).toBe(404);
      expect(upstream.seen).toHaveLength(1);
    } finally {
      await plane.close();
      await stop();
      await new Promise(resolve => upstream.server.close(resolve));
    }
  });

  it('will not start a data plane beyond loopback without a token', async () => {
    await expect(
      startLifecycleBackend({
        pluginId: PLUGIN,
        config: {
          discovery: { dataPlane: { port: 0, host: '0.0.0.0' } },
        },
      }),
    ).rejects.toThrow(/pluginLifecycle\.discovery\.dataPlane\.token/);
  });
});
