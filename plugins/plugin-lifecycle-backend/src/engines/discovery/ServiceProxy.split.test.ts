import http from 'node:http';
import { mockServices, TestDatabases } from '@backstage/backend-test-utils';
import { Knex } from 'knex';
import { Pool } from 'undici';
import { applyDatabaseMigrations } from '../../database/migrations';
import { TrafficSplit } from '../../domain/loadBalancing';
import { ALL_TENANTS } from '../../domain/tenancy';
import { ManagedPluginDiscovery } from './discoveryServiceFactory';
import { ProxyMetrics } from './ProxyMetrics';
import { ServiceDiscovery } from './ServiceDiscovery';
import { DataPlane, ServiceProxy } from './ServiceProxy';
import { Upstream, call as callVia, holdRoute } from './__testUtils__/Upstream';

jest.setTimeout(60_000);

const databases = TestDatabases.create({ ids: ['SQLITE_3'] });
const scope = ALL_TENANTS;

/** Answers `/slow` after a while, so that requests are in flight when the split changes. */
const slowRoute =
  (name: string, ms: number) =>
  (req: http.IncomingMessage, res: http.ServerResponse) => {
    if (!req.url?.startsWith('/slow')) return false;
    setTimeout(() => {
      res.writeHead(200, { 'x-upstream': name });
      res.end(name);
    }, ms);
    return true;
  };

