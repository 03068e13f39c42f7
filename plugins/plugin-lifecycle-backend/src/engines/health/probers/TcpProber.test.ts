import { spawn } from 'node:child_process';
import { AddressInfo, createServer, Server, Socket } from 'node:net';
import { findFreePort } from '../../runtime/freePort';
import { TcpProber } from './TcpProber';
import { Probe, ProbeTarget } from './types';

describe('TcpProber against a real TCP server', () => {
  let server: Server;
  let port: number;
  let closedPort: number;
  const sockets = new Set<Socket>();
  const prober = TcpProber.create();
  const never = new AbortController().signal;
  const probe = (overrides: Partial<Probe> = {}): Probe => ({
    name: 'alive',
    type: 'liveness',
    method: 'tcp',
    ...overrides,
  });
  const target = (targetPort: number): ProbeTarget => ({
    host: '127.0.0.1',
    port: targetPort,
    instanceId: 'sample-1',
    pluginId: 'sample',
  });

  beforeAll(async () => {
    server = createServer(socket => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
    });
    await new Promise<void>(resolve =>
      server.listen(0, '127.0.0.1', () => resolve()),
    );
    port = (server.address() as AddressInfo).port;
    closedPort = await findFreePort('127.0.0.1');
  });

  afterAll(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise(resolve => server.close(resolve));
  });

  it('passes when the port accepts a connection, and closes it', async () => {
    const outcome = await prober.probe(target(port), probe(), never);
    expect(outcome).toEqual({
      ok: true,
      latencyMs: expect.any(Number),
      message: `connected to 127.0.0.1:${port}`,
    });
    await new Promise(r => setTimeout(r, 50));
    expect(sockets.size).toBe(0);
  });

  it('fails on a closed port', async () => {
    const outcome = await prober.probe(target(closedPort), probe(), never);
    expect(outcome.ok).toBe(false);
    expect(outcome.message).toMatch(
      new RegExp(
        `^no TCP connection to 127\\.0\\.0\\.1:${closedPort}: .*ECONNREFUSED`,
      ),
    );
  });

  it('uses the port of the probe over the port of the target', async () => {
    await expect(
      prober.probe(target(closedPort), probe({ tcp: { port } }), never),
    ).resolves.toMatchObject({ ok: true });
  });

  it('times out when the server does not take the connection', async () => {
    // A server whose accept queue is full: its process is blocked, so the
    // kernel drops further SYNs and the connection never completes.
    const blocked = spawn(
      process.execPath,
      [
        '-e',
        `const server = require('node:net').createServer();
        server.listen({ port: 0, host: '127.0.0.1', backlog: 1 }, () => {
          console.log(server.address().port);
          Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
        });`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const fillers: Socket[] = [];
    try {
      const blockedPort = await new Promise<number>(resolve =>
        blocked.stdout!.once('data', data => resolve(Number(String(data)))),
      );
      for (let i = 0; i < 10; i++) {
        const socket = new Socket();
        fillers.push(socket);
        socket.on('error', () => {});
        const connected = await new Promise<boolean>(resolve => {
          socket.setTimeout(200, () => resolve(false));
          socket.connect(blockedPort, '127.0.0.1', () => resolve(true));
        });
        if (!connected) break; // the queue is full
      }

      const outcome = await prober.probe(
        target(blockedPort),
        probe({ timeoutSeconds: 0.3 }),
        never,
      );
      expect(outcome).toEqual({
        ok: false,
        latencyMs: expect.any(Number),
        message: 'timed out after 300ms',
      });
      expect(outcome.latencyMs).toBeGreaterThanOrEqual(250);
      expect(outcome.latencyMs).toBeLessThan(1000);
    } finally {
      for (const socket of fillers) socket.destroy();
      blocked.kill('SIGKILL');
    }
  });

  it('fails at once when already aborted', async () => {
    const controller = new AbortController();
    controller.abort();
    await expect(
      prober.probe(target(port), probe(), controller.signal),
    ).resolves.toMatchObject({
      ok: false,
      message: expect.stringMatching(/^aborted/),
    });
  });

  it('fails on an invalid port instead of throwing', async () => {
    await expect(
      prober.probe(target(70000), probe(), never),
    ).resolves.toMatchObject({ ok: false });
  });
});
