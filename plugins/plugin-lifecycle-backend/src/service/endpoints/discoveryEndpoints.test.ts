import { createServer, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import { MiddlewareFactory } from '@backstage/backend-defaults/rootHttpRouter';
import { TestDatabases, mockServices } from '@backstage/backend-test-utils';
import { NotAllowedError } from '@backstage/errors';
import express, { Request } from 'express';
import Router from 'express-promise-router';
import request from 'supertest';
import { applyDatabaseMigrations } from '../../database/migrations';
import { ProxyMetrics } from '../../engines/discovery/ProxyMetrics';
import { ServiceDiscovery } from '../../engines/discovery/ServiceDiscovery';
import { ServiceProxy } from '../../engines/discovery/ServiceProxy';
import { ALL_TENANTS, TenantScope } from '../../domain/tenancy';
import { bindDiscoveryEndpoints } from './discoveryEndpoints';
import { bindProxyEndpoint } from './proxyEndpoint';
import { DiscoveryCommands } from '../../system/commands/discoveryCommands';
import { RouteAccess } from '../routeAccess';

jest.setTimeout(60_000);

const databases = TestDatabases.create({ ids: ['SQLITE_3'] });

/** The caller's tenants from a test header; all tenants without it. */
function scopeOf(req: Request): TenantScope {
  const tenants = req.header('x-test-tenants');
  return tenants ? { tenants: tenants.split(',') } : ALL_TENANTS;
}

describe('discovery routes', () => {
  let app: express.Express;
  let discovery: ServiceDiscovery;
  let proxy: ServiceProxy;
  let upstream: Server;
  let upstreamPort: number;
  const audits: Array<{
    eventId: string;
    meta: Record<string, string>;
    ok: boolean;
  }> = [];
  const permissions: string[] = [];

  beforeAll(async () => {
    const knex = await databases.init('SQLITE_3');
    await applyDatabaseMigrations({ getClient: async () => knex });
    discovery = ServiceDiscovery.create({
      db: knex,
      logger: mockServices.logger.mock(),
      pollIntervalMs: 60_000,
      expireIntervalMs: 0,
      panicThreshold: 0,
    });
    await discovery.start();
    proxy = ServiceProxy.create({
      discovery,
      metrics: ProxyMetrics.create(),
      logger: mockServices.logger.mock(),
    });

    upstream = createServer((req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', chunk => {
        body += chunk;
      });
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ method: req.method, url: req.url, body }));
      });
    });
    await new Promise<void>(r => upstream.listen(0, '127.0.0.1', r));
    upstreamPort = (upstream.address() as AddressInfo).port;

    const authorize = async (req: Request, permission: { name: string }) => {
      permissions.push(permission.name);
      if (req.header('x-test-deny')) {
        throw new NotAllowedError(`Not allowed: ${permission.name}`);
      }
      return { actor: 'user:default/tester', scope: scopeOf(req) };
    };
    const router = Router();
    // As the plugin's router does: JSON parsed for every route.
    router.use(express.json());
    const routeAccess: RouteAccess = {
      authorize,
      authorizeList: async (req, permission) => ({
        ...(await authorize(req, permission)),
        filter: async items => items,
      }),
      audited: async (req, access, eventId, meta, fn) => {
        const [first] = Array.isArray(access) ? access : [access];
        const caller = await authorize(req, first.permission);
        try {
          const result = await fn(caller);
          audits.push({ eventId, meta, ok: true });
          return result;
        } catch (error) {
          audits.push({ eventId, meta, ok: false });
          throw error;
        }
      },
    };
    // Through the facade's discovery commands, as the plugin's router does.
    bindDiscoveryEndpoints(router, {
      ...routeAccess,
      discovery: DiscoveryCommands.create({ discovery }),
    });
    bindProxyEndpoint(router, { ...routeAccess, proxy });
    app = express();
    app.use(router);
    app.use(
      MiddlewareFactory.create({
        config: mockServices.rootConfig(),
        logger: mockServices.logger.mock(),
      }).error(),
    );
  });

  afterAll(async () => {
    await proxy.close();
    await discovery.stop();
    await new Promise(r => upstream.close(r));
  });

  const service = (fields: Record<string, unknown> = {}) => ({
    serviceName: 'orders',
    host: '127.0.0.1',
    port: upstreamPort,
    ...fields,
  });

  it('registers, lists, changes, heartbeats and deregisters services', async () => {
    const created = await request(app)
      .post('/services')
      .send(service({ serviceId: 'orders-1', ttlMs: 30_000 }));
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      serviceId: 'orders-1',
      serviceName: 'orders',
      tenant: 'default',
      weight: 100,
      ready: true,
      ttlMs: 30_000,
    });
    await request(app)
      .post('/services')
      .send(service({ serviceId: 'orders-2' }))
      .expect(201);

    const listed = await request(app).get('/services?name=orders');
    expect(listed.status).toBe(200);
    expect(listed.body.items.map((s: any) => s.serviceId)).toEqual([
      'orders-1',
      'orders-2',
    ]);

    const patched = await request(app)
      .patch('/services/orders-1')
      .send({ weight: 0, maxConnections: 5 });
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({ weight: 0, maxConnections: 5 });
    for (let i = 0; i < 3; i++) {
      const resolved = await request(app).get('/services/orders/resolve');
      expect(resolved.body.serviceId).toBe('orders-2');
    }

    const beat = await request(app).post('/services/orders-1/heartbeat');
    expect(beat.status).toBe(200);
    expect(beat.body).toEqual({
      serviceId: 'orders-1',
      expiresAt: expect.any(String),
    });

    await request(app).delete('/services/orders-1').expect(204);
    await request(app).delete('/services/orders-2').expect(204);
    const gone = await request(app).delete('/services/orders-1');
    expect(gone.status).toBe(404);
    expect(
      (await request(app).post('/services/orders-1/heartbeat')).status,
    ).toBe(404);

    expect(audits.map(a => [a.eventId, a.ok])).toEqual([
      ['service-register', true],
      ['service-register', true],
      ['service-update', true],
      ['service-deregister', true],
      ['service-deregister', true],
      ['service-deregister', false],
    ]);
    expect(audits[0].meta).toEqual({ serviceName: 'orders' });
  });

  it.each([
    [
      'a negative weight',
      { loadBalancing: { weight: -1 } },
      'loadBalancing.weight: must be at least 0 (0 drains the instance)',
    ],
    [
      'an unknown strategy',
      { loadBalancing: { strategy: 'random' } },
      'loadBalancing.strategy: must be one of round-robin, weighted-round-robin, least-connections, ip-hash, health-weighted',
    ],
    ['a port out of range', { port: 0 }, 'port: must be from 1 to 65535'],
    [
      'a health check without its method settings',
      { healthCheck: { name: 'h', type: 'readiness', method: 'grpc' } },
      'healthCheck.grpc: a grpc probe needs its "grpc" settings',
    ],
    ['an unknown field', { colour: 'blue' }, 'Unrecognized key: "colour"'],
    [
      'a missing service name',
      { serviceName: undefined },
      'serviceName: is required: a service name such as billing',
    ],
    [
      'deregistration sooner than the TTL',
      { ttlMs: 10_000, deregisterAfterMs: 5_000 },
      'deregisterAfterMs: must be at least ttlMs (10000)',
    ],
  ])('answers 400 for %s', async (_what, fields, message) => {
    const res = await request(app).post('/services').send(service(fields));
    expect(res.status).toBe(400);
    expect(res.body.error).toEqual({
      name: 'InputError',
      message: `Invalid service registration: ${message}`,
    });
  });

  it("takes the original design's names: serviceType backend, key names of the enums", async () => {
    const created = await request(app)
      .post('/services')
      .send(
        service({
          serviceId: 'design-1',
          serviceName: 'design-names',
          serviceType: 'backend',
          loadBalancing: { strategy: 'HEALTH_WEIGHTED' },
          healthCheck: {
            name: 'ready',
            type: 'READINESS',
            method: 'HTTP',
            http: { path: '/ready' },
          },
        }),
      );
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      serviceType: 'http',
      strategy: 'health-weighted',
      healthCheck: { type: 'readiness', method: 'http' },
    });
    const resolved = await request(app).get(
      '/services/design-names/resolve?strategy=LEAST_CONNECTIONS',
    );
    expect(resolved.status).toBe(200);
    expect(resolved.body).toMatchObject({
      serviceId: 'design-1',
      strategy: 'least-connections',
    });
    const bad = await request(app)
      .post('/services')
      .send(service({ serviceType: 'frontend' }));
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toBe(
      'Invalid service registration: serviceType: must be one of http, grpc, tcp (or backend, which is http)',
    );
    await request(app).delete('/services/design-1').expect(204);
  });

  it('answers 400 for bad queries and patches', async () => {
    await request(app)
      .post('/services')
      .send(service({ serviceId: 'q-1', serviceName: 'queries' }))
      .expect(201);
    const strategy = await request(app).get(
      '/services/queries/resolve?strategy=random',
    );
    expect(strategy.status).toBe(400);
    expect(strategy.body.error.message).toMatchInlineSnapshot(
      `"Invalid query: strategy: must be one of round-robin, weighted-round-robin, least-connections, ip-hash, health-weighted"`,
    );
    const patch = await request(app)
      .patch('/services/q-1')
      .send({ weight: 'heavy' });
    expect(patch.status).toBe(400);
    expect(patch.body.error.message).toMatchInlineSnapshot(
      `"Invalid service update: weight: Invalid input: expected number, received string"`,
    );
    const unknown = await request(app).get('/services?colour=blue');
    expect(unknown.status).toBe(400);
  });

  it('registers and heartbeats in bulk, and lists a page at a time', async () => {
    audits.length = 0;
    const bulk = await request(app)
      .post('/services/batch')
      .send({
        services: Array.from({ length: 5 }, (_, i) =>
          service({ serviceId: `bulk-${i}`, serviceName: 'bulky' }),
        ),
      });
    expect(bulk.status).toBe(201);
    expect(bulk.body.items).toHaveLength(5);
    expect(audits).toEqual([
      { eventId: 'service-register', meta: { count: '5' }, ok: true },
    ]);

    const bad = await request(app)
      .post('/services/batch')
      .send({ services: [service({ serviceId: 'ok-1' }), { host: 'h' }] });
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toMatchInlineSnapshot(
      `"Invalid service registrations: 1.serviceName: is required: a service name such as billing; 1.port: is required: a port from 1 to 65535"`,
    );
    expect(
      (await request(app).post('/services/batch').send({ services: [] }))
        .status,
    ).toBe(400);
    expect((await request(app).get('/services?name=ok-1')).body.items).toEqual(
      [],
    );

    const beats = await request(app)
      .post('/services/heartbeats')
      .send({ serviceIds: ['bulk-0', 'bulk-4', 'gone'] });
    expect(beats.status).toBe(200);
    expect(beats.body).toEqual({ renewed: 2, unknown: ['gone'] });
    expect(
      (await request(app).post('/services/heartbeats').send({ ids: [] }))
        .status,
    ).toBe(400);

    const first = await request(app).get('/services?name=bulky&limit=2');
    expect(first.body.items.map((s: any) => s.serviceId)).toEqual([
      'bulk-0',
      'bulk-1',
    ]);
    const second = await request(app).get(
      `/services?name=bulky&limit=2&cursor=${first.body.nextCursor}`,
    );
    expect(second.body.items.map((s: any) => s.serviceId)).toEqual([
      'bulk-2',
      'bulk-3',
    ]);
    const last = await request(app).get(
      `/services?name=bulky&limit=2&cursor=${second.body.nextCursor}`,
    );
    expect(last.body.items.map((s: any) => s.serviceId)).toEqual(['bulk-4']);
    expect(last.body.nextCursor).toBeUndefined();
    const junk = await request(app).get('/services?cursor=junk');
    expect(junk.status).toBe(400);
    expect(junk.body.error.message).toMatchInlineSnapshot(
      `"Invalid query: cursor: not a cursor from an earlier page (use its nextCursor)"`,
    );
    expect((await request(app).get('/services?limit=1001')).status).toBe(400);
  });

  it('resolves with a strategy and answers 404 and 503 naming the service', async () => {
    await request(app)
      .post('/services')
      .send(service({ serviceId: 'r-1', serviceName: 'resolver' }))
      .expect(201);
    await request(app)
      .post('/services')
      .send(service({ serviceId: 'r-2', serviceName: 'resolver', port: 1 }))
      .expect(201);
    const ids = new Set<string>();
    for (let i = 0; i < 4; i++) {
      const res = await request(app).get(
        '/services/resolver/resolve?strategy=round-robin',
      );
      expect(res.status).toBe(200);
      ids.add(res.body.serviceId);
    }
    expect([...ids].sort()).toEqual(['r-1', 'r-2']);
    const sticky = await request(app).get(
      '/services/resolver/resolve?strategy=ip-hash&key=session-1',
    );
    expect(sticky.body).toMatchObject({ strategy: 'ip-hash', panic: false });

    const missing = await request(app).get('/services/nowhere/resolve');
    expect(missing.status).toBe(404);
    expect(missing.body.error.message).toBe("No service named 'nowhere'");

    await discovery.setInstanceHealth('r-1', { ready: false });
    await discovery.setInstanceHealth('r-2', { ready: false });
    const down = await request(app).get('/services/resolver/resolve');
    expect(down.status).toBe(503);
    expect(down.body.error).toEqual({
      name: 'ServiceUnavailableError',
      message: "Service 'resolver' has no ready instance (2 known, none ready)",
    });
  });

  it('keeps tenants apart', async () => {
    const created = await request(app)
      .post('/services')
      .set('x-test-tenants', 'team-a')
      .send(service({ serviceId: 'ta-1', serviceName: 'private' }));
    expect(created.body.tenant).toBe('team-a');

    const asB = (req: request.Test) => req.set('x-test-tenants', 'team-b');
    expect(
      (await asB(request(app).get('/services/private/resolve'))).status,
    ).toBe(404);
    expect(
      (await asB(request(app).get('/services?name=private'))).body.items,
    ).toEqual([]);
    expect((await asB(request(app).get('/proxy/private/x'))).status).toBe(404);
    expect(
      (await asB(request(app).patch('/services/ta-1')).send({ weight: 1 }))
        .status,
    ).toBe(404);
    expect((await asB(request(app).delete('/services/ta-1'))).status).toBe(404);
    const elsewhere = await asB(request(app).post('/services')).send(
      service({ serviceId: 'tb-1', tenant: 'team-a' }),
    );
    expect(elsewhere.status).toBe(403);

    const asA = await request(app)
      .get('/services/private/resolve')
      .set('x-test-tenants', 'team-a');
    expect(asA.body.serviceId).toBe('ta-1');
  });

  it('proxies to an instance, with the body already parsed by express.json', async () => {
    await request(app)
      .post('/services')
      .send(service({ serviceId: 'p-1', serviceName: 'proxied' }))
      .expect(201);

    const got = await request(app).get('/proxy/proxied/a/b?c=d%20e');
    expect(got.status).toBe(200);
    expect(got.body).toEqual({ method: 'GET', url: '/a/b?c=d%20e', body: '' });
    expect((await request(app).get('/proxy/proxied')).body.url).toBe('/');
    expect((await request(app).get('/proxy/proxied?x=1')).body.url).toBe(
      '/?x=1',
    );

    const posted = await request(app)
      .post('/proxy/proxied/orders')
      .send({ item: 'book', count: 2 });
    expect(posted.status).toBe(200);
    expect(posted.body).toEqual({
      method: 'POST',
      url: '/orders',
      body: JSON.stringify({ item: 'book', count: 2 }),
    });
    const text = await request(app)
      .put('/proxy/proxied/raw')
      .set('content-type', 'text/plain')
      .send('plain text');
    expect(text.body.body).toBe('plain text');

    expect(
      (await request(app).get('/proxy/proxied/x').set('x-test-deny', '1'))
        .status,
    ).toBe(403);
    expect(permissions).toContain('plugin-lifecycle.plugin.read');
  });
});
