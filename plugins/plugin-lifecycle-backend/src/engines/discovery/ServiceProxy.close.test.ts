import { Agent, IncomingMessage, request as httpRequest } from 'node:http';
import { performance } from 'node:perf_hooks';
import { mockServices } from '@backstage/backend-test-utils';
import { TestDatabases } from '@backstage/backend-test-utils';
import { applyDatabaseMigrations } from '../../database/migrations';
import { ALL_TENANTS } from '../../domain/tenancy';
import { ProxyMetrics } from './ProxyMetrics';
import { ServiceDiscovery } from './ServiceDiscovery';
import { Upstream, holdRoute } from './__testUtils__/Upstream';
import { DataPlane, ServiceProxy } from './ServiceProxy';

jest.setTimeout(60_000);

const databases = TestDatabases.create({ ids: ['SQLITE_3'] });
const scope = ALL_TENANTS;

/**
 * One request over a connection of its own; `endless` streams a request body
 * that never ends. Settles with what the client saw, never rejects.
 */
function open(
  port: number,
  path: string,
  options: { method?: string; endless?: boolean } = {},
) {
  let timer: NodeJS.Timeout | undefined;
  const req = httpRequest({
    host: '127.0.0.1',
    port,
    path,
    method: options.method ?? 'GET',
    agent: false,
  });
  const done = new Promise<{ status?: number; body: string; cut: boolean }>(
    resolve => {
      req.once('response', res => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', d => (body += d));
        res.once('end', () =>
          resolve({ status: res.statusCode, body, cut: false }),
        );
        res.once('close', () =>
          resolve({ status: res.statusCode, body, cut: !res.complete }),
        );
      });
      req.once('error', () => resolve({ body: '', cut: true }));
    },
  ).finally(() => clearInterval(timer));
  if (options.endless) {
    req.flushHeaders();
    timer = setInterval(() => req.write('x'), 50);
  } else {
    req.end();
  }
  return done;
}

describe('ServiceProxy.close', () => {
  let discovery: ServiceDiscovery;
  const upstreams: Upstream[] = [];
  const timers = new Set<NodeJS.Timeout>();
  let hung: Upstream;
  let drip: Upstream;
  let held: ReturnType<typeof holdRoute>;
  let heldUpstream: Upstream;

  beforeAll(async () => {
    const knex = await databases.init('SQLITE_3');
    await applyDatabaseMigrations({ getClient: async () => knex });
    discovery = ServiceDiscovery.create({
      db: knex,
      logger: mockServices.logger.mock(),
      pollIntervalMs: 60_000,
      expireIntervalMs: 0,
      defaultStrategy: 'round-robin',
    });
    await discovery.start();
    // Never answers.
    hung = await new Upstream('hung', () => true).start();
    // Headers, then a byte every 50 ms, never ending.
    drip = await new Upstream('drip', (_req, res) => {
      res.writeHead(200);
      const timer = setInterval(() => res.write('.'), 50);
      timers.add(timer);
      res.once('close', () => clearInterval(timer));
      return true;
    }).start();
    held = holdRoute();
    heldUpstream = await new Upstream('held', held.route).start();
    upstreams.push(hung, drip, heldUpstream);
    for (const u of upstreams) {
      await discovery.registerService(
        {
          serviceId: `${u.name}-1`,
          serviceName: u.name,
          host: '127.0.0.1',
          port: u.port,
        },
        { scope },
      );
    }
  });

  afterAll(async () => {
    for (const t of timers) clearInterval(t);
    await discovery.stop();
    for (const u of upstreams) await u.kill();
  });

  async function started() {
    const proxy = ServiceProxy.create({
      discovery,
      metrics: ProxyMetrics.create(),
      logger: mockServices.logger.mock(),
    });
    const plane: DataPlane = await proxy.startDataPlane();
    return { proxy, plane };
  }

  it('ends hung, dripping and endless-body requests once the grace period is over', async () => {
    const { proxy, plane } = await started();
    const requests = [
      open(plane.port, '/proxy/hung/x'),
      open(plane.port, '/proxy/drip/x'),
      open(plane.port, '/proxy/hung/upload', { method: 'POST', endless: true }),
    ];
    await new Promise(r => setTimeout(r, 300));

    const before = performance.now();
    await proxy.close({ graceMs: 500 });
    const took = performance.now() - before;

    // Not a timing assertion beyond "bounded": headersTimeout is 60 s.
    expect(took).toBeGreaterThanOrEqual(450);
    expect(took).toBeLessThan(10_000);
    const seen = await Promise.all(requests);
    expect(seen.map(s => s.cut)).toEqual([true, true, true]);
    // The dripping one had begun its response: it got some of it.
    expect(seen[1].status).toBe(200);
    expect(seen[1].body.length).toBeGreaterThan(0);
  });

  it('lets a request that ends within the grace period finish, and refuses later ones', async () => {
    const { proxy, plane } = await started();
    const request = open(plane.port, '/proxy/held/hold');
    await held.holding;

    const closing = proxy.close({ graceMs: 10_000 });
    // The listener no longer takes connections.
    const refused = await open(plane.port, '/proxy/held/x');
    expect(refused.cut).toBe(true);

    held.release();
    expect(await request).toEqual({
      status: 200,
      body: 'released',
      cut: false,
    });
    const before = performance.now();
    await closing;
    // It did not wait for the grace period: nothing was left.
    expect(performance.now() - before).toBeLessThan(5_000);
  });

  it('closes a keep-alive connection once its response ended, without waiting for the grace period', async () => {
    const hold = holdRoute();
    const upstream = await new Upstream('keepalive', hold.route).start();
    upstreams.push(upstream);
    await discovery.registerService(
      {
        serviceId: 'keepalive-1',
        serviceName: 'keepalive',
        host: '127.0.0.1',
        port: upstream.port,
      },
      { scope },
    );
    const { proxy, plane } = await started();
    const agent = new Agent({ keepAlive: true });
    const responded = new Promise<IncomingMessage>(resolve => {
      httpRequest(
        {
          host: '127.0.0.1',
          port: plane.port,
          path: '/proxy/keepalive/hold',
          agent,
        },
        resolve,
      ).end();
    });
    await hold.holding;
    const closing = proxy.close({ graceMs: 20_000 });
    hold.release();
    const res = await responded;
    res.resume();
    await new Promise(r => res.once('end', r));
    // A response begun before the close keeps its keep-alive header.
    expect(res.headers.connection).toBe('keep-alive');
    const before = performance.now();
    await closing;
    expect(performance.now() - before).toBeLessThan(5_000);
    agent.destroy();
  });

  it('closes at once without a grace period', async () => {
    const { proxy, plane } = await started();
    const request = open(plane.port, '/proxy/hung/x');
    await new Promise(r => setTimeout(r, 200));
    await proxy.close();
    expect((await request).cut).toBe(true);
    // A second close is the same one.
    await proxy.close({ graceMs: 10_000 });
  });

  it('answers requests handed to it after the grace period with 503', async () => {
    const { proxy } = await started();
    await proxy.close({ graceMs: 0 });
    const status = await new Promise<number>(resolve => {
      const res = {
        headersSent: false,
        statusCode: 0,
        setHeader: jest.fn(),
        writeHead(code: number) {
          this.statusCode = code;
        },
        end: () => resolve(res.statusCode),
      };
      proxy.handle(
        { method: 'GET', url: '/x', headers: {} } as any,
        res as any,
        'hung',
        '/x',
        {},
        scope,
      );
    });
    expect(status).toBe(503);
  });
});
