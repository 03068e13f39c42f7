import { createServer, IncomingHttpHeaders, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import { findFreePort } from '../../runtime/freePort';
import { HttpProber } from './HttpProber';
import { Probe, ProbeTarget } from './types';

const BIG_BODY = `${'x'.repeat(100 * 1024)}needle`;

describe('HttpProber against a real HTTP server', () => {
  let server: Server;
  let port: number;
  let closedPort: number;
  let prober: HttpProber;
  let connections = 0;
  const seen: IncomingHttpHeaders[] = [];
  const never = new AbortController().signal;

  const target = (overrides: Partial<ProbeTarget> = {}): ProbeTarget => ({
    host: '127.0.0.1',
    port,
    instanceId: 'sample-1',
    pluginId: 'sample',
    ...overrides,
  });
  const probe = (
    http: Probe['http'] & Record<string, unknown>,
    overrides: Partial<Probe> = {},
  ): Probe => ({
    name: 'ready',
    type: 'readiness',
    method: 'http',
    http,
    ...overrides,
  });

  beforeAll(async () => {
    server = createServer((req, res) => {
      seen.push(req.headers);
      switch (req.url) {
        case '/ok':
          res.end('all good');
          return;
        case '/fail':
          res.writeHead(500).end('broken');
          return;
        case '/moved':
          res.writeHead(302, { location: '/ok' }).end();
          return;
        case '/hang':
          return; // never answers
        case '/hang-body':
          res.writeHead(200).write('{"status":'); // never ends
          return;
        case '/status':
          res.setHeader('content-type', 'application/json');
          res.end('{"status":"UP","version":"1.2.3"}');
          return;
        case '/big':
          res.end(BIG_BODY);
          return;
        case '/secret':
          res.writeHead(req.headers['x-token'] === 's3cret' ? 200 : 401).end();
          return;
        default:
          res.writeHead(404).end();
      }
    });
    server.on('connection', () => connections++);
    await new Promise<void>(resolve =>
      server.listen(0, '127.0.0.1', () => resolve()),
    );
    port = (server.address() as AddressInfo).port;
    closedPort = await findFreePort('127.0.0.1');
    prober = HttpProber.create();
  });

  afterAll(async () => {
    await prober.close();
    server.closeAllConnections();
    await new Promise(resolve => server.close(resolve));
  });

  it('passes on a 200 and sends a user agent', async () => {
    const outcome = await prober.probe(target(), probe({ path: '/ok' }), never);
    expect(outcome).toEqual({
      ok: true,
      latencyMs: expect.any(Number),
      statusCode: 200,
      message: 'GET /ok answered 200',
    });
    expect(seen[seen.length - 1]['user-agent']).toBe(
      'backstage-plugin-lifecycle-probe',
    );
  });

  it('passes on a redirect without following it, as Kubernetes counts 3xx', async () => {
    const outcome = await prober.probe(
      target(),
      probe({ path: '/moved' }),
      never,
    );
    expect(outcome).toMatchObject({ ok: true, statusCode: 302 });
  });

  it('fails on a 500 and says what it expected', async () => {
    const outcome = await prober.probe(
      target(),
      probe({ path: '/fail' }),
      never,
    );
    expect(outcome).toMatchObject({
      ok: false,
      statusCode: 500,
      message: 'GET /fail answered 500, expected 200-399',
    });
  });

  it('uses the expected status codes when given', async () => {
    await expect(
      prober.probe(
        target(),
        probe({ path: '/fail', expectedStatusCodes: [500, 503] }),
        never,
      ),
    ).resolves.toMatchObject({ ok: true, statusCode: 500 });
    await expect(
      prober.probe(
        target(),
        probe({ path: '/ok', expectedStatusCodes: [204] }),
        never,
      ),
    ).resolves.toMatchObject({
      ok: false,
      message: 'GET /ok answered 200, expected 204',
    });
  });

  it('sends the headers of the probe', async () => {
    await expect(
      prober.probe(target(), probe({ path: '/secret' }), never),
    ).resolves.toMatchObject({ ok: false, statusCode: 401 });
    await expect(
      prober.probe(
        target(),
        probe({ path: '/secret', headers: { 'X-Token': 's3cret' } }),
        never,
      ),
    ).resolves.toMatchObject({ ok: true, statusCode: 200 });
  });

  it('uses the port of the probe over the port of the target', async () => {
    const outcome = await prober.probe(
      target({ port: closedPort }),
      probe({ path: '/ok', port }),
      never,
    );
    expect(outcome.ok).toBe(true);
  });

  it('fails when nothing listens', async () => {
    const outcome = await prober.probe(
      target({ port: closedPort }),
      probe({ path: '/ok' }),
      never,
    );
    expect(outcome.ok).toBe(false);
    expect(outcome.message).toContain('ECONNREFUSED');
  });

  it('times out on a server that never answers', async () => {
    const outcome = await prober.probe(
      target(),
      probe({ path: '/hang' }, { timeoutSeconds: 0.3 }),
      never,
    );
    expect(outcome).toEqual({
      ok: false,
      latencyMs: expect.any(Number),
      message: 'timed out after 300ms',
    });
    expect(outcome.latencyMs).toBeGreaterThanOrEqual(250);
    expect(outcome.latencyMs).toBeLessThan(1000);
  });

  it('times out after the default of 1 s', async () => {
    const outcome = await prober.probe(
      target(),
      probe({ path: '/hang' }),
      never,
    );
    expect(outcome.message).toBe('timed out after 1000ms');
    expect(outcome.latencyMs).toBeGreaterThanOrEqual(950);
  });

  it('times out on a body that never ends when it must match it', async () => {
    const outcome = await prober.probe(
      target(),
      probe(
        { path: '/hang-body', bodyContains: 'UP' },
        { timeoutSeconds: 0.3 },
      ),
      never,
    );
    expect(outcome).toMatchObject({
      ok: false,
      message: 'timed out after 300ms',
    });
  });

  it('stops when the caller aborts', async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error('shutting down')), 100);
    const outcome = await prober.probe(
      target(),
      probe({ path: '/hang' }, { timeoutSeconds: 5 }),
      controller.signal,
    );
    expect(outcome).toMatchObject({
      ok: false,
      message: 'aborted: shutting down',
    });
    expect(outcome.latencyMs).toBeLessThan(1000);
  });

  it('matches the body by substring', async () => {
    await expect(
      prober.probe(
        target(),
        probe({ path: '/status', bodyContains: '"status":"UP"' }),
        never,
      ),
    ).resolves.toMatchObject({ ok: true, message: 'GET /status answered 200' });
    await expect(
      prober.probe(
        target(),
        probe({ path: '/status', bodyContains: 'DOWN' }),
        never,
      ),
    ).resolves.toMatchObject({
      ok: false,
      statusCode: 200,
      message: 'GET /status answered 200 but its body does not contain "DOWN"',
    });
  });

  it('matches the body by regular expression', async () => {
    await expect(
      prober.probe(
        target(),
        probe({
          path: '/status',
          bodyMatches: '"version":"\\d+\\.\\d+\\.\\d+"',
        }),
        never,
      ),
    ).resolves.toMatchObject({ ok: true });
    await expect(
      prober.probe(
        target(),
        probe({ path: '/status', bodyMatches: '^DOWN' }),
        never,
      ),
    ).resolves.toMatchObject({
      ok: false,
      message: 'GET /status answered 200 but its body does not match /^DOWN/',
    });
    await expect(
      prober.probe(
        target(),
        probe({ path: '/status', bodyMatches: '(' }),
        never,
      ),
    ).resolves.toMatchObject({
      ok: false,
      message: expect.stringMatching(/^invalid bodyMatches pattern: /),
    });
  });

  it('reads no more of the body than the cap', async () => {
    await expect(
      prober.probe(
        target(),
        probe({ path: '/big', bodyContains: 'needle' }),
        never,
      ),
    ).resolves.toMatchObject({
      ok: false,
      message:
        'GET /big answered 200 but its body does not contain "needle" (read the first 65536 bytes)',
    });
    const generous = HttpProber.create({ maxBodyBytes: 200 * 1024 });
    try {
      await expect(
        generous.probe(
          target(),
          probe({ path: '/big', bodyContains: 'needle' }),
          never,
        ),
      ).resolves.toMatchObject({ ok: true });
    } finally {
      await generous.close();
    }
  });

  it('fails without http settings', async () => {
    await expect(
      prober.probe(
        target(),
        { name: 'ready', type: 'readiness', method: 'http' },
        never,
      ),
    ).resolves.toMatchObject({
      ok: false,
      message: 'an http probe needs its "http" settings',
    });
  });

  it.each([
    [undefined, 2],
    [1, 1],
  ])(
    'keeps connections open between probes (connectionsPerOrigin %s)',
    async (connectionsPerOrigin, most) => {
      const pooled = HttpProber.create({ connectionsPerOrigin });
      try {
        const before = connections;
        for (let i = 0; i < 5; i++) {
          await expect(
            pooled.probe(target(), probe({ path: '/ok' }), never),
          ).resolves.toMatchObject({ ok: true });
        }
        expect(connections - before).toBeGreaterThanOrEqual(1);
        expect(connections - before).toBeLessThanOrEqual(most);
      } finally {
        await pooled.close();
      }
    },
  );

  it('closes the connection after each probe without keep-alive', async () => {
    const oneShot = HttpProber.create({ connectionsPerOrigin: 0 });
    try {
      const before = connections;
      for (let i = 0; i < 3; i++) {
        await expect(
          oneShot.probe(target(), probe({ path: '/ok' }), never),
        ).resolves.toMatchObject({ ok: true });
        expect(seen[seen.length - 1].connection).toBe('close');
      }
      expect(connections - before).toBe(3);
    } finally {
      await oneShot.close();
    }
  });
});
