import { Server, ServerCredentials, status as GrpcStatus } from '@grpc/grpc-js';
import {
  HealthImplementation,
  service as healthService,
} from 'grpc-health-check';
import { findFreePort } from '../../runtime/freePort';
import { GrpcProber } from './GrpcProber';
import { Probe, ProbeTarget } from './types';

jest.setTimeout(20_000);

function listen(server: Server): Promise<number> {
  return new Promise((resolve, reject) =>
    server.bindAsync(
      '127.0.0.1:0',
      ServerCredentials.createInsecure(),
      (error, port) => (error ? reject(error) : resolve(port)),
    ),
  );
}

describe('GrpcProber against a real gRPC server', () => {
  const health = new HealthImplementation({
    '': 'SERVING',
    'sample.Echo': 'SERVING',
  });
  // Serves the health service, one without it, and one that never answers.
  const server = new Server();
  const bare = new Server();
  const silent = new Server();
  let port: number;
  let barePort: number;
  let silentPort: number;
  let closedPort: number;
  let prober: GrpcProber;
  const never = new AbortController().signal;

  const target = (targetPort: number): ProbeTarget => ({
    host: '127.0.0.1',
    port: targetPort,
    instanceId: 'sample-1',
    pluginId: 'sample',
  });
  const probe = (
    grpc: Probe['grpc'] = {},
    overrides: Partial<Probe> = {},
  ): Probe => ({
    name: 'ready',
    type: 'readiness',
    method: 'grpc',
    grpc,
    ...overrides,
  });

  beforeAll(async () => {
    health.addToServer(server);
    silent.addService(healthService, { check: () => {}, watch: () => {} });
    [port, barePort, silentPort, closedPort] = await Promise.all([
      listen(server),
      listen(bare),
      listen(silent),
      findFreePort('127.0.0.1'),
    ]);
    prober = GrpcProber.create();
  });

  afterEach(() => {
    health.setStatus('', 'SERVING');
    health.setStatus('sample.Echo', 'SERVING');
  });

  afterAll(async () => {
    await prober.close();
    for (const s of [server, bare, silent]) s.forceShutdown();
  });

  it('passes when the server is SERVING', async () => {
    await expect(prober.probe(target(port), probe(), never)).resolves.toEqual({
      ok: true,
      latencyMs: expect.any(Number),
      statusCode: GrpcStatus.OK,
      message: 'the server is SERVING',
    });
  });

  it('follows the status of a named service', async () => {
    const echo = probe({ service: 'sample.Echo' });
    await expect(
      prober.probe(target(port), echo, never),
    ).resolves.toMatchObject({
      ok: true,
      message: 'service "sample.Echo" is SERVING',
    });

    health.setStatus('sample.Echo', 'NOT_SERVING');
    await expect(
      prober.probe(target(port), echo, never),
    ).resolves.toMatchObject({
      ok: false,
      message: 'service "sample.Echo" is NOT_SERVING',
    });
    // The server as a whole still serves.
    await expect(
      prober.probe(target(port), probe(), never),
    ).resolves.toMatchObject({ ok: true });

    health.setStatus('sample.Echo', 'UNKNOWN');
    await expect(
      prober.probe(target(port), echo, never),
    ).resolves.toMatchObject({
      ok: false,
      message: 'service "sample.Echo" is UNKNOWN',
    });

    health.setStatus('sample.Echo', 'SERVING');
    await expect(
      prober.probe(target(port), echo, never),
    ).resolves.toMatchObject({ ok: true });
  });

  it('fails with SERVICE_UNKNOWN for a service the server does not know', async () => {
    await expect(
      prober.probe(target(port), probe({ service: 'nope.Nothing' }), never),
    ).resolves.toMatchObject({
      ok: false,
      statusCode: GrpcStatus.NOT_FOUND,
      message:
        'service "nope.Nothing" is SERVICE_UNKNOWN: Health status unknown for service nope.Nothing',
    });
  });

  it('uses the port of the probe over the port of the target', async () => {
    await expect(
      prober.probe(target(closedPort), probe({ port }), never),
    ).resolves.toMatchObject({ ok: true });
  });

  it('fails on a server without the health service', async () => {
    await expect(
      prober.probe(target(barePort), probe(), never),
    ).resolves.toMatchObject({
      ok: false,
      statusCode: GrpcStatus.UNIMPLEMENTED,
      message: expect.stringContaining(
        `127.0.0.1:${barePort} does not implement grpc.health.v1.Health`,
      ),
    });
  });

  it('fails when nothing listens', async () => {
    const outcome = await prober.probe(target(closedPort), probe(), never);
    expect(outcome).toMatchObject({
      ok: false,
      statusCode: GrpcStatus.UNAVAILABLE,
      message: expect.stringMatching(
        new RegExp(
          `^Health/Check on 127\\.0\\.0\\.1:${closedPort} failed with UNAVAILABLE`,
        ),
      ),
    });
    expect(outcome.latencyMs).toBeLessThan(1000);
  });

  it('times out at the deadline on a server that never answers', async () => {
    const outcome = await prober.probe(
      target(silentPort),
      probe({}, { timeoutSeconds: 0.3 }),
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

  it('cancels the call when the caller aborts', async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error('stopping')), 100);
    const outcome = await prober.probe(
      target(silentPort),
      probe({}, { timeoutSeconds: 5 }),
      controller.signal,
    );
    expect(outcome).toMatchObject({ ok: false, message: 'aborted: stopping' });
    expect(outcome.latencyMs).toBeLessThan(1000);
  });

  it('keeps one client per address and closes them on close', async () => {
    const own = GrpcProber.create();
    for (let i = 0; i < 20; i++) {
      await own.probe(target(port), probe(), never);
    }
    expect(own.clientCount).toBe(1);
    await own.probe(target(barePort), probe(), never);
    expect(own.clientCount).toBe(2);

    await own.close();
    expect(own.clientCount).toBe(0);
    await expect(
      own.probe(target(port), probe(), never),
    ).resolves.toMatchObject({
      ok: false,
      message: 'the gRPC prober is closed',
    });
  });

  it('drops the least recently used client beyond maxClients', async () => {
    const own = GrpcProber.create({ maxClients: 1 });
    try {
      await own.probe(target(port), probe(), never);
      await own.probe(target(barePort), probe(), never);
      expect(own.clientCount).toBe(1);
      await expect(
        own.probe(target(port), probe(), never),
      ).resolves.toMatchObject({ ok: true });
      expect(own.clientCount).toBe(1);
    } finally {
      await own.close();
    }
  });

  it('closes clients that were idle too long', async () => {
    // Long enough that a busy machine's pause between the first two probes
    // does not count as idle (20 ms did, now and then, in CI).
    const own = GrpcProber.create({ idleTimeoutMs: 1_000 });
    try {
      await own.probe(target(port), probe(), never);
      await own.probe(target(barePort), probe(), never);
      expect(own.clientCount).toBe(2);
      await new Promise(r => setTimeout(r, 1_200));
      await own.probe(target(port), probe(), never);
      expect(own.clientCount).toBe(1);
    } finally {
      await own.close();
    }
  });

  it('sees a server that comes back on the same address', async () => {
    const own = GrpcProber.create();
    const address = await findFreePort('127.0.0.1');
    let later: Server | undefined;
    try {
      await expect(
        own.probe(target(address), probe(), never),
      ).resolves.toMatchObject({ ok: false });

      later = new Server();
      new HealthImplementation({ '': 'SERVING' }).addToServer(later);
      await new Promise<void>((resolve, reject) =>
        later!.bindAsync(
          `127.0.0.1:${address}`,
          ServerCredentials.createInsecure(),
          error => (error ? reject(error) : resolve()),
        ),
      );
      // The channel reconnects within its (capped) backoff.
      let outcome;
      for (let i = 0; i < 30; i++) {
        outcome = await own.probe(target(address), probe(), never);
        if (outcome.ok) break;
        await new Promise(r => setTimeout(r, 100));
      }
      expect(outcome).toMatchObject({ ok: true });
    } finally {
      await own.close();
      later?.forceShutdown();
    }
  });
});
