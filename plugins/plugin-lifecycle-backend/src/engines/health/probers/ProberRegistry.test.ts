import { ExecProbePolicy } from '../execProbePolicy';
import {
  createServer as createHttpServer,
  Server as HttpServer,
} from 'node:http';
import { AddressInfo, createServer, Server } from 'node:net';
import { Server as GrpcServer, ServerCredentials } from '@grpc/grpc-js';
import { HealthImplementation } from 'grpc-health-check';
import { CustomProber } from './CustomProber';
import { ExecProber } from './ExecProber';
import { GrpcProber } from './GrpcProber';
import { HttpProber } from './HttpProber';
import { ProberRegistry } from './ProberRegistry';
import { TcpProber } from './TcpProber';
import { Probe, ProbeTarget } from './types';
import { TargetPolicy } from '../../discovery/TargetPolicy';

describe('ProberRegistry', () => {
  let http: HttpServer;
  let tcp: Server;
  const grpc = new GrpcServer();
  let httpPort: number;
  let tcpPort: number;
  let grpcPort: number;
  const registry = ProberRegistry.create({
    custom: CustomProber.create({ functions: { always: () => true } }),
    exec: {
      policy: ExecProbePolicy.create({ allowedCommands: [process.execPath] }),
    },
  });
  const target = (port: number): ProbeTarget => ({
    host: '127.0.0.1',
    port,
    instanceId: 'sample-1',
    pluginId: 'sample',
  });
  const base = { name: 'p', type: 'readiness' } as const;

  beforeAll(async () => {
    http = createHttpServer((_req, res) => res.end('ok'));
    tcp = createServer(socket => socket.end());
    await Promise.all(
      [http, tcp].map(
        s => new Promise<void>(resolve => s.listen(0, '127.0.0.1', resolve)),
      ),
    );
    httpPort = (http.address() as AddressInfo).port;
    tcpPort = (tcp.address() as AddressInfo).port;
    new HealthImplementation({ '': 'SERVING' }).addToServer(grpc);
    grpcPort = await new Promise<number>((resolve, reject) =>
      grpc.bindAsync(
        '127.0.0.1:0',
        ServerCredentials.createInsecure(),
        (error, port) => (error ? reject(error) : resolve(port)),
      ),
    );
  });

  afterAll(async () => {
    await registry.close();
    grpc.forceShutdown();
    http.closeAllConnections();
    await Promise.all(
      [http, tcp].map(s => new Promise(resolve => s.close(resolve))),
    );
  });

  it('has a prober for every method', () => {
    expect(registry.get('http')).toBeInstanceOf(HttpProber);
    expect(registry.get('tcp')).toBeInstanceOf(TcpProber);
    expect(registry.get('grpc')).toBeInstanceOf(GrpcProber);
    expect(registry.get('exec')).toBeInstanceOf(ExecProber);
    expect(registry.get('custom')).toBe(registry.custom);
    expect(registry.get('smtp')).toBeUndefined();
  });

  it.each<[string, () => [ProbeTarget, Probe]]>([
    [
      'http',
      () => [
        target(httpPort),
        { ...base, method: 'http', http: { path: '/' } },
      ],
    ],
    ['tcp', () => [target(tcpPort), { ...base, method: 'tcp' }]],
    ['grpc', () => [target(grpcPort), { ...base, method: 'grpc', grpc: {} }]],
    [
      'exec',
      () => [
        target(1),
        {
          ...base,
          method: 'exec',
          exec: { command: process.execPath, args: ['-e', 'process.exit(0)'] },
        },
      ],
    ],
    [
      'custom',
      () => [
        target(1),
        { ...base, method: 'custom', custom: { name: 'always' } },
      ],
    ],
  ])('runs a %s probe with its prober', async (_method, make) => {
    const [t, p] = make();
    await expect(registry.run(t, p)).resolves.toMatchObject({ ok: true });
  });

  it('lets functions be registered on its custom prober', async () => {
    const own = ProberRegistry.create();
    own.custom.register('later', () => ({ ok: false, message: 'nope' }));
    await expect(
      own.run(target(1), {
        ...base,
        method: 'custom',
        custom: { name: 'later' },
      }),
    ).resolves.toMatchObject({ ok: false, message: 'nope' });
    await own.close();
  });

  it('fails a probe of a method it does not know', async () => {
    await expect(
      registry.run(target(1), { ...base, method: 'smtp' } as unknown as Probe),
    ).resolves.toEqual({
      ok: false,
      latencyMs: 0,
      message: "no prober for method 'smtp'",
    });
  });

  it('passes the signal on', async () => {
    const controller = new AbortController();
    controller.abort(new Error('shutting down'));
    await expect(
      registry.run(
        target(tcpPort),
        { ...base, method: 'tcp' },
        controller.signal,
      ),
    ).resolves.toMatchObject({ ok: false, message: 'aborted: shutting down' });
  });

  it("does not probe a registered service's target outside allowedTargets: no port scans", async () => {
    let connections = 0;
    const watched = createServer(socket => {
      connections++;
      socket.destroy();
    });
    await new Promise<void>(resolve =>
      watched.listen(0, '127.0.0.1', () => resolve()),
    );
    const port = (watched.address() as AddressInfo).port;
    try {
      const guarded = ProberRegistry.create({
        targets: TargetPolicy.create({
          // As if it were the database's port.
          reserved: [
            { what: "the backend's database", host: '127.0.0.1', port },
          ],
        }),
      });
      const probe: Probe = { name: 'scan', type: 'readiness', method: 'tcp' };
      const service = { ...target(1), serviceName: 'scanner', port };
      const refused = await guarded.run(service, probe);
      expect(refused).toMatchObject({ ok: false });
      expect(refused.message).toMatch(
        /^not probed: 127\.0\.0\.1:\d+ is the backend's database/,
      );
      const metadata = await guarded.run(
        { ...service, host: '169.254.169.254', port: 80 },
        probe,
      );
      expect(metadata.message).toMatch(/link-local/);
      expect(connections).toBe(0);
      // A runtime's instance is where the runtime put it: probed.
      expect(await guarded.run({ ...target(port) }, probe)).toMatchObject({
        ok: true,
      });
      expect(connections).toBe(1);
    } finally {
      await new Promise(resolve => watched.close(resolve));
    }
  });
});
