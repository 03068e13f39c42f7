import { mockCredentials } from '@backstage/backend-test-utils';
import request from 'supertest';
import { Pool } from 'undici';
import { findNginx } from './engines/discovery/nginx/NginxDataPlane';
import { findFreePort } from './engines/runtime/freePort';
import {
  startLifecycleBackend,
  waitForOperation,
} from './__testUtils__/testBackend';

jest.setTimeout(120_000);

const PLUGIN = 'sample-http-service';

if (!findNginx() && process.env.CI === 'true') {
  throw new Error('nginx is not installed (apt-get install -y nginx)');
}

async function eventually<T>(
  what: string,
  check: () => Promise<T | undefined>,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) {
      throw new Error(`${what} did not happen in ${timeoutMs} ms`);
    }
    await new Promise(r => setTimeout(r, 100));
  }
}

/**
 * The nginx data plane as the backend runs it (`discovery.dataPlane.engine:
 * nginx`): real instances of the sample plugin (child processes) are routed
 * through Debian's nginx, its access log feeds the backend's metrics, and
 * stopping the plugin takes it off the data plane.
 */
(findNginx() ? describe : describe.skip)(
  'the nginx data plane in the backend',
  () => {
    let stopBackend: () => Promise<void>;
    let server: import('node:http').Server;
    let port: number;
    let client: Pool;
    const auth = mockCredentials.user.header('user:default/alice');
    const api = (path: string) => `/api/plugin-lifecycle${path}`;

    beforeAll(async () => {
      port = await findFreePort('127.0.0.1');
      ({ server, stop: stopBackend } = await startLifecycleBackend({
        pluginId: PLUGIN,
        config: {
          requestArtifactTypes: ['tarball'],
          orchestrator: { defaultTimeout: 30_000 },
          runtime: {
            process: { readyTimeout: 10_000, stopGracePeriod: 2_000 },
          },
          discovery: {
            pollInterval: 200,
            dataPlane: { port, engine: 'nginx' },
          },
        },
      }));
      client = new Pool(`http://127.0.0.1:${port}`);
    });

    afterAll(async () => {
      await client?.close();
      await stopBackend?.();
    });

    async function act(action: string, body: object = {}) {
      const res = await request(server)
        .post(api(`/plugins/${PLUGIN}/${action}`))
        .set('Authorization', auth)
        .send(body);
      expect(res.status).toBe(202);
      return waitForOperation(server, auth, res.body.operationId);
    }

    async function viaNginx(path: string) {
      const res = await client.request({ method: 'GET', path });
      const text = await res.body.text();
      return { status: res.statusCode, json: JSON.parse(text) };
    }

    it('routes to the running instances, records what nginx served, and follows a stop', async () => {
      expect((await viaNginx(`/proxy/${PLUGIN}/`)).json.error.name).toBe(
        'NotFoundError',
      );
      expect(
        await act('install', { version: '1.0.0', replicas: 2 }),
      ).toMatchObject({ status: 'succeeded' });
      expect(await act('start')).toMatchObject({ status: 'succeeded' });

      const seen = await eventually('both instances behind nginx', async () => {
        const ids = new Set<string>();
        for (let i = 0; i < 4; i++) {
          const res = await viaNginx(`/proxy/${PLUGIN}/`);
          if (res.status !== 200) return undefined;
          ids.add(res.json.instanceId);
        }
        return ids.size === 2 ? ids : undefined;
      });
      expect(seen.size).toBe(2);

      // The access log reaches the same metrics as the Node data plane's.
      const counted = await eventually('requests in the metrics', async () => {
        const res = await request(server)
          .get(api('/metrics/services'))
          .set('Authorization', auth);
        const n = res.body.instances
          .filter((i: any) => i.serviceName === PLUGIN)
          .reduce((sum: number, i: any) => sum + i.requests, 0);
        return n >= 4 ? n : undefined;
      });
      expect(counted).toBeGreaterThanOrEqual(4);

      expect(await act('stop')).toMatchObject({ status: 'succeeded' });
      const stopped = await eventually(
        'the plugin off the data plane',
        async () => {
          const res = await viaNginx(`/proxy/${PLUGIN}/`);
          return res.status === 503 ? res : undefined;
        },
      );
      expect(stopped.json.error.name).toBe('ServiceUnavailableError');
      expect(stopped.json.error.message).toContain(`'${PLUGIN}'`);
    });
  },
);
