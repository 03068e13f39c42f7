/*
 * A plugin that runs elsewhere (the `external` runtime) comes under
 * management with a deployment, and goes back: an update from an external
 * version to a packaged one moves the plugin to the process runtime, the
 * reverse update moves it back, and a rollback in the middle leaves it
 * external. Requests go through the proxy all along; none may fail
 * (docs/migration.md runs the same against the demo backend).
 */
import { ChildProcess, spawn } from 'node:child_process';
import type { Server } from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { mockCredentials, mockServices } from '@backstage/backend-test-utils';
import { PluginInstance } from '@internal/plugin-lifecycle-common';
import request from 'supertest';
import { createTestDatabases } from './__testUtils__/databases';
import {
  startLifecycleBackend,
  waitForDeployment,
  waitForOperation,
} from './__testUtils__/testBackend';

jest.setTimeout(180_000);

const auth = mockCredentials.user.header();
const api = (p: string) => `/api/plugin-lifecycle${p}`;
const SAMPLE = path.resolve(
  __dirname,
  '../../../examples/sample-http-service/server.js',
);

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Requests through the proxy until stopped: who answered, what failed. */
function load(server: Server, pluginId: string) {
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}${api(`/proxy/${pluginId}/`)}`;
  const result = { failures: [] as string[], legacy: 0, managed: 0 };
  let running = true;
  const worker = async () => {
    while (running) {
      try {
        const res = await fetch(url, {
          headers: { Authorization: auth },
          signal: AbortSignal.timeout(10_000),
        });
        const text = await res.text();
        if (res.status !== 200) {
          result.failures.push(`${res.status} ${text.slice(0, 200)}`);
        } else if (JSON.parse(text).instanceId) {
          result.managed++;
        } else {
          result.legacy++;
        }
      } catch (error) {
        result.failures.push(String(error));
      }
      await new Promise(r => setTimeout(r, 5));
    }
  };
  const workers = [worker(), worker()];
  return {
    result,
    stop: async () => {
      running = false;
      await Promise.all(workers);
      return result;
    },
  };
}

const databases = createTestDatabases();

describe.each(databases.eachSupportedId())(
  'an external plugin brought under management on %p',
  databaseId => {
    let server: Server;
    let stop: () => Promise<void>;
    let legacy: ChildProcess;
    let legacyPort: number;

    const get = async (p: string) =>
      (await request(server).get(api(p)).set('Authorization', auth)).body;
    const post = (p: string, body: object) =>
      request(server).post(api(p)).set('Authorization', auth).send(body);
    const external = () => ({
      type: 'external',
      endpoints: [{ host: '127.0.0.1', port: legacyPort }],
    });

    async function installExternal(pluginId: string) {
      const res = await post(`/plugins/${pluginId}/install`, {
        version: '1.0.0-external',
        artifact: external(),
        start: true,
      });
      expect(res.status).toBe(202);
      expect(
        await waitForOperation(server, auth, res.body.operationId),
      ).toMatchObject({ status: 'succeeded' });
    }

    async function update(pluginId: string, body: object) {
      const res = await post(`/plugins/${pluginId}/update`, body);
      expect(res.status).toBe(202);
      expect(
        await waitForOperation(server, auth, res.body.operationId),
      ).toMatchObject({ status: 'succeeded' });
      return res.body.deploymentId as string;
    }

    async function serving(pluginId: string) {
      const plugin = await get(`/plugins/${pluginId}`);
      return {
        state: plugin.state,
        currentVersion: plugin.currentVersion,
        runtime: plugin.runtime,
        running: plugin.instances
          .filter((i: PluginInstance) => i.status === 'running')
          .map((i: PluginInstance) => `${i.version} ${i.runtime}`),
      };
    }

    beforeAll(async () => {
      const knex = await databases.init(databaseId);
      legacyPort = await freePort();
      legacy = spawn(process.execPath, [SAMPLE], {
        env: { ...process.env, PORT: String(legacyPort) },
        stdio: 'ignore',
      });
      const backend = await startLifecycleBackend({
        pluginId: 'cutover',
        extraPluginIds: ['cutover-rollback'],
        config: {
          orchestrator: { pollInterval: 20 },
          deployments: { tickInterval: 50 },
          runtime: { process: { readyTimeout: 3000, stopGracePeriod: 2000 } },
        },
        features: [mockServices.database.factory({ knex })],
      });
      server = backend.server;
      stop = backend.stop;
    });

    afterAll(async () => {
      await stop?.();
      legacy?.kill('SIGKILL');
    });

    it('moves to the process runtime with a blue-green deployment, and back to the external one', async () => {
      await installExternal('cutover');
      expect(await serving('cutover')).toEqual({
        state: 'running',
        currentVersion: '1.0.0-external',
        runtime: 'external',
        running: ['1.0.0-external external'],
      });
      const traffic = load(server, 'cutover');

      // Under management: the configured tarball, on the process runtime.
      const id = await update('cutover', {
        version: '1.1.0',
        deploymentStrategy: 'blue-green',
        deploymentConfig: { blueGreen: { scaleDownDelay: 300 } },
      });
      expect(await waitForDeployment(server, auth, id)).toMatchObject({
        phase: 'succeeded',
        traffic: { '1.1.0': 100 },
      });
      expect(await serving('cutover')).toEqual({
        state: 'running',
        currentVersion: '1.1.0',
        runtime: 'process',
        running: ['1.1.0 process'],
      });

      // And back, the request naming the external artifact.
      const back = await update('cutover', {
        version: '1.0.0-external',
        artifact: external(),
        deploymentStrategy: 'blue-green',
        deploymentConfig: { blueGreen: { scaleDownDelay: 300 } },
      });
      expect(await waitForDeployment(server, auth, back)).toMatchObject({
        phase: 'succeeded',
      });
      expect(await serving('cutover')).toEqual({
        state: 'running',
        currentVersion: '1.0.0-external',
        runtime: 'external',
        running: ['1.0.0-external external'],
      });
      const result = await traffic.stop();
      expect(result.failures).toEqual([]);
      expect(result.legacy).toBeGreaterThan(0);
      expect(result.managed).toBeGreaterThan(0);
    });

    it('stays external when the cut-over is rolled back after the switch', async () => {
      await installExternal('cutover-rollback');
      const traffic = load(server, 'cutover-rollback');
      const id = await update('cutover-rollback', {
        version: '1.1.0',
        deploymentStrategy: 'blue-green',
        deploymentConfig: { blueGreen: { scaleDownDelay: 60_000 } },
      });
      // Switched, the old instance still warm.
      for (let i = 0; i < 400; i++) {
        const d = await get(`/deployments/${id}`);
        if (d.traffic['1.1.0'] === 100) break;
        await new Promise(r => setTimeout(r, 50));
      }
      // ... and the callers reach the new instances.
      for (let i = 0; i < 200 && traffic.result.managed === 0; i++) {
        await new Promise(r => setTimeout(r, 50));
      }
      expect(
        (await post(`/deployments/${id}/rollback`, { reason: 'test' })).status,
      ).toBe(200);
      expect(await waitForDeployment(server, auth, id)).toMatchObject({
        phase: 'rolled-back',
        traffic: { '1.0.0-external': 100 },
      });
      expect(await serving('cutover-rollback')).toEqual({
        state: 'running',
        currentVersion: '1.0.0-external',
        runtime: 'external',
        running: ['1.0.0-external external'],
      });
      const result = await traffic.stop();
      expect(result.failures).toEqual([]);
      expect(result.managed).toBeGreaterThan(0);
    });
  },
);