// The Node data plane and the callers of getBaseUrl/getLoadBalancedService,
// over real upstream servers; discovery on SQLite.
describe('Node data plane: traffic split', () => {
  let knex: Knex;
  let discovery: ServiceDiscovery;
  let metrics: ProxyMetrics;
  let proxy: ServiceProxy;
  let plane: DataPlane;
  let client: Pool;
  let a: Upstream;
  let b: Upstream;
  const held = holdRoute();

  const split = (value: TrafficSplit | undefined) =>
    discovery.setTrafficSplit('ab', value, { scope });

  const where = async (count: number, headers?: Record<string, string>) => {
    const seen: string[] = [];
    for (let i = 0; i < count; i++) {
      const r = await callVia(client, 'GET', '/proxy/ab/x', { headers });
      expect(r.status).toBe(200);
      seen.push(r.headers['x-upstream'] as string);
    }
    return seen;
  };
  const requestsOf = (version: string) =>
    discovery.versionStats('ab', version)?.requests ?? 0;

  beforeAll(async () => {
    knex = await databases.init('SQLITE_3');
    await applyDatabaseMigrations({ getClient: async () => knex });
    metrics = ProxyMetrics.create();
    discovery = ServiceDiscovery.create({
      db: knex,
      logger: mockServices.logger.mock(),
      pollIntervalMs: 60_000,
      expireIntervalMs: 0,
      metrics,
    });
    await discovery.start();
    proxy = ServiceProxy.create({
      discovery,
      metrics,
      logger: mockServices.logger.mock(),
    });
    plane = await proxy.startDataPlane();
    client = new Pool(`http://127.0.0.1:${plane.port}`, { connections: 32 });
    a = await new Upstream(
      'a',
      (req, res) => slowRoute('a', 20)(req, res) || held.route(req, res),
    ).start();
    b = await new Upstream('b', slowRoute('b', 20)).start();
    for (const [u, version, track] of [
      [a, '1.0.0', 'stable'],
      [b, '1.1.0', 'canary'],
    ] as const) {
      await discovery.registerService(
        {
          serviceId: `ab-${u.name}`,
          serviceName: 'ab',
          host: '127.0.0.1',
          port: u.port,
          version,
          metadata: { track },
        },
        { scope },
      );
    }
  });

  afterAll(async () => {
    await client?.close();
    await proxy?.close();
    await discovery?.stop();
    await a?.kill();
    await b?.kill();
    await knex?.destroy();
  });

  it('splits 80/20 exactly by weight and counts each version', async () => {
    await split({ weights: { 'stable/1.0.0': 80, 'canary/1.1.0': 20 } });
    const [beforeA, beforeB] = [requestsOf('1.0.0'), requestsOf('1.1.0')];
    const seen = await where(100);
    expect(seen.filter(u => u === 'b')).toHaveLength(20);
    expect(seen.filter(u => u === 'a')).toHaveLength(80);
    expect(requestsOf('1.0.0') - beforeA).toBe(80);
    expect(requestsOf('1.1.0') - beforeB).toBe(20);
    expect(discovery.versionStats('ab', '1.1.0')).toMatchObject({
      serviceName: 'ab',
      tenant: 'default',
      version: '1.1.0',
      errorRate: 0,
    });
    expect(discovery.instanceStats('ab-b')?.requests).toBe(requestsOf('1.1.0'));
    expect(discovery.versionStats('ab', '9.9.9')).toBeUndefined();
  });

  it('sends requests with the header or the cookie to B, the others by weight', async () => {
    await split({
      weights: { 'stable/1.0.0': 100 },
      match: {
        subset: 'canary/1.1.0',
        header: { name: 'X-Variant', value: 'B' },
      },
    });
    expect(new Set(await where(20, { 'x-variant': 'B' }))).toEqual(
      new Set(['b']),
    );
    expect(new Set(await where(20, { 'x-variant': 'A' }))).toEqual(
      new Set(['a']),
    );
    await split({
      weights: { 'stable/1.0.0': 100 },
      match: {
        subset: 'canary/1.1.0',
        cookie: { name: 'ab-group', value: 'b' },
      },
    });
    // The proxy does not pass the cookie on (passCookies), yet routes by it.
    expect(
      new Set(await where(20, { cookie: 'session=1; ab-group=b' })),
    ).toEqual(new Set(['b']));
    expect(new Set(await where(20, { cookie: 'ab-group=a' }))).toEqual(
      new Set(['a']),
    );
  });

  it('drops no request while the weights change under concurrent load, and a request in flight keeps its instance', async () => {
    await split({ weights: { 'stable/1.0.0': 100 } });
    const longOne = callVia(client, 'GET', '/proxy/ab/hold');
    await held.holding;
    const [beforeA, beforeB] = [requestsOf('1.0.0'), requestsOf('1.1.0')];

    let loading = true;
    const results: Array<{ status: number; upstream?: string }> = [];
    const CONCURRENCY = 16;
    const loops = Array.from({ length: CONCURRENCY }, async () => {
      while (loading) {
        const r = await callVia(client, 'GET', '/proxy/ab/slow').catch(() => ({
          status: 0,
          headers: {} as Record<string, unknown>,
        }));
        results.push({
          status: r.status,
          upstream: r.headers['x-upstream'] as string | undefined,
        });
      }
    });
    const steps: Array<Record<string, number>> = [
      { 'stable/1.0.0': 90, 'canary/1.1.0': 10 },
      { 'stable/1.0.0': 50, 'canary/1.1.0': 50 },
      { 'canary/1.1.0': 100 },
      { 'stable/1.0.0': 100 },
    ];
    let changes = 0;
    try {
      for (let round = 0; round < 10; round++) {
        for (const weights of steps) {
          await split({ weights });
          changes++;
          await new Promise(r => setTimeout(r, 10));
        }
      }
    } finally {
      loading = false;
      await Promise.all(loops);
    }
    expect(changes).toBe(40);
    expect(results.length).toBeGreaterThan(CONCURRENCY * 10);
    expect(results.filter(r => r.status !== 200)).toEqual([]);
    expect(new Set(results.map(r => r.upstream))).toEqual(new Set(['a', 'b']));

    held.release();
    const long = await longOne;
    expect(long.status).toBe(200);
    expect(long.text).toBe('released');
    // It stayed on A (the weights sent everything to B meanwhile).
    expect(a.seen.filter(s => s.url === '/hold')).toHaveLength(1);
    // Every request was counted under its version, the held one too.
    expect(
      requestsOf('1.0.0') - beforeA + (requestsOf('1.1.0') - beforeB),
    ).toBe(results.length + 1);
  });

  it('gives getBaseUrl and getLoadBalancedService callers the same split', async () => {
    await split({
      weights: { 'stable/1.0.0': 3, 'canary/1.1.0': 1 },
      match: {
        subset: 'canary/1.1.0',
        header: { name: 'x-variant', value: 'B' },
      },
    });
    // What another plugin's `discovery.getBaseUrl('ab')` answers when the
    // data plane listener is configured.
    const managed = new ManagedPluginDiscovery(
      {
        managedPlugins: new Set(['ab']),
        dataPlaneUrl: `http://127.0.0.1:${plane.port}/proxy`,
      },
      {
        getBaseUrl: async () => 'http://unused',
        getExternalBaseUrl: async () => 'http://unused',
      },
    );
    const baseUrl = await managed.getBaseUrl('ab');
    const via = async (headers?: Record<string, string>) => {
      const res = await fetch(`${baseUrl}/x`, { headers });
      expect(res.status).toBe(200);
      await res.text();
      return res.headers.get('x-upstream');
    };
    const plain: Array<string | null> = [];
    for (let i = 0; i < 40; i++) plain.push(await via());
    expect(plain.filter(u => u === 'b')).toHaveLength(10);
    expect(plain.filter(u => u === 'a')).toHaveLength(30);
    for (let i = 0; i < 5; i++)
      expect(await via({ 'x-variant': 'B' })).toBe('b');

    const resolved = async (headers?: Record<string, string>) =>
      (
        await discovery.getLoadBalancedService('ab', {}, undefined, {
          scope,
          headers,
        })
      ).serviceId;
    const picks: string[] = [];
    for (let i = 0; i < 40; i++) picks.push(await resolved());
    expect(picks.filter(id => id === 'ab-b')).toHaveLength(10);
    expect(await resolved({ 'x-variant': 'B' })).toBe('ab-b');
  });
});
