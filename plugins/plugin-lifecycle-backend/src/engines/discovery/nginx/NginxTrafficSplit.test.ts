import http from 'node:http';
import { mockServices, TestDatabases } from '@backstage/backend-test-utils';
import { Knex } from 'knex';
import { Pool } from 'undici';
import { applyDatabaseMigrations } from '../../../database/migrations';
import { ALL_TENANTS } from '../../../domain/tenancy';
import { ProxyMetrics } from '../ProxyMetrics';
import { ServiceDiscovery } from '../ServiceDiscovery';
import { TrafficSplit } from '../../../domain/loadBalancing';
import {
  Upstream,
  call as callVia,
  holdRoute,
} from '../__testUtils__/Upstream';
import { NginxDataPlane, findNginx } from './NginxDataPlane';

jest.setTimeout(120_000);

const databases = TestDatabases.create({ ids: ['SQLITE_3'] });
const scope = ALL_TENANTS;
const nginx = findNginx();

if (!nginx && process.env.CI === 'true') {
  throw new Error('nginx is not installed (apt-get install -y nginx)');
}

/** Answers `/slow` after a while, so that requests are in flight when nginx reloads. */
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

/** One request on a connection of its own (a reload closes idle keep-alive connections, which a client would retry). */
function fresh(
  port: number,
  path: string,
): Promise<{ status: number; upstream?: string }> {
  return new Promise(resolve => {
    http
      .get({ host: '127.0.0.1', port, path, agent: false }, r => {
        r.resume();
        r.on('end', () =>
          resolve({
            status: r.statusCode ?? 0,
            upstream: r.headers['x-upstream'] as string | undefined,
          }),
        );
      })
      .on('error', () => resolve({ status: 0 }));
  });
}

