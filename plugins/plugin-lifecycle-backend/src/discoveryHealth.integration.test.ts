import http from 'node:http';
import { AddressInfo } from 'node:net';
import { mockCredentials } from '@backstage/backend-test-utils';
import { createBackendModule } from '@backstage/backend-plugin-api';
import { pluginLifecycleHealthProbesExtensionPoint } from '@internal/plugin-lifecycle-node';
import request from 'supertest';
import { Operation, PluginDetails } from '@internal/plugin-lifecycle-common';
import {
  startLifecycleBackend,
  waitForOperation,
} from './__testUtils__/testBackend';

jest.setTimeout(120_000);

const PLUGIN = 'sample-http-service';

/** Polls until `check` returns a value, or fails with what it saw last. */
async function eventually<T>(
  what: string,
  check: () => Promise<T | undefined>,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) {
      throw new Error(`${what} did not happen in ${timeoutMs} ms: ${last}`);
    }
    await new Promise(r => setTimeout(r, 100));
  }
}

/**
 * The plugin as it runs in a Backstage backend (startTestBackend, SQLite,
 * real child processes): runtime instances are discovered and proxied to,
 * a registered service's health check takes it out of rotation and back,
 * and a failing liveness probe restarts an instance through the
 * orchestrator.
 */
describe('discovery, proxy and health monitor in the backend', () => {
  let server: http.Server;
  let stopBackend: () => Promise<void>;
  let external: http.Server;
  let externalHealthy = true;
  let customHealthy = true;
  const probedByCustom: string[] = [];
  // Another backend plugin's probe, added through the extension point.
  const customProbes = createBackendModule({
    pluginId: 'plugin-lifecycle',
    moduleId: 'test-probes',
    register(env) {
      env.registerInit({
        deps: { probes: pluginLifecycleHealthProbesExtensionPoint },
        async init({ probes }) {
          probes.addProbeFunction('flag', target => {
            probedByCustom.push(target.instanceId);
            return { ok: customHealthy, message: `flag is ${customHealthy}` };
          });
        },
      });
    },
  });
  const auth = mockCredentials.user.header('user:default/alice');
  const api = (path: string) => `/api/plugin-lifecycle${path}`;
  const get = (path: string) =>
    request(server).get(api(path)).set('Authorization', auth);

  beforeAll(async () => {
    // A service this backend does not run: it only registers.
    external = http.createServer((req, res) => {
      if (req.url === '/health') {
        res.writeHead(externalHealthy ? 200 : 503).end();
        return;
      }
      res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ who: 'external', path: req.url }));
    });
    await new Promise<void>(r => external.listen(0, '127.0.0.1', r));

    ({ server, stop: stopBackend } = await startLifecycleBackend({
      pluginId: PLUGIN,
      features: [customProbes],
      config: {
        requestArtifactTypes: ['tarball', 'external'],
        orchestrator: { defaultTimeout: 30_000 },
        runtime: { process: { readyTimeout: 10_000, stopGracePeriod: 2_000 } },
        discovery: { pollInterval: 200, expireInterval: 200 },
        health: {
          heartbeatInterval: 300,
          targetRefreshInterval: 300,
          flushInterval: 200,
          feedInterval: 200,
          restartBackoff: { base: 1_000 },
          // Quick probes keep the test short; the default floor is 1 s.
          probeLimits: { minPeriodSeconds: 0.1 },
        },
      },
    }));
  });

  afterAll(async () => {
    await stopBackend?.();
    await new Promise(r => external?.close(r));
  });

  async function act(action: string, body: object = {}) {
    const res = await request(server)
      .post(api(`/plugins/${PLUGIN}/${action}`))
      .set('Authorization', auth)
      .send(body);
    expect(res.status).toBe(202);
    return waitForOperation(server, auth, res.body.operationId);
  }

  it('discovers running instances and spreads proxied requests over them', async () => {
    expect(
      await act('install', { version: '1.0.0', replicas: 2 }),
    ).toMatchObject({ status: 'succeeded' });
    expect(await act('start')).toMatchObject({ status: 'succeeded' });

    const services = await eventually('two ready instances', async () => {
      const res = await get(`/services?name=${PLUGIN}`);
      const ready = res.body.items?.filter((s: any) => s.ready);
      return ready?.length === 2 ? res.body.items : undefined;
    });
    expect(services.every((s: any) => s.source === 'instance')).toBe(true);

    const resolved = await get(`/services/${PLUGIN}/resolve`);
    expect(resolved.status).toBe(200);
    expect(services.map((s: any) => s.port)).toContain(resolved.body.port);

    const seen = new Set<string>();
    for (let i = 0; i < 10; i++) {
      const res = await get(`/proxy/${PLUGIN}/`);
      expect(res.status).toBe(200);
      seen.add(res.body.instanceId);
    }
    expect(seen).toEqual(new Set(services.map((s: any) => s.serviceId)));

    const metrics = await get('/metrics/services');
    const proxied = metrics.body.instances
      .filter((i: any) => i.serviceName === PLUGIN)
      .reduce((n: number, i: any) => n + i.requests, 0);
    expect(proxied).toBe(10);

    const health = await eventually('health of both instances', async () => {
      const res = await get(`/plugins/${PLUGIN}/health`);
      return res.body.instances?.length === 2 ? res.body : undefined;
    });
    expect(health.instances[0].probes.map((p: any) => p.name).sort()).toEqual([
      'liveness',
      'readiness',
      'startup',
    ]);
  });

  it('takes a registered service out of rotation while its health check fails', async () => {
    const { port } = external.address() as AddressInfo;
    const registered = await request(server)
      .post(api('/services'))
      .set('Authorization', auth)
      .send({
        serviceId: 'external-api-1',
        serviceName: 'external-api',
        host: '127.0.0.1',
        port,
        // The original design's short form.
        healthCheck: { endpoint: '/health', interval: 1_000, timeout: 500 },
      });
    expect(registered.status).toBe(201);

    const proxied = await get('/proxy/external-api/hello?x=1');
    expect(proxied.status).toBe(200);
    expect(proxied.body).toEqual({ who: 'external', path: '/hello?x=1' });

    externalHealthy = false;
    const refused = await eventually('503 once unhealthy', async () => {
      const res = await get('/services/external-api/resolve');
      return res.status === 503 ? res : undefined;
    });
    expect(refused.body.error.message).toContain('external-api');

    externalHealthy = true;
    await eventually('back in rotation', async () => {
      const res = await get('/services/external-api/resolve');
      return res.status === 200 ? res : undefined;
    });

    const deregistered = await request(server)
      .delete(api('/services/external-api-1'))
      .set('Authorization', auth);
    expect(deregistered.status).toBeLessThan(300);
    expect((await get('/services/external-api/resolve')).status).toBe(404);
  });

  it('runs custom probes that another backend plugin added', async () => {
    const { port } = external.address() as AddressInfo;
    const registered = await request(server)
      .post(api('/services'))
      .set('Authorization', auth)
      .send({
        serviceId: 'custom-checked-1',
        serviceName: 'custom-checked',
        host: '127.0.0.1',
        port,
        healthCheck: {
          name: 'flag',
          type: 'readiness',
          method: 'custom',
          custom: { name: 'flag' },
          periodSeconds: 0.5,
          failureThreshold: 1,
        },
      });
    expect(registered.status).toBe(201);
    await eventually('a custom probe run', async () =>
      probedByCustom.includes('custom-checked-1') ? true : undefined,
    );
    customHealthy = false;
    await eventually('503 once the custom probe fails', async () => {
      const res = await get('/services/custom-checked/resolve');
      return res.status === 503 ? res : undefined;
    });
    customHealthy = true;
    await eventually('back in rotation', async () => {
      const res = await get('/services/custom-checked/resolve');
      return res.status === 200 ? res : undefined;
    });
  });

  it('restarts an instance whose liveness probe fails, through the orchestrator', async () => {
    const probes = await request(server)
      .put(api(`/plugins/${PLUGIN}/probes`))
      .set('Authorization', auth)
      .send({
        probes: [
          {
            name: 'liveness',
            type: 'liveness',
            method: 'http',
            http: { path: '/health' },
            periodSeconds: 0.5,
            timeoutSeconds: 0.5,
            failureThreshold: 2,
          },
        ],
      });
    expect(probes.status).toBe(200);

    const before: PluginDetails = (await get(`/plugins/${PLUGIN}`)).body;
    const victim = before.instances.find(i => i.status === 'running')!;
    expect(victim.pid).toBeDefined();
    // Alive but not answering: only a probe can tell.
    process.kill(victim.pid!, 'SIGSTOP');
    try {
      const restart = await eventually(
        'a restart by the health monitor',
        async () => {
          const res = await get(`/plugins/${PLUGIN}/operations`);
          return (res.body.items as Operation[]).find(
            o => o.type === 'restart' && o.actor === 'plugin-lifecycle:health',
          );
        },
      );
      const done = await waitForOperation(server, auth, restart.id);
      expect(done).toMatchObject({
        status: 'succeeded',
        params: expect.objectContaining({ instanceId: victim.id }),
        result: expect.objectContaining({ replaced: 1 }),
      });
    } finally {
      try {
        process.kill(victim.pid!, 'SIGCONT');
      } catch {
        // already gone: the restart stopped it
      }
    }
    // Only the failing instance was replaced; the other kept serving.
    const after: PluginDetails = (await get(`/plugins/${PLUGIN}`)).body;
    expect(after.state).toBe('running');
    const runningAfter = after.instances.filter(i => i.status === 'running');
    expect(runningAfter).toHaveLength(2);
    expect(runningAfter.map(i => i.id)).not.toContain(victim.id);
    const others = before.instances
      .filter(i => i.status === 'running' && i.id !== victim.id)
      .map(i => i.id);
    expect(runningAfter.map(i => i.id)).toEqual(expect.arrayContaining(others));
  });

  it('refuses bad input with 400 and changes nothing', async () => {
    const badWeight = await request(server)
      .post(api('/services'))
      .set('Authorization', auth)
      .send({
        serviceName: 'bad',
        host: '127.0.0.1',
        port: 1,
        loadBalancing: { weight: -1 },
      });
    expect(badWeight.status).toBe(400);
    expect(badWeight.body.error.message).toContain('weight');

    const badStrategy = await get(`/services/${PLUGIN}/resolve?strategy=bogus`);
    expect(badStrategy.status).toBe(400);

    const badProbe = await request(server)
      .put(api(`/plugins/${PLUGIN}/probes`))
      .set('Authorization', auth)
      .send({ probes: [{ name: 'x', type: 'readiness', method: 'http' }] });
    expect(badProbe.status).toBe(400);

    expect((await get('/services?name=bad')).body.items).toEqual([]);

    const unknownInstance = await request(server)
      .post(api(`/plugins/${PLUGIN}/restart`))
      .set('Authorization', auth)
      .send({ instanceId: 'no-such-instance' });
    expect(unknownInstance.status).toBe(404);
    const notForStop = await request(server)
      .post(api(`/plugins/${PLUGIN}/stop`))
      .set('Authorization', auth)
      .send({ instanceId: 'no-such-instance' });
    expect(notForStop.status).toBe(400);
    expect(notForStop.body.error.message).toContain('restart only');
  });
});

