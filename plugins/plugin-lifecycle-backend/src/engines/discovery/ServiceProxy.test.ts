import { createHash } from 'node:crypto';
import { IncomingHttpHeaders, request as httpRequest } from 'node:http';
import { PassThrough } from 'node:stream';
import { mockServices } from '@backstage/backend-test-utils';
import { TestDatabases } from '@backstage/backend-test-utils';
import { Pool } from 'undici';
import { applyDatabaseMigrations } from '../../database/migrations';
import { InstanceStore } from '../../database/InstanceStore';
import { PluginStore } from '../../database/PluginStore';
import { TargetPolicy } from './TargetPolicy';
import { ALL_TENANTS } from '../../domain/tenancy';
import { ProxyMetrics } from './ProxyMetrics';
import { ServiceDiscovery } from './ServiceDiscovery';
import { Upstream, call as callVia, holdRoute } from './__testUtils__/Upstream';
import { DataPlane, ServiceProxy } from './ServiceProxy';
import { AFFINITY_HEADER } from '@internal/plugin-lifecycle-common';

jest.setTimeout(60_000);

const databases = TestDatabases.create({ ids: ['SQLITE_3'] });
const scope = ALL_TENANTS;

describe('ServiceProxy', () => {
  let discovery: ServiceDiscovery;
  let metrics: ProxyMetrics;
  let proxy: ServiceProxy;
  let plane: DataPlane;
  let client: Pool;
  let knex: Awaited<ReturnType<typeof databases.init>>;
  const upstreams: Upstream[] = [];

  async function upstream(
    name: string,
    route?: ConstructorParameters<typeof Upstream>[1],
  ) {
    const u = await new Upstream(name, route).start();
    upstreams.push(u);
    return u;
  }

  const register = (
    serviceName: string,
    u: Upstream,
    fields: Record<string, unknown> = {},
  ) =>
    discovery.registerService(
      {
        serviceId: `${serviceName}-${u.name}`,
        serviceName,
        host: '127.0.0.1',
        port: u.port,
        ...fields,
      },
      { scope },
    );

  const call = (
    method: string,
    path: string,
    options: { body?: string | Buffer; headers?: Record<string, string> } = {},
    via: Pool = client,
  ) => callVia(via, method, path, options);

  beforeAll(async () => {
    knex = await databases.init('SQLITE_3');
    await applyDatabaseMigrations({ getClient: async () => knex });
    discovery = ServiceDiscovery.create({
      db: knex,
      logger: mockServices.logger.mock(),
      pollIntervalMs: 60_000,
      expireIntervalMs: 0,
      defaultStrategy: 'round-robin',
    });
    await discovery.start();
    metrics = ProxyMetrics.create();
    proxy = ServiceProxy.create({
      discovery,
      metrics,
      logger: mockServices.logger.mock(),
      maxRetries: 2,
      passCookies: ['cookie-jar'],
    });
    plane = await proxy.startDataPlane();
    client = new Pool(`http://127.0.0.1:${plane.port}`);
  });

  afterAll(async () => {
    await client.close();
    await proxy.close();
    await discovery.stop();
    for (const u of upstreams) {
      if (u.server.listening) await u.kill();
    }
  });

  it('splits real requests between two versions by subset weight (80/20), every strategy, and 100/0 sends nothing to the other', async () => {
    const stable = [await upstream('v1-a'), await upstream('v1-b')];
    const canary = await upstream('v2');
    for (const u of stable) await register('versions', u, { version: '1.0.0' });
    await register('versions', canary, {
      version: '2.0.0',
      metadata: { track: 'canary' },
    });
    const subsets = discovery.setSubsetWeights(
      'versions',
      { 'stable/1.0.0': 80, 'canary/2.0.0': 20 },
      { scope },
    );
    expect(subsets.subsets).toEqual([
      { key: 'canary/2.0.0', weight: 20, instances: 1 },
      { key: 'stable/1.0.0', weight: 80, instances: 2 },
    ]);
    const served = async (n: number, strategy?: string) => {
      const byUpstream = new Map<string, number>();
      for (let i = 0; i < n; i++) {
        const r = await call(
          'GET',
          `/proxy/versions/${i}`,
          strategy === 'ip-hash'
            ? { headers: { [AFFINITY_HEADER]: `session-${i}` } }
            : {},
        );
        expect(r.status).toBe(200);
        const name = r.json.upstream as string;
        byUpstream.set(name, (byUpstream.get(name) ?? 0) + 1);
      }
      return byUpstream;
    };
    // Smooth weighted over the subsets: exactly 8 of every 10 requests to
    // 1.0.0, spread over its two instances by the strategy.
    expect(await served(100)).toEqual(
      new Map([
        ['v1-a', 40],
        ['v1-b', 40],
        ['v2', 20],
      ]),
    );
    for (const strategy of [
      'weighted-round-robin',
      'least-connections',
      'health-weighted',
      'ip-hash',
    ] as const) {
      // The pool's strategy: the one its registrations name.
      await register('versions', canary, {
        version: '2.0.0',
        metadata: { track: 'canary' },
        loadBalancing: { strategy },
      });
      const byUpstream = await served(200, strategy);
      const toCanary = (byUpstream.get('v2') ?? 0) / 200;
      // ip-hash places sessions by their hash: the share of these 200
      // sessions, fixed by their names; the others rotate exactly.
      expect(toCanary).toBeGreaterThanOrEqual(
        strategy === 'ip-hash' ? 0.1 : 0.2,
      );
      expect(toCanary).toBeLessThanOrEqual(strategy === 'ip-hash' ? 0.3 : 0.2);
    }
    // Round robin again: no registration names a strategy.
    await register('versions', canary, {
      version: '2.0.0',
      metadata: { track: 'canary' },
    });
    discovery.setSubsetWeights(
      'versions',
      { 'stable/1.0.0': 100, 'canary/2.0.0': 0 },
      { scope },
    );
    expect((await served(30)).get('v2')).toBeUndefined();
    // {} ends the split: every instance shares the traffic again.
    discovery.setSubsetWeights('versions', {}, { scope });
    expect((await served(30)).get('v2')).toBe(10);
  });

  it('spreads requests round-robin over real upstreams and forwards the right headers', async () => {
    const a = await upstream('a');
    const b = await upstream('b');
    await register('spread', a);
    await register('spread', b);

    const results = [];
    for (let i = 0; i < 10; i++) {
      results.push(await call('GET', `/proxy/spread/items/${i}?q=${i}`));
    }
    expect(results.map(r => r.status)).toEqual(Array(10).fill(200));
    expect(results.map(r => r.json.url)).toEqual(
      Array.from({ length: 10 }, (_, i) => `/items/${i}?q=${i}`),
    );
    expect(a.seen).toHaveLength(5);
    expect(b.seen).toHaveLength(5);

    // node:http, since undici will not send a Connection header that lists others
    const res = await new Promise<{ json: any; headers: IncomingHttpHeaders }>(
      (resolve, reject) => {
        const req = httpRequest(
          {
            host: '127.0.0.1',
            port: plane.port,
            path: '/proxy/spread/',
            agent: false,
            headers: {
              connection: 'keep-alive, x-client-hop',
              'x-client-hop': 'drop me',
              'x-kept': 'yes',
              authorization: 'Bearer user-token',
            },
          },
          response => {
            let text = '';
            response.setEncoding('utf8');
            response.on('data', chunk => {
              text += chunk;
            });
            response.on('end', () =>
              resolve({ json: JSON.parse(text), headers: response.headers }),
            );
          },
        );
        req.on('error', reject);
        req.end();
      },
    );
    expect(res.json.headers).toMatchObject({
      'x-kept': 'yes',
      'x-forwarded-for': '127.0.0.1',
      'x-forwarded-host': `127.0.0.1:${plane.port}`,
      'x-forwarded-proto': 'http',
    });
    expect(res.json.headers).not.toHaveProperty('x-client-hop');
    // An external service does not get the caller's credentials.
    expect(res.json.headers).not.toHaveProperty('authorization');
    expect(res.headers['x-upstream']).toMatch(/^[ab]$/);
    expect(res.headers).not.toHaveProperty('x-upstream-hop');

    expect(metrics.instance('spread-a')).toMatchObject({
      requests: 6,
      status: { '2xx': 6 },
      activeConnections: 0,
    });
  });

  it('gives Authorization to the instances a runtime started, never to a registration naming a managed plugin', async () => {
    // The attack: a registration that names a managed plugin as its pluginId,
    // hoping the proxy trusts it with the caller's token.
    const plugins = PluginStore.create({ db: knex });
    await plugins.create({
      id: 'owner',
      tenant: 'default',
      runtime: 'process',
    });
    const thief = await upstream('thief');
    await register('plugin-owned', thief, { pluginId: 'owner' });
    const stolen = await call('GET', '/proxy/plugin-owned/x', {
      headers: { authorization: 'Bearer plugin-token' },
    });
    expect(stolen.status).toBe(200);
    expect(thief.seen).toHaveLength(1);
    expect(thief.seen[0].headers).not.toHaveProperty('authorization');

    // The plugin's own instance, started by a runtime, gets it.
    const instance = await upstream('instance');
    await InstanceStore.create({ db: knex }).insert({
      id: 'owner-i-1',
      pluginId: 'owner',
      version: '1.0.0',
      track: 'stable',
      runtime: 'process',
      host: '127.0.0.1',
      port: instance.port,
      protocol: 'http',
      owner: 'replica-1',
      status: 'running',
    });
    await discovery.refresh();
    const res = await call('GET', '/proxy/owner/x', {
      headers: { authorization: 'Bearer plugin-token' },
    });
    expect(res.status).toBe(200);
    expect(instance.seen[0].headers.authorization).toBe('Bearer plugin-token');
  });

  it('keeps cookies from upstreams and upstreams from cookies unless the service passes them', async () => {
    const cookieRoute = (
      _req: unknown,
      res: import('node:http').ServerResponse,
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
    const plain = await upstream('plain', cookieRoute);
    const jar = await upstream('jar', cookieRoute);
    await register('no-cookies', plain);
    await register('cookie-jar', jar);
    const send = (name: string) =>
      client.request({
        method: 'GET',
        path: `/proxy/${name}/`,
        headers: { cookie: 'backstage-session=secret' },
      });

    const refused = await send('no-cookies');
    expect(refused.headers).not.toHaveProperty('set-cookie');
    expect(await refused.body.json()).toEqual({ cookie: null });

    const passed = await send('cookie-jar');
    expect(passed.headers['set-cookie']).toBe('session=from-upstream; Path=/');
    expect(await passed.body.json()).toEqual({
      cookie: 'backstage-session=secret',
    });
  });

  it('refuses, when proxying, an upstream outside allowedTargets that was stored before the rule', async () => {
    // Registered by a discovery without a policy (as before this rule):
    // the link-local metadata address and a name that resolves to it.
    await discovery.registerService(
      {
        serviceId: 'metadata-ip',
        serviceName: 'metadata',
        host: '169.254.169.254',
        port: 80,
      },
      { scope },
    );
    await discovery.registerService(
      {
        serviceId: 'metadata-name',
        serviceName: 'metadata-name',
        host: 'metadata.test',
        port: 80,
      },
      { scope },
    );
    const guarded = ServiceProxy.create({
      discovery,
      metrics,
      logger: mockServices.logger.mock(),
      maxRetries: 0,
      targets: TargetPolicy.create({
        resolve: async host => {
          if (host === 'metadata.test') return ['169.254.169.254'];
          throw new Error(`unknown host ${host}`);
        },
      }),
    });
    const guardedPlane = await guarded.startDataPlane();
    const guardedClient = new Pool(`http://127.0.0.1:${guardedPlane.port}`);
    try {
      for (const name of ['metadata', 'metadata-name']) {
        const res = await callVia(
          guardedClient,
          'GET',
          `/proxy/${name}/latest/meta-data/`,
        );
        expect(res.status).toBe(403);
        expect(res.json.error.name).toBe('NotAllowedError');
        expect(res.json.error.message).toMatch(/169\.254\.169\.254/);
      }
      const allowed = await upstream('allowed');
      await register('inside', allowed);
      expect(
        (await callVia(guardedClient, 'GET', '/proxy/inside/')).status,
      ).toBe(200);
    } finally {
      await guardedClient.close();
      await guarded.close();
    }
  });

  it('retries idempotent requests on another instance when one is dead: no failures', async () => {
    const a = await upstream('a');
    const b = await upstream('b');
    await register('retry', a);
    await register('retry', b);
    expect((await call('GET', '/proxy/retry/warm')).status).toBe(200);
    expect((await call('GET', '/proxy/retry/warm')).status).toBe(200);
    await b.kill();

    const statuses = [];
    for (let i = 0; i < 20; i++) {
      statuses.push((await call('GET', `/proxy/retry/${i}`)).status);
    }
    statuses.push((await call('DELETE', '/proxy/retry/thing')).status);
    statuses.push((await call('HEAD', '/proxy/retry/thing')).status);
    expect(statuses).toEqual(Array(22).fill(200));
    expect(a.seen.filter(s => s.url !== '/warm')).toHaveLength(22);
    expect(metrics.instance('retry-b')?.status.errors).toBeGreaterThan(0);
  });

  it('never retries a POST: a dead instance answers 502', async () => {
    const live = await upstream('live');
    const dead = await upstream('dead');
    await register('posts', live);
    await register('posts', dead);
    await dead.kill();

    const results = [
      await call('POST', '/proxy/posts/orders', { body: '{"n":1}' }),
      await call('POST', '/proxy/posts/orders', { body: '{"n":2}' }),
    ];
    expect(results.map(r => r.status).sort()).toEqual([200, 502]);
    const failed = results.find(r => r.status === 502)!;
    expect(failed.json.error.message).toMatch(
      /^Instance 'posts-dead' of service 'posts' failed: connect ECONNREFUSED 127\.0\.0\.1:\d+$/,
    );
    expect(live.seen.filter(s => s.method === 'POST')).toHaveLength(1);

    // A large streamed body to a dead instance: a clean 502, and the
    // client's connection carries on.
    const gone = await upstream('gone');
    await register('posts-gone', gone);
    await gone.kill();
    const single = new Pool(`http://127.0.0.1:${plane.port}`, {
      connections: 1,
    });
    try {
      const big = await single.request({
        method: 'POST',
        path: '/proxy/posts-gone/upload',
        body: Buffer.alloc(4 * 1024 * 1024, 1),
      });
      expect(big.statusCode).toBe(502);
      await big.body.dump();
      const next = await single.request({
        method: 'GET',
        path: '/proxy/posts/after',
      });
      expect(next.statusCode).toBe(200);
      await next.body.dump();
    } finally {
      await single.close();
    }
  });

  it('answers 503 naming the service when every instance is down', async () => {
    const a = await upstream('a');
    const b = await upstream('b');
    await register('down', a);
    await register('down', b);
    await a.kill();
    await b.kill();
    const seen: Array<{ service: string; version?: string; status?: number }> =
      [];
    const stop = metrics.observe(o =>
      seen.push({
        service: o.serviceName,
        version: o.version,
        status: o.status,
      }),
    );

    const res = await call('GET', '/proxy/down/x');
    expect(res.status).toBe(503);
    expect(res.json.error.name).toBe('ServiceUnavailableError');
    expect(res.json.error.message).toMatch(
      /^Service 'down' is unavailable: no instance could be reached \(tried down-[ab], down-[ab]; last error: connect ECONNREFUSED 127\.0\.0\.1:\d+\)$/,
    );

    // And when the health monitor says no instance is ready.
    const c = await upstream('c');
    await register('unready', c);
    await discovery.setInstanceHealth('unready-c', { ready: false });
    const unready = await call('GET', '/proxy/unready/x');
    expect(unready.status).toBe(503);
    expect(unready.json.error.message).toBe(
      "Service 'unready' has no ready instance (1 known, none ready)",
    );
    expect(c.seen).toHaveLength(0);

    const unknown = await call('GET', '/proxy/nothing-here/x');
    expect(unknown.status).toBe(404);
    expect(unknown.json.error.message).toBe("No service named 'nothing-here'");

    // The metrics see the failed attempts (no status) and the answers the
    // proxy gave itself (no version: no instance took them); never the
    // unknown name, which a client chooses.
    stop();
    expect(seen.filter(o => o.status !== undefined)).toEqual([
      { service: 'down', version: undefined, status: 503 },
      { service: 'unready', version: undefined, status: 503 },
    ]);
    expect(
      seen.filter(o => o.service === 'down' && o.status === undefined),
    ).toHaveLength(2);
    expect(seen.some(o => o.service === 'nothing-here')).toBe(false);
  });

  it('enforces maxConnections', async () => {
    const { route, holding, release } = holdRoute();
    const slow = await upstream('slow', route);
    await register('limited', slow, { loadBalancing: { maxConnections: 1 } });

    const first = call('GET', '/proxy/limited/hold');
    await holding;
    const second = await call('GET', '/proxy/limited/other');
    expect(second.status).toBe(503);
    expect(second.json.error.message).toBe(
      "Service 'limited' is at capacity: every ready instance has reached its maxConnections",
    );
    expect(metrics.instance('limited-slow')?.activeConnections).toBe(1);

    release();
    expect((await first).text).toBe('released');
    expect((await call('GET', '/proxy/limited/other')).status).toBe(200);

    // Raised live: two at once are fine.
    await discovery.updateService(
      'limited-slow',
      { maxConnections: 2 },
      { scope },
    );
    expect((await call('GET', '/proxy/limited/other')).status).toBe(200);
  });

  it('streams large bodies both ways without buffering them', async () => {
    const MB = 1024 * 1024;
    let requestStarted!: () => void;
    const upstreamGotFirstChunk = new Promise<void>(r => {
      requestStarted = r;
    });
    let clientGotFirstChunk!: () => void;
    const clientGotFirst = new Promise<void>(r => {
      clientGotFirstChunk = r;
    });
    const big = await upstream('big', (req, res) => {
      if (req.url === '/upload') {
        req.once('data', () => requestStarted());
        return false; // the default handler hashes what arrives
      }
      if (req.url === '/download') {
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        res.write(Buffer.alloc(64 * 1024, 1));
        clientGotFirst.then(async () => {
          for (let i = 0; i < 20; i++) {
            if (!res.write(Buffer.alloc(MB, 2))) {
              await new Promise(r => res.once('drain', r));
            }
          }
          res.end();
        });
        return true;
      }
      return false;
    });
    await register('big', big);

    // Upload: the upstream sees the first chunk before the client sends the rest.
    const body = new PassThrough();
    const hash = createHash('sha256');
    const first = Buffer.alloc(64 * 1024, 7);
    hash.update(first);
    const uploading = client.request({
      method: 'PUT',
      path: '/proxy/big/upload',
      body,
      headers: { 'content-type': 'application/octet-stream' },
    });
    body.write(first);
    await upstreamGotFirstChunk;
    for (let i = 0; i < 20; i++) {
      const chunk = Buffer.alloc(MB, i);
      hash.update(chunk);
      if (!body.write(chunk)) await new Promise(r => body.once('drain', r));
    }
    body.end();
    const uploaded = await uploading;
    const result = (await uploaded.body.json()) as any;
    expect(uploaded.statusCode).toBe(200);
    expect(result.size).toBe(64 * 1024 + 20 * MB);
    expect(result.sha256).toBe(hash.digest('hex'));

    // Download: the client gets the first chunk before the upstream sends the rest.
    const downloaded = await client.request({
      method: 'GET',
      path: '/proxy/big/download',
    });
    let size = 0;
    for await (const chunk of downloaded.body) {
      if (size === 0) clientGotFirstChunk();
      size += chunk.length;
    }
    expect(size).toBe(64 * 1024 + 20 * MB);
  });

  describe('with attemptTimeoutMs', () => {
    let timed: ServiceProxy;
    let timedPlane: DataPlane;
    let timedClient: Pool;

    beforeAll(async () => {
      timed = ServiceProxy.create({
        discovery,
        metrics,
        logger: mockServices.logger.mock(),
        maxRetries: 2,
        attemptTimeoutMs: 200,
        headersTimeoutMs: 1_500,
      });
      timedPlane = await timed.startDataPlane();
      timedClient = new Pool(`http://127.0.0.1:${timedPlane.port}`);
    });

    afterAll(async () => {
      await timedClient.close();
      await timed.close();
    });

    /** Accepts requests and never answers them (a process under SIGSTOP, as the proxy sees it). */
    const hanging = (name: string) => upstream(name, () => true);

    it('retries a GET that got no headers in time on another instance, and ejects the hung instance', async () => {
      const hung = await hanging('hung');
      const ok = await upstream('ok');
      await register('hangs', hung);
      await register('hangs', ok);

      // Default outlier ejection: 5 consecutive failures.
      const results = [];
      for (let i = 0; i < 30 && hung.seen.length < 5; i++) {
        const startedAt = Date.now();
        const res = await call('GET', `/proxy/hangs/${i}`, {}, timedClient);
        results.push({ ...res, ms: Date.now() - startedAt });
      }
      expect(results.map(r => r.status)).toEqual(
        Array(results.length).fill(200),
      );
      expect(results.map(r => r.headers['x-upstream'])).toEqual(
        Array(results.length).fill('ok'),
      );
      // Well under headersTimeoutMs (1500) for each, retried or not.
      expect(Math.max(...results.map(r => r.ms))).toBeLessThan(1_400);
      expect(hung.seen).toHaveLength(5);
      expect(metrics.instance('hangs-hung')?.status.errors).toBe(5);

      const [hungNow] = await discovery.listServices({
        scope,
        name: 'hangs',
      });
      expect(hungNow.serviceId).toBe('hangs-hung');
      expect(hungNow.ejectedUntil).toBeDefined();

      // Ejected: no more attempts on it.
      for (let i = 0; i < 4; i++) {
        expect(
          (await call('GET', '/proxy/hangs/after', {}, timedClient)).status,
        ).toBe(200);
      }
      expect(hung.seen).toHaveLength(5);
    });

    it('answers 504 naming the service when no instance is left to try', async () => {
      const only = await hanging('only');
      await register('hangs-alone', only);
      const res = await call('GET', '/proxy/hangs-alone/x', {}, timedClient);
      expect(res.status).toBe(504);
      expect(res.json.error.message).toBe(
        "Service 'hangs-alone' did not answer in time: no other instance to try (tried hangs-alone-only; last error: no response headers within 200 ms (attemptTimeoutMs))",
      );

      const a = await hanging('a');
      const b = await hanging('b');
      const c = await hanging('c');
      await register('hangs-all', a);
      await register('hangs-all', b);
      await register('hangs-all', c);
      const all = await call('GET', '/proxy/hangs-all/x', {}, timedClient);
      expect(all.status).toBe(504);
      expect(all.json.error.message).toMatch(
        /^Service 'hangs-all' did not answer in time: every attempt failed \(tried hangs-all-[abc], hangs-all-[abc], hangs-all-[abc]; last error: no response headers within 200 ms \(attemptTimeoutMs\)\)$/,
      );
      expect([a, b, c].map(u => u.seen.length)).toEqual([1, 1, 1]);
    });

    it('never retries a POST with a body: it waits for headersTimeoutMs and answers 504', async () => {
      const hung = await hanging('hung');
      const ok = await upstream('ok');
      await register('hangs-post', hung);
      await register('hangs-post', ok);

      // Round robin: one POST to each instance.
      const results = [
        await call(
          'POST',
          '/proxy/hangs-post/orders',
          { body: '{"n":1}' },
          timedClient,
        ),
        await call(
          'POST',
          '/proxy/hangs-post/orders',
          { body: '{"n":2}' },
          timedClient,
        ),
      ];
      expect(results.map(r => r.status).sort()).toEqual([200, 504]);
      const failed = results.find(r => r.status === 504)!;
      expect(failed.json.error.message).toMatch(
        /^Instance 'hangs-post-hung' of service 'hangs-post' did not answer in time: .*UND_ERR_HEADERS_TIMEOUT/,
      );
      expect(hung.seen.map(s => s.method)).toEqual(['POST']);
      expect(ok.seen.map(s => s.method)).toEqual(['POST']);
    });
  });

  it('requires the data plane token when one is set', async () => {
    const a = await upstream('a');
    await register('guarded', a);
    // Authorization reaches only a runtime's instance: one of a plugin.
    const instance = await upstream('guarded-instance');
    await PluginStore.create({ db: knex }).create({
      id: 'guarded-plugin',
      tenant: 'default',
      runtime: 'process',
    });
    await InstanceStore.create({ db: knex }).insert({
      id: 'guarded-plugin-i-1',
      pluginId: 'guarded-plugin',
      version: '1.0.0',
      track: 'stable',
      runtime: 'process',
      host: '127.0.0.1',
      port: instance.port,
      protocol: 'http',
      owner: 'replica-1',
      status: 'running',
    });
    await discovery.refresh();
    const guarded = await proxy.startDataPlane({ token: 's3cret' });
    const guardedClient = new Pool(`http://127.0.0.1:${guarded.port}`);
    try {
      const get = async (
        headers: Record<string, string>,
        path = '/proxy/guarded/x',
      ) => {
        const res = await guardedClient.request({
          method: 'GET',
          path,
          headers,
        });
        return { status: res.statusCode, json: (await res.body.json()) as any };
      };
      expect((await get({})).status).toBe(401);
      expect((await get({ authorization: 'Bearer wrong' })).status).toBe(401);
      const viaBearer = await get({ authorization: 'Bearer s3cret' });
      expect(viaBearer.status).toBe(200);
      // Our token does not travel upstream.
      expect(viaBearer.json.headers).not.toHaveProperty('authorization');
      const viaHeader = await get(
        {
          'x-plugin-lifecycle-proxy-token': 's3cret',
          authorization: 'Bearer for-the-plugin',
          'x-plugin-lifecycle-tenant': 'default',
        },
        '/proxy/guarded-plugin/x',
      );
      expect(viaHeader.status).toBe(200);
      expect(viaHeader.json.headers.authorization).toBe(
        'Bearer for-the-plugin',
      );
      expect(viaHeader.json.headers).not.toHaveProperty(
        'x-plugin-lifecycle-proxy-token',
      );
      expect(viaHeader.json.headers).not.toHaveProperty(
        'x-plugin-lifecycle-tenant',
      );

      const notProxy = await guardedClient.request({
        method: 'GET',
        path: '/',
      });
      expect(notProxy.statusCode).toBe(404);
      await notProxy.body.dump();
    } finally {
      await guardedClient.close();
      await guarded.close();
    }
  });

  it('refuses a tenant header from an anonymous caller of a data plane without a token', async () => {
    const a = await upstream('a');
    await register('tenanted', a);
    const res = await call('GET', '/proxy/tenanted/', {
      headers: { 'x-plugin-lifecycle-tenant': 'team-b' },
    });
    expect(res.status).toBe(400);
    expect(res.json.error.message).toMatch(
      /x-plugin-lifecycle-tenant header needs an authenticated caller.*pluginLifecycle\.discovery\.dataPlane\.token/,
    );
    expect(a.seen).toHaveLength(0);
  });

  it('will not listen beyond loopback without a token', async () => {
    await expect(proxy.startDataPlane({ host: '0.0.0.0' })).rejects.toThrow(
      /pluginLifecycle\.discovery\.dataPlane\.token/,
    );
  });

  it('logs refused tokens, at most once per interval', async () => {
    const logger = mockServices.logger.mock();
    const quiet = ServiceProxy.create({ discovery, metrics, logger });
    const guarded = await quiet.startDataPlane({
      token: 'a-long-data-plane-token',
      warnIntervalMs: 60_000,
    });
    const guardedClient = new Pool(`http://127.0.0.1:${guarded.port}`);
    try {
      for (let i = 0; i < 3; i++) {
        const res = await callVia(guardedClient, 'GET', '/proxy/anything/');
        expect(res.status).toBe(401);
      }
      const warnings = (logger.warn as jest.Mock).mock.calls.map(c => c[0]);
      expect(warnings).toEqual([
        expect.stringMatching(
          /^Data plane request refused: no token from 127\.0\.0\.1 for GET \/proxy\/anything\//,
        ),
      ]);
    } finally {
      await guardedClient.close();
      await quiet.close();
    }
  });
});