// Real nginx (Debian's), real upstream servers, discovery on SQLite.
(nginx ? describe : describe.skip)('nginx data plane: traffic split', () => {
  let knex: Knex;
  let discovery: ServiceDiscovery;
  let metrics: ProxyMetrics;
  let plane: NginxDataPlane;
  let client: Pool;
  let a: Upstream;
  let b: Upstream;
  const held = holdRoute();

  const split = async (value: TrafficSplit | undefined) => {
    await discovery.setTrafficSplit('ab', value, { scope });
    await plane.settle();
  };

  const where = async (
    count: number,
    headers?: Record<string, string>,
  ): Promise<string[]> => {
    const seen: string[] = [];
    for (let i = 0; i < count; i++) {
      const r = await callVia(client, 'GET', '/proxy/ab/x', { headers });
      expect(r.status).toBe(200);
      seen.push(r.headers['x-upstream'] as string);
    }
    return seen;
  };

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
    plane = await NginxDataPlane.start({
      discovery,
      metrics,
      logger: mockServices.logger.mock(),
      logIntervalMs: 20,
      logFlushMs: 20,
      reloadDebounceMs: 10,
      maxFails: 0,
    });
    client = new Pool(`http://127.0.0.1:${plane.port}`);
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
    await plane.settle();
  });

  afterAll(async () => {
    await client?.close();
    await plane?.close();
    await discovery?.stop();
    await a?.kill();
    await b?.kill();
    await knex?.destroy();
  });

  it('splits 80/20 by weight within tolerance, and counts each version from the access log', async () => {
    await split({ weights: { 'stable/1.0.0': 80, 'canary/1.1.0': 20 } });
    const before = discovery.versionStats('ab', '1.1.0')?.requests ?? 0;
    const beforeA = discovery.versionStats('ab', '1.0.0')?.requests ?? 0;
    const N = 1000;
    const seen = await where(N);
    const toB = seen.filter(u => u === 'b').length;
    // split_clients hashes the request id: binomial, σ ≈ 13 of 1000.
    expect(toB / N).toBeGreaterThan(0.15);
    expect(toB / N).toBeLessThan(0.25);
    expect(seen.filter(u => u === 'a').length).toBe(N - toB);
    // What nginx served, read from its access log, per version.
    for (let i = 0; i < 200; i++) {
      if (
        (discovery.versionStats('ab', '1.1.0')?.requests ?? 0) - before >=
          toB &&
        (discovery.versionStats('ab', '1.0.0')?.requests ?? 0) - beforeA >=
          N - toB
      ) {
        break;
      }
      await new Promise(r => setTimeout(r, 25));
    }
    expect(discovery.versionStats('ab', '1.1.0')!.requests - before).toBe(toB);
    expect(discovery.versionStats('ab', '1.0.0')!.requests - beforeA).toBe(
      N - toB,
    );
    expect(
      discovery.versionStats('ab', '1.1.0', { tenant: 'default' })?.requests,
    ).toBe(discovery.versionStats('ab', '1.1.0')?.requests);
    expect(discovery.instanceStats('ab-b')?.version).toBe('1.1.0');
  });

  it('sends requests with the header to B, all others by weight', async () => {
    await split({
      weights: { 'stable/1.0.0': 100 },
      match: {
        subset: 'canary/1.1.0',
        header: { name: 'X-Variant', value: 'B' },
      },
    });
    expect(new Set(await where(30, { 'x-variant': 'B' }))).toEqual(
      new Set(['b']),
    );
    // Exact value, case-sensitive.
    expect(new Set(await where(30, { 'x-variant': 'b' }))).toEqual(
      new Set(['a']),
    );
    expect(new Set(await where(30))).toEqual(new Set(['a']));
  });

  it('sends requests with the cookie to B, all others by weight', async () => {
    await split({
      weights: { 'stable/1.0.0': 50, 'canary/1.1.0': 50 },
      match: {
        subset: 'canary/1.1.0',
        cookie: { name: 'ab-group', value: 'b' },
      },
    });
    expect(
      new Set(await where(30, { cookie: 'session=1; ab-group=b; x=y' })),
    ).toEqual(new Set(['b']));
    expect(new Set(await where(30, { cookie: 'ab-group=b' }))).toEqual(
      new Set(['b']),
    );
    // Another value, or the name as part of another cookie's: by weight.
    const others = await where(100, { cookie: 'xab-group=b; ab-group=bb' });
    expect(others.filter(u => u === 'a').length).toBeGreaterThan(25);
    expect(others.filter(u => u === 'b').length).toBeGreaterThan(25);
  });

  it('drops no request while the weights change under concurrent load, and a request in flight keeps its instance', async () => {
    await split({ weights: { 'stable/1.0.0': 100 } });
    // Held on A across every change below.
    const longOne = callVia(client, 'GET', '/proxy/ab/hold');
    await held.holding;

    const reloads = plane.reloads;
    let loading = true;
    const results: Array<{ status: number; upstream?: string }> = [];
    const CONCURRENCY = 8;
    const loops = Array.from({ length: CONCURRENCY }, async () => {
      while (loading) results.push(await fresh(plane.port, '/proxy/ab/slow'));
    });
    const steps: Array<Record<string, number>> = [
      { 'stable/1.0.0': 90, 'canary/1.1.0': 10 },
      { 'stable/1.0.0': 50, 'canary/1.1.0': 50 },
      { 'canary/1.1.0': 100 },
      { 'stable/1.0.0': 100 },
    ];
    try {
      for (let round = 0; round < 3; round++) {
        for (const weights of steps) {
          await split({ weights });
          await new Promise(r => setTimeout(r, 50));
        }
      }
    } finally {
      loading = false;
      await Promise.all(loops);
    }
    expect(plane.reloads - reloads).toBeGreaterThanOrEqual(12);
    expect(results.length).toBeGreaterThan(CONCURRENCY * 12);
    expect(results.filter(r => r.status !== 200)).toEqual([]);
    // Both versions served during the changes.
    expect(new Set(results.map(r => r.upstream))).toEqual(new Set(['a', 'b']));

    held.release();
    const long = await longOne;
    expect(long.status).toBe(200);
    expect(long.text).toBe('released');
    expect(long.headers['x-upstream']).toBeUndefined();
    expect(a.seen.filter(s => s.url === '/hold')).toHaveLength(1);
  });
});