describe("the original design's serviceDiscovery.enableHealthChecks: false", () => {
  it('runs no registered health check: the service takes traffic as registered', async () => {
    let checks = 0;
    const down = http.createServer((req, res) => {
      if (req.url === '/health') checks++;
      res.writeHead(req.url === '/health' ? 503 : 200).end();
    });
    await new Promise<void>(r => down.listen(0, '127.0.0.1', r));
    const { server, stop } = await startLifecycleBackend({
      pluginId: PLUGIN,
      config: {
        serviceDiscovery: { enableHealthChecks: false },
        discovery: { pollInterval: 200 },
        health: { targetRefreshInterval: 300 },
      },
    });
    try {
      const auth = mockCredentials.user.header('user:default/alice');
      const registered = await request(server)
        .post('/api/plugin-lifecycle/services')
        .set('Authorization', auth)
        .send({
          serviceId: 'unchecked-1',
          serviceName: 'unchecked',
          host: '127.0.0.1',
          port: (down.address() as AddressInfo).port,
          healthCheck: { endpoint: '/health', interval: 1_000, timeout: 500 },
        });
      expect(registered.status).toBe(201);
      // Several periods of the check (and of the bridge's sync) go by.
      await new Promise(r => setTimeout(r, 3_000));
      expect(checks).toBe(0);
      const resolved = await request(server)
        .get('/api/plugin-lifecycle/services/unchecked/resolve')
        .set('Authorization', auth);
      expect(resolved.status).toBe(200);
      expect(resolved.body.serviceId).toBe('unchecked-1');
    } finally {
      await stop();
      await new Promise(r => down.close(r));
    }
  });
});
