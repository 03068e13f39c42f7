import http from 'node:http';
import { mockCredentials } from '@backstage/backend-test-utils';
import {
  PluginVersionMetrics,
  VersionMetricsSeries,
} from '@internal/plugin-lifecycle-common';
import request from 'supertest';
import {
  startLifecycleBackend,
  updateAndWait,
  waitForOperation,
} from './__testUtils__/testBackend';

jest.setTimeout(180_000);

const PLUGIN = 'sample-http-service';
const SAMPLE_INTERVAL_MS = 200;

/**
 * GET /plugins/{id}/metrics/versions in a real backend (startTestBackend,
 * SQLite, the sample service as child processes): requests through the
 * proxy to 1.0.0, then to the bad 2.1.0 (every request but the probes gets
 * a 500), show up as two series with their rates, errors and latency.
 */
describe('the per-version metrics history', () => {
  let server: http.Server;
  let stop: () => Promise<void>;
  const auth = mockCredentials.user.header('user:default/alice');
  const api = (path: string) => `/api/plugin-lifecycle${path}`;
  const get = (path: string) =>
    request(server).get(api(path)).set('Authorization', auth);

  beforeAll(async () => {
    ({ server, stop } = await startLifecycleBackend({
      pluginId: PLUGIN,
      config: {
        orchestrator: { pollInterval: 20 },
        deployments: { tickInterval: 50 },
        runtime: { process: { readyTimeout: 10_000, stopGracePeriod: 2_000 } },
        discovery: { pollInterval: 200 },
        metrics: {
          versionHistory: {
            sampleInterval: SAMPLE_INTERVAL_MS,
            retention: 60_000,
          },
        },
      },
    }));
  });

  afterAll(async () => {
    await stop?.();
  });

  async function act(action: string, body: object = {}) {
    const res = await request(server)
      .post(api(`/plugins/${PLUGIN}/${action}`))
      .set('Authorization', auth)
      .send(body);
    expect(res.status).toBe(202);
    return waitForOperation(server, auth, res.body.operationId);
  }

  /** Sends requests through the proxy until `count` got `status`. */
  async function proxied(count: number, status: number) {
    let got = 0;
    for (let i = 0; got < count && i < count * 20; i++) {
      const res = await get(`/proxy/${PLUGIN}/`);
      if (res.status === status) got++;
      else await new Promise(r => setTimeout(r, 100));
    }
    expect(got).toBe(count);
  }

  /** The series once the sampler has taken what was sent. */
  async function seriesOnceSampled(
    expected: Record<string, number>,
  ): Promise<Record<string, VersionMetricsSeries>> {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const res = await get(`/plugins/${PLUGIN}/metrics/versions`);
      expect(res.status).toBe(200);
      const body = res.body as PluginVersionMetrics;
      const byVersion = Object.fromEntries(
        body.versions.map(s => [s.version ?? '', s]),
      );
      const total = (v: string) =>
        byVersion[v]?.points.reduce((n, p) => n + p.requests, 0) ?? 0;
      if (Object.entries(expected).every(([v, n]) => total(v) === n)) {
        return byVersion;
      }
      if (Date.now() > deadline) {
        throw new Error(`not sampled: ${JSON.stringify(body.versions)}`);
      }
      await new Promise(r => setTimeout(r, SAMPLE_INTERVAL_MS));
    }
  }

  it('answers 404 for a plugin that was never installed, 400 for a bad query', async () => {
    const missing = await get('/plugins/nothing-here/metrics/versions');
    expect(missing.status).toBe(404);
    expect(missing.body.error.name).toBe('NotFoundError');
    const bad = await get(
      `/plugins/${PLUGIN}/metrics/versions?since=yesterday`,
    );
    expect(bad.status).toBe(400);
    expect(bad.body.error.name).toBe('InputError');
  });

  it('keeps request rate, errors and latency per version of what the proxy served', async () => {
    expect(await act('install', { version: '1.0.0' })).toMatchObject({
      status: 'succeeded',
    });
    // Installed, no traffic yet: no series.
    const empty = await get(`/plugins/${PLUGIN}/metrics/versions`);
    expect(empty.body).toMatchObject({
      pluginId: PLUGIN,
      sampleIntervalMs: SAMPLE_INTERVAL_MS,
      retentionMs: 60_000,
      versions: [],
    });
    expect(await act('start')).toMatchObject({ status: 'succeeded' });

    await proxied(12, 200);
    const first = await seriesOnceSampled({ '1.0.0': 12 });
    const points = first['1.0.0'].points;
    expect(points.every(p => p.errors === 0 && p.errorRate === 0)).toBe(true);
    const busy = points.filter(p => p.requests > 0);
    expect(busy.length).toBeGreaterThan(0);
    for (const p of busy) {
      expect(p.requestRate).toBeCloseTo(p.requests / (p.intervalMs / 1000));
      expect(p.latencyMeanMs).toBeGreaterThan(0);
      expect(p.latencyP99Ms).toBeGreaterThanOrEqual(p.latencyP50Ms!);
    }
    // Oldest first, one sample interval apart (give or take the timer).
    const times = points.map(p => Date.parse(p.at));
    expect([...times].sort((a, b) => a - b)).toEqual(times);

    const { deployment } = await updateAndWait(server, auth, PLUGIN, {
      version: '2.1.0',
      deploymentStrategy: 'recreate',
    });
    expect(deployment?.phase).toBe('succeeded');
    // Fewer than the consecutive failures that eject an instance.
    await proxied(3, 500);
    const both = await seriesOnceSampled({ '1.0.0': 12, '2.1.0': 3 });
    expect(Object.keys(both)).toEqual(['1.0.0', '2.1.0']);
    const bad = both['2.1.0'].points.filter(p => p.requests > 0);
    expect(bad.reduce((n, p) => n + p.errors, 0)).toBe(3);
    expect(bad.every(p => p.errorRate === 1)).toBe(true);

    // `since` answers only what came after.
    const last = both['2.1.0'].points.at(-1)!.at;
    const after = await get(
      `/plugins/${PLUGIN}/metrics/versions?since=${encodeURIComponent(last)}`,
    );
    expect(after.status).toBe(200);
    for (const s of (after.body as PluginVersionMetrics).versions) {
      expect(s.points.every(p => p.at > last)).toBe(true);
    }
  });
});
