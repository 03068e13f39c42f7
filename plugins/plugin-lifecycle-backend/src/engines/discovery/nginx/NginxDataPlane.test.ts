import fs from 'node:fs';
import http from 'node:http';
import { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { mockServices, TestDatabases } from '@backstage/backend-test-utils';
import { Pool } from 'undici';
import { applyDatabaseMigrations } from '../../../database/migrations';
import { InstanceStore } from '../../../database/InstanceStore';
import { PluginStore } from '../../../database/PluginStore';
import { ALL_TENANTS } from '../../../domain/tenancy';
import { ProxyMetrics, ProxyObservation } from '../ProxyMetrics';
import { ServiceDiscovery } from '../ServiceDiscovery';
import {
  Upstream,
  call as callVia,
  holdRoute,
} from '../__testUtils__/Upstream';
import { NginxDataPlane, findNginx } from './NginxDataPlane';
import { findFreePort } from '../../runtime/freePort';

jest.setTimeout(60_000);

const databases = TestDatabases.create({ ids: ['SQLITE_3'] });
const scope = ALL_TENANTS;
let knex: Awaited<ReturnType<typeof databases.init>>;

/** A plugin with one running instance at `port`, as a runtime records it. */
async function runInstance(pluginId: string, port: number) {
  await PluginStore.create({ db: knex }).create({
    id: pluginId,
    tenant: 'default',
    runtime: 'process',
  });
  await InstanceStore.create({ db: knex }).insert({
    id: `${pluginId}-i-1`,
    pluginId,
    version: '1.0.0',
    track: 'stable',
    runtime: 'process',
    host: '127.0.0.1',
    port,
    protocol: 'http',
    owner: 'replica-1',
    status: 'running',
  });
}
const nginx = findNginx();

if (!nginx && process.env.CI === 'true') {
  // .ci/run installs nginx: a CI without it must not pass by skipping.
  throw new Error('nginx is not installed (apt-get install -y nginx)');
}

// Real nginx (Debian's), real upstream servers, discovery on SQLite.
(nginx ? describe : describe.skip)('NginxDataPlane', () => {
  let discovery: ServiceDiscovery;
  let metrics: ProxyMetrics;
  let plane: NginxDataPlane;
  let client: Pool;
  const upstreams: Upstream[] = [];

  async function upstream(
    name: string,
    route?: ConstructorParameters<typeof Upstream>[1],
  ) {
    const u = await new Upstream(name, route).start();
    upstreams.push(u);
    return u;
  }

  async function register(
    serviceName: string,
    u: Upstream,
    fields: Record<string, unknown> = {},
  ) {
    await discovery.registerService(
      {
        serviceId: `${serviceName}-${u.name}`,
        serviceName,
        host: '127.0.0.1',
        port: u.port,
        ...fields,
      },
      { scope },
    );
    await plane.settle();
  }

  const call = (
    method: string,
    urlPath: string,
    options: { body?: string | Buffer; headers?: Record<string, string> } = {},
    via: Pool = client,
  ) => callVia(via, method, urlPath, options);

  /** Until the access log has been read into the metrics. */
  async function metricsFor(serviceId: string, requests: number) {
    const deadline = Date.now() + 5_000;
    for (;;) {
      const stats = metrics.instance(serviceId);
      if ((stats?.requests ?? 0) >= requests || Date.now() > deadline) {
        return stats;
      }
      await new Promise(r => setTimeout(r, 50));
    }
  }

  beforeAll(async () => {
    knex = await databases.init('SQLITE_3');
    await applyDatabaseMigrations({ getClient: async () => knex });
    discovery = ServiceDiscovery.create({
      db: knex,
      logger: mockServices.logger.mock(),
      pollIntervalMs: 60_000,
      expireIntervalMs: 0,
      ejection: { consecutiveFailures: 3, baseEjectionMs: 60_000 },
    });
    await discovery.start();
    metrics = ProxyMetrics.create();
    plane = await NginxDataPlane.start({
      discovery,
      metrics,
      passCookies: ['cookie-jar'],
      logger: mockServices.logger.mock({
        error: (m: string) => console.error(m),
        warn: (m: string) => console.error(m),
      } as any),
      logIntervalMs: 20,
      logFlushMs: 20,
      reloadDebounceMs: 10,
      // nginx's own passive check stays out of the way of discovery's.
      maxFails: 0,
    });
    client = new Pool(`http://127.0.0.1:${plane.port}`);
  });

  afterAll(async () => {
    await client?.close();
    const directory = plane?.directory;
    await plane?.close();
    // Its temporary directory goes with it.
    if (directory && fs.existsSync(directory)) {
      throw new Error(`${directory} was left behind`);
    }
    await discovery?.stop();
    for (const u of upstreams) {
      if (u.server.listening) await u.kill();
    }
  });

  it('routes round-robin over real upstreams with the raw path, forwarded headers and metrics', async () => {
    const a = await upstream('a');
    const b = await upstream('b');
    await register('spread', a);
    await register('spread', b);
    // What the metrics exporter hears: each attempt, from the nginx data plane.
    const observed: ProxyObservation[] = [];
    const unobserve = metrics.observe(o => observed.push(o));

    const results = [];
    for (let i = 0; i < 10; i++) {
      results.push(await call('GET', `/proxy/spread/items/${i}%2Fx?q=${i}`));
    }
    expect(results.map(r => r.status)).toEqual(Array(10).fill(200));
    // As sent: nginx does not decode %2F.
    expect(results.map(r => r.json.url)).toEqual(
      Array.from({ length: 10 }, (_, i) => `/items/${i}%2Fx?q=${i}`),
    );
    expect(a.seen).toHaveLength(5);
    expect(b.seen).toHaveLength(5);
    expect((await call('GET', '/proxy/spread?only=query')).json.url).toBe(
      '/?only=query',
    );
    expect((await call('GET', '/proxy/spread')).json.url).toBe('/');

    const res = await call('GET', '/proxy/spread/h', {
      headers: {
        'x-kept': 'yes',
        authorization: 'Bearer user-token',
      },
    });
    expect(res.json.headers).toMatchObject({
      'x-kept': 'yes',
      'x-forwarded-for': '127.0.0.1',
      'x-forwarded-host': `127.0.0.1:${plane.port}`,
      'x-forwarded-proto': 'http',
    });
    expect(res.json.headers.host).toBe('127.0.0.1');
    // An external service does not get the caller's credentials.
    expect(res.json.headers).not.toHaveProperty('authorization');
    // Unlike the Node data plane, nginx does not drop headers that a
    // Connection header names (documented on NginxDataPlane).
    expect(res.headers['x-upstream-hop']).toBe('secret');

    const stats = await metricsFor('spread-a', 7);
    expect(stats).toMatchObject({
      requests: 7,
      status: { '2xx': 7 },
    });
    unobserve();
    expect(observed.length).toBeGreaterThanOrEqual(7);
    expect(
      observed.every(
        o =>
          o.serviceName === 'spread' &&
          o.dataPlane === 'nginx' &&
          o.status === 200 &&
          typeof o.latencyMs === 'number',
      ),
    ).toBe(true);
  });

  it('passes W3C trace context unchanged: nginx makes no span, the instance continues the caller’s', async () => {
    const u = await upstream('traced');
    await register('traced', u);
    const traceparent =
      '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    const res = await call('GET', '/proxy/traced/x', {
      headers: { traceparent, tracestate: 'vendor=1,other=2' },
    });
    expect(res.status).toBe(200);
    expect(u.seen[0].headers.traceparent).toBe(traceparent);
    expect(u.seen[0].headers.tracestate).toBe('vendor=1,other=2');
  });

  it('passes Authorization to the instances a runtime started only, never to a registration naming a plugin', async () => {
    const a = await upstream('a');
    // The attack: a registration naming a managed plugin as its pluginId.
    await register('plugin-owned', a, { pluginId: 'owner' });
    const instance = await upstream('instance');
    await runInstance('owner', instance.port);
    await discovery.refresh();
    await plane.settle();
    const res = await call('GET', '/proxy/plugin-owned/x', {
      headers: { authorization: 'Bearer plugin-token' },
    });
    expect(res.status).toBe(200);
    expect(res.json.headers).not.toHaveProperty('authorization');
    // The single instance's own address is the Host.
    expect(res.json.headers.host).toBe(`127.0.0.1:${a.port}`);
    const own = await call('GET', '/proxy/owner/x', {
      headers: { authorization: 'Bearer plugin-token' },
    });
    expect(own.json.headers.authorization).toBe('Bearer plugin-token');
  });

  it('keeps cookies from upstreams and upstreams from cookies unless the service passes them', async () => {
    const cookieRoute = (
      _req: unknown,
      res: http.ServerResponse,
      u: Upstream,
    ) => {
      res.writeHead(200, {
        'content-type': 'application/json',
        'set-cookie': 'session=from-upstream; Path=/',
      });
      res.end(
        JSON.stringify({
          cookie: u.seen[u.seen.length - 1].headers.cookie ?? null,
        }),
      );
      return true;
    };
    await register('no-cookies', await upstream('plain', cookieRoute));
    await register('cookie-jar', await upstream('jar', cookieRoute));
    await plane.settle();
    const send = (name: string) =>
      call('GET', `/proxy/${name}/`, {
        headers: { cookie: 'backstage-session=secret' },
      });
    const refused = await send('no-cookies');
    expect(refused.status).toBe(200);
    expect(refused.headers).not.toHaveProperty('set-cookie');
    expect(refused.json).toEqual({ cookie: null });
    const passed = await send('cookie-jar');
    expect(passed.headers['set-cookie']).toBe('session=from-upstream; Path=/');
    expect(passed.json).toEqual({ cookie: 'backstage-session=secret' });
  });

  it('refuses a tenant header from an anonymous caller of a data plane without a token', async () => {
    const a = await upstream('a');
    await register('tenanted', a);
    await plane.settle();
    const res = await call('GET', '/proxy/tenanted/', {
      headers: { 'x-plugin-lifecycle-tenant': 'default' },
    });
    expect(res.status).toBe(400);
    expect(res.json.error.message).toMatch(
      /x-plugin-lifecycle-tenant header needs an authenticated caller/,
    );
    expect(a.seen).toHaveLength(0);
  });

  it('retries on another instance when one is dead; the log ejects it in discovery without a reload', async () => {
    const a = await upstream('a');
    const b = await upstream('b');
    await register('retry', a);
    await register('retry', b);
    expect((await call('GET', '/proxy/retry/warm')).status).toBe(200);
    expect((await call('GET', '/proxy/retry/warm')).status).toBe(200);
    const reloads = plane.reloads;
    await b.kill();

    const statuses = [];
    for (let i = 0; i < 20; i++) {
      statuses.push((await call('GET', `/proxy/retry/${i}`)).status);
    }
    // nginx retries even a POST when the connection failed: it was never sent.
    statuses.push(
      (await call('POST', '/proxy/retry/thing', { body: 'x' })).status,
    );
    expect(statuses).toEqual(Array(21).fill(200));

    // Three failures in a row in the log eject b in discovery (the API,
    // the Node data plane, the metrics see it) ...
    const ejected = await new Promise<string | undefined>(resolve => {
      const deadline = Date.now() + 5_000;
      const check = async () => {
        const service = (await discovery.listServices({ scope })).find(
          s => s.serviceId === 'retry-b',
        );
        if (service?.ejectedUntil || Date.now() > deadline) {
          resolve(service?.ejectedUntil);
        } else setTimeout(check, 50);
      };
      check();
    });
    expect(ejected).toBeDefined();
    expect(
      (await metricsFor('retry-b', 3))?.status.errors,
    ).toBeGreaterThanOrEqual(3);
    // ... while nginx keeps its own count (max_fails) and is not reloaded:
    // a reload would drop idle client connections.
    await plane.settle();
    expect(plane.reloads).toBe(reloads);
    expect(
      fs.readFileSync(path.join(plane.directory, 'nginx.conf'), 'utf8'),
    ).toContain(`server 127.0.0.1:${b.port} max_fails=0`);
  });

  it('takes an instance out with its own max_fails', async () => {
    const a = await upstream('a');
    const b = await upstream('b');
    const own = await NginxDataPlane.start({
      discovery,
      metrics,
      logger: mockServices.logger.mock(),
      maxFails: 1,
      failTimeoutMs: 60_000,
    });
    const via = new Pool(`http://127.0.0.1:${own.port}`);
    try {
      await discovery.registerService(
        {
          serviceId: 'own-a',
          serviceName: 'own',
          host: '127.0.0.1',
          port: a.port,
        },
        { scope },
      );
      await discovery.registerService(
        {
          serviceId: 'own-b',
          serviceName: 'own',
          host: '127.0.0.1',
          port: b.port,
        },
        { scope },
      );
      await own.settle();
      await b.kill();
      for (let i = 0; i < 10; i++) {
        expect((await call('GET', '/proxy/own/x', {}, via)).status).toBe(200);
      }
      // One failed try, then b is out for the rest: a served the others.
      expect(a.seen).toHaveLength(10);
    } finally {
      await via.close();
      await own.close();
    }
  });

  it('answers 503 naming the service when no instance can be reached or none is ready, 404 for unknown names', async () => {
    const a = await upstream('a');
    await register('down', a);
    await a.kill();
    const res = await call('GET', '/proxy/down/x');
    expect(res.status).toBe(503);
    expect(res.headers['content-type']).toBe('application/json');
    expect(res.json.error).toEqual({
      name: 'ServiceUnavailableError',
      message: "Service 'down' is unavailable: no instance could be reached",
    });

    const c = await upstream('c');
    await register('unready', c);
    await discovery.setInstanceHealth('unready-c', { ready: false });
    await plane.settle();
    const unready = await call('GET', '/proxy/unready/x');
    expect(unready.status).toBe(503);
    expect(unready.json.error.message).toBe(
      "Service 'unready' has no ready instance (1 known, none ready)",
    );
    expect(c.seen).toHaveLength(0);

    // Ready again: back in rotation after the reload.
    await discovery.setInstanceHealth('unready-c', { ready: true });
    await plane.settle();
    expect((await call('GET', '/proxy/unready/x')).status).toBe(200);

    const unknown = await call('GET', '/proxy/nothing-here/x');
    expect(unknown.status).toBe(404);
    expect(unknown.json.error.name).toBe('NotFoundError');
    expect((await call('GET', '/elsewhere')).status).toBe(404);
  });

  it('picks the tenant by header and asks when a name exists in several', async () => {
    const a = await upstream('a');
    const b = await upstream('b');
    await discovery.registerService(
      {
        serviceId: 'multi-a',
        serviceName: 'multi',
        host: '127.0.0.1',
        port: a.port,
        tenant: 'team-a',
      },
      { scope },
    );
    await discovery.registerService(
      {
        serviceId: 'multi-b',
        serviceName: 'multi',
        host: '127.0.0.1',
        port: b.port,
        tenant: 'team-b',
      },
      { scope },
    );
    await plane.settle();
    const ambiguous = await call('GET', '/proxy/multi/x');
    expect(ambiguous.status).toBe(400);
    expect(ambiguous.json.error.message).toBe(
      "Service 'multi' exists in several tenants; say which with the x-plugin-lifecycle-tenant header",
    );
    // Only an authenticated caller (the token's holder) picks a tenant.
    const guarded = await NginxDataPlane.start({
      discovery,
      metrics,
      logger: mockServices.logger.mock(),
      token: 'tenant-picker-token',
    });
    const guardedClient = new Pool(`http://127.0.0.1:${guarded.port}`);
    try {
      const toB = await call(
        'GET',
        '/proxy/multi/x',
        {
          headers: {
            'x-plugin-lifecycle-tenant': 'team-b',
            'x-plugin-lifecycle-proxy-token': 'tenant-picker-token',
          },
        },
        guardedClient,
      );
      expect(toB.headers['x-upstream']).toBe('b');
      const other = await call(
        'GET',
        '/proxy/multi/x',
        {
          headers: {
            'x-plugin-lifecycle-tenant': 'team-c',
            'x-plugin-lifecycle-proxy-token': 'tenant-picker-token',
          },
        },
        guardedClient,
      );
      expect(other.status).toBe(404);
    } finally {
      await guardedClient.close();
      await guarded.close();
    }
  });

  it('enforces maxConnections across requests, and follows a live change', async () => {
    const { route, holding, release } = holdRoute();
    const slow = await upstream('slow', route);
    await register('limited', slow, { loadBalancing: { maxConnections: 1 } });
    const first = call('GET', '/proxy/limited/hold');
    await holding;
    const second = await call('GET', '/proxy/limited/other');
    expect(second.status).toBe(503);
    release();
    expect((await first).text).toBe('released');
    expect((await call('GET', '/proxy/limited/other')).status).toBe(200);
    await discovery.updateService(
      'limited-slow',
      { maxConnections: 5 },
      { scope },
    );
    await plane.settle();
    expect(
      fs.readFileSync(path.join(plane.directory, 'nginx.conf'), 'utf8'),
    ).toContain(`server 127.0.0.1:${slow.port} max_conns=5`);
  });

  it('weights instances with weighted round robin', async () => {
    const heavy = await upstream('heavy');
    const light = await upstream('light');
    await register('weighted', heavy, {
      loadBalancing: { weight: 3, strategy: 'weighted-round-robin' },
    });
    await register('weighted', light, { loadBalancing: { weight: 1 } });
    for (let i = 0; i < 40; i++) {
      expect((await call('GET', '/proxy/weighted/x')).status).toBe(200);
    }
    expect(heavy.seen).toHaveLength(30);
    expect(light.seen).toHaveLength(10);
  });

  it('splits traffic between two version subsets by weight, each client staying in its subset', async () => {
    const stable = await upstream('stable');
    const canary = await upstream('canary');
    await register('split', stable, {
      version: '1.0.0',
      loadBalancing: { strategy: 'ip-hash' },
    });
    await register('split', canary, {
      version: '2.0.0',
      metadata: { track: 'canary' },
    });
    discovery.setSubsetWeights(
      'split',
      { 'stable/1.0.0': 80, 'canary/2.0.0': 20 },
      { scope },
    );
    await plane.settle();
    // Sticky (ip-hash): split_clients hashes each client's affinity key, so
    // these 200 clients land where their keys put them, every time.
    const clients = Array.from({ length: 200 }, (_, i) => `client-${i}`);
    const where = async () => {
      const seen: string[] = [];
      for (const key of clients) {
        const r = await call('GET', '/proxy/split/x', {
          headers: { 'x-plugin-lifecycle-affinity': key },
        });
        expect(r.status).toBe(200);
        seen.push(r.json.upstream as string);
      }
      return seen;
    };
    const first = await where();
    const toCanary = first.filter(name => name === 'canary').length / 200;
    expect(toCanary).toBeGreaterThan(0.1);
    expect(toCanary).toBeLessThan(0.3);
    expect(await where()).toEqual(first);
    // Weight 0: nothing for that subset once nginx reloaded.
    discovery.setSubsetWeights(
      'split',
      { 'stable/1.0.0': 1, 'canary/2.0.0': 0 },
      { scope },
    );
    await plane.settle();
    expect(new Set(await where())).toEqual(new Set(['stable']));
  });

  it('streams a large request body and response through', async () => {
    const big = await upstream('big', (req, res) => {
      if (req.url !== '/download') return false;
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      for (let i = 0; i < 8; i++) res.write(Buffer.alloc(1024 * 1024, i));
      res.end();
      return true;
    });
    await register('large', big);
    const body = Buffer.alloc(8 * 1024 * 1024, 7);
    const up = await call('POST', '/proxy/large/upload', { body });
    expect(up.status).toBe(200);
    expect(up.json.size).toBe(body.length);
    const res = await client.request({
      method: 'GET',
      path: '/proxy/large/download',
    });
    const bytes = Buffer.from(await res.body.arrayBuffer());
    expect(bytes.length).toBe(8 * 1024 * 1024);
    expect(bytes[7 * 1024 * 1024]).toBe(7);
  });

  it('carries a WebSocket-style upgrade both ways', async () => {
    const echo = http.createServer((_req, res) => res.end('plain'));
    const tunnels = new Set<import('node:stream').Duplex>();
    echo.on('upgrade', (req, socket) => {
      tunnels.add(socket);
      socket.write(
        `HTTP/1.1 101 Switching Protocols\r\nUpgrade: ${req.headers.upgrade}\r\nConnection: Upgrade\r\n\r\n`,
      );
      socket.on('data', chunk => socket.write(`echo:${req.url}:${chunk}`));
    });
    await new Promise<void>(r => echo.listen(0, '127.0.0.1', r));
    try {
      await discovery.registerService(
        {
          serviceId: 'ws-1',
          serviceName: 'ws',
          host: '127.0.0.1',
          port: (echo.address() as AddressInfo).port,
        },
        { scope },
      );
      await plane.settle();
      const answer = await new Promise<string>((resolve, reject) => {
        const req = http.request({
          host: '127.0.0.1',
          port: plane.port,
          path: '/proxy/ws/chat?room=1',
          headers: { connection: 'Upgrade', upgrade: 'echo' },
        });
        req.on('upgrade', (res, socket) => {
          expect(res.statusCode).toBe(101);
          socket.once('data', chunk => {
            socket.destroy();
            resolve(String(chunk));
          });
          socket.write('hello');
        });
        req.on('response', res => reject(new Error(`got ${res.statusCode}`)));
        req.on('error', reject);
        req.end();
      });
      expect(answer).toBe('echo:/chat?room=1:hello');
      // Plain requests to the same service still work.
      expect((await call('GET', '/proxy/ws/plain')).text).toBe('plain');
    } finally {
      // Upgraded sockets are no longer the server's to close.
      for (const socket of tunnels) socket.destroy();
      echo.closeAllConnections();
      await new Promise(r => echo.close(r));
    }
  });

  it('requires the data plane token when one is set', async () => {
    const a = await upstream('a');
    await register('guarded', a);
    const instance = await upstream('guarded-instance');
    await runInstance('guarded-plugin', instance.port);
    await discovery.refresh();
    const guarded = await NginxDataPlane.start({
      discovery,
      metrics,
      logger: mockServices.logger.mock(),
      token: 's3cret-token-1234',
    });
    const guardedClient = new Pool(`http://127.0.0.1:${guarded.port}`);
    try {
      const get = (headers: Record<string, string>) =>
        call('GET', '/proxy/guarded/x', { headers }, guardedClient);
      expect((await get({})).status).toBe(401);
      expect((await get({ authorization: 'Bearer wrong' })).status).toBe(401);
      expect(
        (
          await get({
            'x-plugin-lifecycle-proxy-token': 'wrong',
            authorization: 'Bearer s3cret-token-1234',
          })
        ).status,
      ).toBe(401);
      const viaBearer = await get({
        authorization: 'Bearer s3cret-token-1234',
      });
      expect(viaBearer.status).toBe(200);
      expect(viaBearer.json.headers).not.toHaveProperty('authorization');
      const viaHeader = await call(
        'GET',
        '/proxy/guarded-plugin/x',
        {
          headers: {
            'x-plugin-lifecycle-proxy-token': 's3cret-token-1234',
            authorization: 'Bearer for-the-plugin',
          },
        },
        guardedClient,
      );
      expect(viaHeader.status).toBe(200);
      expect(viaHeader.json.headers.authorization).toBe(
        'Bearer for-the-plugin',
      );
      expect(viaHeader.json.headers).not.toHaveProperty(
        'x-plugin-lifecycle-proxy-token',
      );
    } finally {
      await guardedClient.close();
      await guarded.close();
    }
  });

  it('stops an nginx that an earlier backend left running in its directory', async () => {
    const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'plo-nginx-test-'));
    const first = await NginxDataPlane.start({
      discovery,
      metrics,
      logger: mockServices.logger.mock(),
      directory,
    });
    // As if its backend had died: nobody closes it, and the next one
    // needs the same port.
    const second = await NginxDataPlane.start({
      discovery,
      metrics,
      logger: mockServices.logger.mock(),
      directory,
      port: first.port,
    });
    try {
      const res = await call(
        'GET',
        '/proxy/nothing/x',
        {},
        new Pool(`http://127.0.0.1:${second.port}`),
      );
      expect(res.status).toBe(404);
    } finally {
      await second.close();
      await first.close();
      fs.rmSync(directory, { recursive: true, force: true });
    }
  });

  it('starts nginx again when it dies', async () => {
    const a = await upstream('a');
    await register('phoenix', a);
    expect((await call('GET', '/proxy/phoenix/x')).status).toBe(200);
    const pidFile = path.join(plane.directory, 'nginx.pid');
    const pidNow = () => {
      try {
        return Number(fs.readFileSync(pidFile, 'utf8'));
      } catch {
        return 0; // between the two
      }
    };
    const first = pidNow();
    process.kill(first, 'SIGTERM');
    const fresh = new Pool(`http://127.0.0.1:${plane.port}`);
    try {
      const deadline = Date.now() + 10_000;
      let status = 0;
      while (Date.now() < deadline) {
        const pid = pidNow();
        if (pid !== 0 && pid !== first) {
          status = await call('GET', '/proxy/phoenix/x', {}, fresh).then(
            r => r.status,
            () => 0,
          );
          if (status === 200) break;
        }
        await new Promise(r => setTimeout(r, 100));
      }
      expect(status).toBe(200);
    } finally {
      await fresh.close();
    }
  });

  it('outlives its backend when asked to: the next one adopts the same nginx (no reload when nothing changed) and reloads it on routing changes, serving throughout', async () => {
    const u = await upstream('kept');
    await register('kept', u);
    const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'pl-nginx-kept-'));
    const port = await findFreePort('127.0.0.1');
    const options = {
      discovery,
      metrics,
      logger: mockServices.logger.mock(),
      directory,
      port,
      reloadDebounceMs: 10,
      outliveBackend: true,
    };
    const first = await NginxDataPlane.start(options);
    const master = first.masterPid!;
    const kept = new Pool(`http://127.0.0.1:${port}`);
    let failed = 0;
    let served = 0;
    let loading = true;
    const load = (async () => {
      while (loading) {
        // A connection per request: a reload closes idle keep-alive
        // connections, which a client retries but this loop would count.
        const status = await new Promise<number>(resolve => {
          http
            .get(
              { host: '127.0.0.1', port, path: '/proxy/kept/x', agent: false },
              r => {
                r.resume();
                r.on('end', () => resolve(r.statusCode ?? 0));
              },
            )
            .on('error', () => resolve(0));
        });
        if (status === 200) served++;
        else failed++;
      }
    })();
    let second: NginxDataPlane | undefined;
    try {
      await new Promise(r => setTimeout(r, 200));
      await first.close({ leaveRunning: true });
      // The backend is gone; nginx serves on.
      await new Promise(r => setTimeout(r, 300));
      second = await NginxDataPlane.start(options);
      expect(second.masterPid).toBe(master);
      // Nothing changed meanwhile: not even a reload.
      expect(second.reloads).toBe(0);
      // A routing change made by the new backend reaches the adopted nginx.
      const v = await upstream('added');
      await register('added', v);
      // register settles the shared data plane; this one reloads on its own
      // timer, so wait for it too (else the call can race its reload).
      await second.settle();
      expect((await call('GET', '/proxy/added/y', {}, kept)).status).toBe(200);
      await new Promise(r => setTimeout(r, 200));
    } finally {
      loading = false;
      await load;
      await kept.close();
      // Without leaveRunning, the adopted nginx is stopped.
      await second?.close({ graceMs: 1_000 });
      fs.rmSync(directory, { recursive: true, force: true });
    }
    expect({ failed, served: served > 50 }).toEqual({
      failed: 0,
      served: true,
    });
    // Gone (or a zombie until the test process reaps its former child).
    const state = fs.existsSync(`/proc/${master}/stat`)
      ? fs.readFileSync(`/proc/${master}/stat`, 'utf8').split(') ')[1][0]
      : 'gone';
    expect(['gone', 'Z']).toContain(state);
  });

  it('refuses to start with a clear error when nginx cannot run', async () => {
    await expect(
      NginxDataPlane.start({
        discovery,
        metrics,
        logger: mockServices.logger.mock(),
        binary: '/nonexistent/nginx',
      }),
    ).rejects.toThrow(/nginx rejected the generated configuration|ENOENT/);
    await expect(
      NginxDataPlane.start({
        discovery,
        metrics,
        logger: mockServices.logger.mock(),
        token: 'has spaces in it',
      }),
    ).rejects.toThrow(/token must be letters/);
  });
});
