import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createBackendModule } from '@backstage/backend-plugin-api';
import { mockCredentials, mockServices } from '@backstage/backend-test-utils';
import { pluginLifecycleDeploymentAnalysisExtensionPoint } from '@internal/plugin-lifecycle-node';
import { Deployment, PluginInstance } from '@internal/plugin-lifecycle-common';
import { Knex } from 'knex';
import request from 'supertest';
import {
  startLifecycleBackend,
  waitForDeployment,
  waitForOperation,
} from './__testUtils__/testBackend';
import { createTestDatabases } from './__testUtils__/databases';

jest.setTimeout(240_000);

const auth = mockCredentials.user.header();
const api = (path: string) => `/api/plugin-lifecycle${path}`;

/** Every strategy, each on its own plugin of the sample service. */
const PLUGINS = [
  'dep-rolling',
  'dep-recreate',
  'dep-canary',
  'dep-bluegreen',
  'dep-ab',
  'dep-broken-canary',
  'dep-broken-bluegreen',
  'dep-broken-rolling',
  'dep-bad-canary',
  'dep-quiet-canary',
  'dep-gated',
  'dep-rejected',
  'dep-timeout-approve',
  'dep-timeout-reject',
  'dep-timeout-wait',
  'dep-train-a',
  'dep-train-b',
  'dep-provider',
  'dep-ab-header',
  'dep-promote',
  'dep-quiet-approve',
  'dep-bad-input',
];

/** A module that adds an analysis provider, as an adopter's would (say, a Prometheus query). */
const analysisModule = createBackendModule({
  pluginId: 'plugin-lifecycle',
  moduleId: 'test-analysis',
  register(env) {
    env.registerInit({
      deps: { analysis: pluginLifecycleDeploymentAnalysisExtensionPoint },
      async init({ analysis }) {
        analysis.addAnalysisProvider({
          name: 'latency-budget',
          async evaluate({ deployment, params }) {
            return params.verdict === 'fail'
              ? {
                  verdict: 'fail',
                  message: `${deployment.toVersion} spends its latency budget`,
                }
              : { verdict: 'pass' };
          },
        });
      },
    });
  },
});

/** Fast windows, and a handful of requests as enough evidence. */
const FAST_ANALYSIS = { minRequests: 5, maxExtensions: 1 };

/**
 * Sends requests through the backend's proxy to a plugin until stopped,
 * a few at a time; counts what failed (a status of 502-504 or no answer:
 * the proxy could not serve it) and what each version answered.
 */
function load(server: Server, pluginId: string, concurrency = 2) {
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}${api(`/proxy/${pluginId}/`)}`;
  const result = {
    sent: 0,
    failed: 0,
    status5xx: 0,
    versions: {} as Record<string, number>,
  };
  let running = true;
  const worker = async () => {
    while (running) {
      result.sent++;
      try {
        const res = await fetch(url, {
          headers: { Authorization: auth },
          signal: AbortSignal.timeout(10_000),
        });
        const body = (await res.json().catch(() => ({}))) as {
          version?: string;
        };
        if (res.status >= 502) result.failed++;
        else if (res.status >= 500) result.status5xx++;
        if (body.version) {
          result.versions[body.version] =
            (result.versions[body.version] ?? 0) + 1;
        }
      } catch {
        result.failed++;
      }
      await new Promise(r => setTimeout(r, 5));
    }
  };
  const workers = Array.from({ length: concurrency }, worker);
  return {
    result,
    stop: async () => {
      running = false;
      await Promise.all(workers);
      return result;
    },
  };
}

// At the top: its own afterAll (which closes the databases) runs after the
// describe's, which stops the backend that uses them.
const databases = createTestDatabases();

describe.each(databases.eachSupportedId())(
  'deployments with the real sample plugin on %p',
  databaseId => {
    let server: Server;
    let stop: () => Promise<void>;
    let knex: Knex;

    const get = async (path: string) =>
      (await request(server).get(api(path)).set('Authorization', auth)).body;
    const post = (path: string, body: object) =>
      request(server).post(api(path)).set('Authorization', auth).send(body);

    async function installRunning(pluginId: string, replicas = 2) {
      const res = await post(`/plugins/${pluginId}/install`, {
        version: '1.0.0',
        replicas,
        start: true,
      });
      expect(res.status).toBe(202);
      expect(
        await waitForOperation(server, auth, res.body.operationId, 60_000),
      ).toMatchObject({ status: 'succeeded' });
    }

    async function update(pluginId: string, body: object) {
      const res = await post(`/plugins/${pluginId}/update`, body);
      expect(res.status).toBe(202);
      expect(res.body).toMatchObject({
        operationId: expect.any(String),
        deploymentId: expect.any(String),
      });
      const op = await waitForOperation(server, auth, res.body.operationId);
      expect(op).toMatchObject({ status: 'succeeded' });
      return res.body.deploymentId as string;
    }

    async function running(pluginId: string): Promise<PluginInstance[]> {
      return (await get(`/plugins/${pluginId}`)).instances.filter(
        (i: PluginInstance) => i.status === 'running',
      );
    }

    async function expectServing(pluginId: string, version: string) {
      const count = PLUGINS.indexOf(pluginId) < 9 ? 2 : 1;
      const plugin = await get(`/plugins/${pluginId}`);
      expect(plugin).toMatchObject({
        state: 'running',
        currentVersion: version,
      });
      const instances = await running(pluginId);
      expect(instances.map(i => i.version)).toEqual(Array(count).fill(version));
      for (const instance of instances) {
        expect(instance.track).toBe('stable');
        const res = await fetch(`http://${instance.host}:${instance.port}/`);
        expect(((await res.json()) as { version: string }).version).toBe(
          version,
        );
      }
    }

    beforeAll(async () => {
      knex = await databases.init(databaseId);
      const backend = await startLifecycleBackend({
        pluginId: PLUGINS[0],
        config: {
          orchestrator: { pollInterval: 20 },
          deployments: { tickInterval: 50 },
          runtime: {
            process: { readyTimeout: 3000, stopGracePeriod: 2000 },
          },
        },
        extraPluginIds: PLUGINS.slice(1),
        features: [mockServices.database.factory({ knex }), analysisModule],
      });
      server = backend.server;
      stop = backend.stop;
      // Two instances where the strategy shows in them, one elsewhere.
      await Promise.all(
        PLUGINS.map((id, n) => installRunning(id, n < 9 ? 2 : 1)),
      );
    });

    afterAll(async () => {
      await stop?.();
      await knex?.destroy();
    });

    it('rolls 1.0.0 -> 1.1.0 under each strategy with no failed request', async () => {
      const strategies: Array<[string, object]> = [
        ['dep-rolling', { deploymentStrategy: 'rolling' }],
        ['dep-recreate', { deploymentStrategy: 'RECREATE' }],
        [
          'dep-canary',
          {
            deploymentStrategy: 'CANARY',
            deploymentConfig: {
              canary: {
                trafficIncrement: 50,
                incrementInterval: 1500,
                successThreshold: 99,
                errorThreshold: 1,
                autoPromote: true,
                analysis: FAST_ANALYSIS,
              },
            },
          },
        ],
        [
          'dep-bluegreen',
          {
            deploymentStrategy: 'blue-green',
            deploymentConfig: {
              blueGreen: {
                smokeTest: { path: '/ready' },
                scaleDownDelay: 500,
              },
            },
          },
        ],
        [
          'dep-ab',
          {
            deploymentStrategy: 'A_B_TESTING',
            deploymentConfig: {
              abTesting: {
                percentage: 50,
                duration: 1500,
                // B gets the capacity A has: a side with half the
                // instances would be slower under a loaded machine.
                variantReplicas: 2,
                analysis: FAST_ANALYSIS,
              },
            },
          },
        ],
      ];
      await Promise.all(
        strategies.map(async ([pluginId, body]) => {
          const traffic = load(server, pluginId);
          const id = await update(pluginId, { version: '1.1.0', ...body });
          const deployment = await waitForDeployment(server, auth, id, {
            timeoutMs: 90_000,
          });
          const seen = await traffic.stop();
          expect(
            `${pluginId}: ${deployment.phase} (${deployment.message})`,
          ).toMatch(new RegExp(`^${pluginId}: succeeded`));
          expect(deployment.steps.every(s => s.status === 'succeeded')).toBe(
            true,
          );
          expect(deployment.traffic).toEqual({ '1.1.0': 100 });
          await expectServing(pluginId, '1.1.0');
          // Blue-green's first step started the whole new set: it ended
          // once they were up, not when it began to start them.
          const [first] = deployment.steps;
          const latest = (await running(pluginId))
            .map(i => i.startedAt)
            .sort()
            .at(-1)!;
          expect({
            pluginId,
            firstStepEndedAfterItsInstances:
              pluginId !== 'dep-bluegreen' ||
              (first.kind === 'scale' &&
                Date.parse(first.finishedAt!) >= Date.parse(latest)),
          }).toEqual({ pluginId, firstStepEndedAfterItsInstances: true });
          // Recreate stops everything first: requests fail meanwhile, by design.
          const downtimeAllowed = pluginId === 'dep-recreate';
          expect({
            pluginId,
            failed: downtimeAllowed ? 0 : seen.failed,
          }).toEqual({
            pluginId,
            failed: 0,
          });
          expect(seen.sent).toBeGreaterThan(0);
          // Canary and A/B: both versions served during the rollout (the
          // split was real) and every analysis passed on real evidence.
          const split = pluginId === 'dep-canary' || pluginId === 'dep-ab';
          const versionsSeen = Object.keys(seen.versions).sort();
          expect({ pluginId, versionsSeen }).toEqual({
            pluginId,
            versionsSeen: split ? ['1.0.0', '1.1.0'] : versionsSeen,
          });
          expect(deployment.analysis.every(a => a.verdict === 'pass')).toBe(
            true,
          );
          expect(deployment.analysis.length > 0).toBe(split);
          for (const run of deployment.analysis) {
            expect(run.evidence[0].version).toBe('1.1.0');
            expect(run.evidence[0].requests).toBeGreaterThanOrEqual(5);
          }
        }),
      );
    });

    it('rolls back a 2.0.0 that never gets ready under canary, blue-green and rolling', async () => {
      const cases: Array<[string, object]> = [
        [
          'dep-broken-canary',
          {
            deploymentStrategy: 'canary',
            deploymentConfig: {
              canary: { trafficIncrement: 50, incrementInterval: 1000 },
            },
          },
        ],
        ['dep-broken-bluegreen', { deploymentStrategy: 'blue-green' }],
        ['dep-broken-rolling', { deploymentStrategy: 'rolling' }],
      ];
      await Promise.all(
        cases.map(async ([pluginId, body]) => {
          const before = (await running(pluginId)).map(i => i.id).sort();
          const traffic = load(server, pluginId);
          const id = await update(pluginId, { version: '2.0.0', ...body });
          const deployment = await waitForDeployment(server, auth, id);
          const seen = await traffic.stop();
          expect(deployment).toMatchObject({
            phase: 'rolled-back',
            message: expect.stringMatching(/did not become ready/),
            traffic: { '1.0.0': 100 },
          });
          expect(seen.failed).toBe(0);
          const plugin = await get(`/plugins/${pluginId}`);
          expect(plugin).toMatchObject({
            state: 'running',
            currentVersion: '1.0.0',
            lastError: expect.stringMatching(/rolled-back/),
          });
          // The old instances never stopped.
          expect((await running(pluginId)).map(i => i.id).sort()).toEqual(
            before,
          );
          expect(
            plugin.versions.map((v: { version: string }) => v.version),
          ).not.toContain('2.0.0');
        }),
      );
    });

    it('rolls back a 2.1.0 whose requests fail, when the canary analysis sees it', async () => {
      const pluginId = 'dep-bad-canary';
      const traffic = load(server, pluginId);
      const id = await update(pluginId, {
        version: '2.1.0',
        deploymentStrategy: 'canary',
        deploymentConfig: {
          canary: {
            trafficIncrement: 20,
            incrementInterval: 3000,
            analysis: FAST_ANALYSIS,
          },
        },
      });
      const deployment = await waitForDeployment(server, auth, id);
      const seen = await traffic.stop();
      expect(deployment).toMatchObject({
        phase: 'rolled-back',
        message: expect.stringMatching(/analysis failed: .*error rate/i),
        traffic: { '1.0.0': 100 },
      });
      const failedRun = deployment.analysis.find(a => a.verdict === 'fail')!;
      expect(failedRun.evidence[0]).toMatchObject({ version: '2.1.0' });
      expect(failedRun.evidence[0].requests).toBeGreaterThanOrEqual(5);
      // Only the canary's share saw the bad release.
      expect(seen.status5xx).toBeGreaterThan(0);
      expect(seen.status5xx).toBeLessThan(seen.sent * 0.5);
      await expectServing(pluginId, '1.0.0');
    });

    it('never passes a canary window with too little traffic: it extends, then fails', async () => {
      const pluginId = 'dep-quiet-canary';
      const id = await update(pluginId, {
        version: '1.1.0',
        deploymentStrategy: 'canary',
        deploymentConfig: {
          canary: {
            trafficIncrement: 50,
            incrementInterval: 500,
            analysis: { minRequests: 50, maxExtensions: 2 },
          },
        },
      });
      const deployment = await waitForDeployment(server, auth, id);
      expect(deployment).toMatchObject({
        phase: 'rolled-back',
        message: expect.stringMatching(
          /insufficient evidence after 2 extension/,
        ),
      });
      expect(deployment.analysis[0]).toMatchObject({
        verdict: 'insufficient-data',
        extensions: 2,
        minRequests: 50,
      });
      await expectServing(pluginId, '1.0.0');
    });

    it('waits at an approval gate, records who approved, and goes on', async () => {
      const pluginId = 'dep-gated';
      const id = await update(pluginId, {
        version: '1.1.0',
        deploymentConfig: { approvals: { beforeStart: {} } },
      });
      const waiting = await waitForDeployment(server, auth, id, {
        phases: ['awaiting-approval'],
      });
      expect(waiting.approvals).toEqual([
        expect.objectContaining({
          gate: 'start',
          requestedAt: expect.any(String),
        }),
      ]);
      // The plugin's operation slot is free while it waits.
      const res = await post(`/deployments/${id}/approve`, {
        reason: 'looks good',
      });
      expect(res.status).toBe(200);
      const done = await waitForDeployment(server, auth, id);
      expect(
        `${done.phase}: ${done.message} ${JSON.stringify(done.steps)}`,
      ).toMatch(/^succeeded/);
      expect(done.approvals[0]).toMatchObject({
        decision: 'approved',
        decidedBy: expect.stringContaining('user:'),
        reason: 'looks good',
      });
      await expectServing(pluginId, '1.1.0');
    });

    it('rolls back when an approver rejects', async () => {
      const pluginId = 'dep-rejected';
      const id = await update(pluginId, {
        version: '1.1.0',
        deploymentStrategy: 'blue-green',
        deploymentConfig: { blueGreen: { requireApproval: true } },
      });
      await waitForDeployment(server, auth, id, {
        phases: ['awaiting-approval'],
      });
      const res = await post(`/deployments/${id}/reject`, {
        reason: 'not today',
      });
      expect(res.status).toBe(200);
      const done = await waitForDeployment(server, auth, id);
      expect(done.phase).toBe('rolled-back');
      expect(done.approvals[0]).toMatchObject({
        decision: 'rejected',
        reason: 'not today',
      });
      await expectServing(pluginId, '1.0.0');
    });

    it('decides a timed-out approval by the gate default: approve, reject, or keep waiting', async () => {
      const gate = (onTimeout: string) => ({
        version: '1.1.0',
        deploymentConfig: {
          approvals: { beforeStart: { timeoutMs: 300, onTimeout } },
        },
      });
      const [approve, reject, wait] = await Promise.all([
        update('dep-timeout-approve', gate('approve')),
        update('dep-timeout-reject', gate('reject')),
        update('dep-timeout-wait', gate('wait')),
      ]);
      expect(await waitForDeployment(server, auth, approve)).toMatchObject({
        phase: 'succeeded',
        approvals: [
          expect.objectContaining({
            decision: 'approved',
            decidedBy: 'timeout',
          }),
        ],
      });
      expect(await waitForDeployment(server, auth, reject)).toMatchObject({
        phase: 'rolled-back',
        approvals: [
          expect.objectContaining({
            decision: 'rejected',
            decidedBy: 'timeout',
          }),
        ],
      });
      // 'wait' has no forced timeout: still waiting well after it.
      await new Promise(r => setTimeout(r, 1500));
      const waiting: Deployment = await get(`/deployments/${wait}`);
      expect(waiting.phase).toBe('awaiting-approval');
      expect(waiting.approvals[0].decision).toBeUndefined();
      expect((await post(`/deployments/${wait}/abort`, {})).status).toBe(200);
      expect(await waitForDeployment(server, auth, wait)).toMatchObject({
        phase: 'aborted',
      });
      await expectServing('dep-timeout-wait', '1.0.0');
    });

    it('rolls a release train out in order and rolls back what it promoted when a later one fails', async () => {
      const res = await post('/operations/batch', {
        updates: [
          { pluginId: 'dep-train-a', version: '1.1.0' },
          {
            pluginId: 'dep-train-b',
            version: '2.0.0',
            deploymentStrategy: 'canary',
          },
        ],
      });
      expect(res.status).toBe(202);
      const [a, b] = res.body.deployments as Array<{
        pluginId: string;
        deploymentId: string;
      }>;
      expect([a.pluginId, b.pluginId]).toEqual(['dep-train-a', 'dep-train-b']);
      // Only the first runs at once; the second waits for it.
      expect(res.body.operations).toHaveLength(1);
      expect((await get(`/deployments/${b.deploymentId}`)).phase).toBe(
        'pending',
      );
      const first = await waitForDeployment(server, auth, a.deploymentId);
      expect(first.phase).toBe('succeeded');
      const second = await waitForDeployment(server, auth, b.deploymentId);
      expect(second).toMatchObject({ phase: 'rolled-back' });
      expect(Date.parse(second.createdAt)).toBeLessThanOrEqual(
        Date.parse(first.finishedAt!),
      );
      // The train's failure rolls back what it already promoted.
      for (let i = 0; i < 600; i++) {
        const plugin = await get('/plugins/dep-train-a');
        if (plugin.state === 'running' && plugin.currentVersion === '1.0.0')
          break;
        await new Promise(r => setTimeout(r, 100));
      }
      await expectServing('dep-train-a', '1.0.0');
      await expectServing('dep-train-b', '1.0.0');
    });

    it('fails an analysis window by the verdict of a provider a module added', async () => {
      const pluginId = 'dep-provider';
      const traffic = load(server, pluginId);
      const id = await update(pluginId, {
        version: '1.1.0',
        deploymentStrategy: 'canary',
        deploymentConfig: {
          canary: {
            trafficIncrement: 50,
            incrementInterval: 1000,
            analysis: {
              ...FAST_ANALYSIS,
              providers: [
                { name: 'latency-budget', params: { verdict: 'fail' } },
              ],
            },
          },
        },
      });
      const deployment = await waitForDeployment(server, auth, id);
      await traffic.stop();
      expect(deployment.phase).toBe('rolled-back');
      expect(deployment.message).toMatch(
        /latency-budget.*1\.1\.0 spends its latency budget/,
      );
      expect(deployment.analysis[0].providers).toEqual([
        {
          name: 'latency-budget',
          verdict: 'fail',
          message: '1.1.0 spends its latency budget',
        },
      ]);
      await expectServing(pluginId, '1.0.0');
    });

    it('routes an A/B test by header and lets a person declare the winner', async () => {
      const pluginId = 'dep-ab-header';
      const id = await update(pluginId, {
        version: '1.1.0',
        deploymentStrategy: 'a-b-testing',
        deploymentConfig: {
          abTesting: {
            match: { header: { name: 'x-variant', value: 'b' } },
            duration: 500,
            winner: 'manual',
          },
        },
      });
      const waiting = await waitForDeployment(server, auth, id, {
        phases: ['paused'],
      });
      expect(waiting.message).toMatch(/declare the winner/);
      const { port } = server.address() as AddressInfo;
      const ask = async (headers: Record<string, string>) => {
        const res = await fetch(
          `http://127.0.0.1:${port}${api(`/proxy/${pluginId}/`)}`,
          {
            headers: { Authorization: auth, ...headers },
          },
        );
        return ((await res.json()) as { version: string }).version;
      };
      for (let i = 0; i < 5; i++) {
        expect(await ask({ 'x-variant': 'b' })).toBe('1.1.0');
        expect(await ask({})).toBe('1.0.0');
      }
      const res = await post(`/deployments/${id}/promote`, { winner: '1.1.0' });
      expect(res.status).toBe(200);
      const done = await waitForDeployment(server, auth, id);
      expect({ phase: done.phase, winner: done.winner }).toEqual({
        phase: 'succeeded',
        winner: '1.1.0',
      });
      await expectServing(pluginId, '1.1.0');
    });

    it('pauses, resumes and promotes a canary on request', async () => {
      const pluginId = 'dep-promote';
      const id = await update(pluginId, {
        version: '1.1.0',
        deploymentStrategy: 'canary',
        deploymentConfig: {
          canary: {
            steps: [
              { setWeight: 10 },
              { pause: {} },
              { setWeight: 50 },
              { pause: {} },
              { setWeight: 100 },
            ],
          },
        },
      });
      const paused = await waitForDeployment(server, auth, id, {
        phases: ['paused'],
      });
      expect(paused.traffic).toEqual({ '1.0.0': 90, '1.1.0': 10 });
      // A paused canary holds no operation slot: the plugin answers other reads and the queue is free.
      const ops = await get(`/plugins/${pluginId}`);
      expect(ops.state).toBe('updating');
      expect((await post(`/deployments/${id}/resume`, {})).status).toBe(409);
      expect((await post(`/deployments/${id}/promote`, {})).status).toBe(200);
      const second = await waitForDeployment(server, auth, id, {
        phases: ['paused'],
      });
      expect(second.traffic).toEqual({ '1.0.0': 50, '1.1.0': 50 });
      expect(
        (await post(`/deployments/${id}/promote`, { full: true })).status,
      ).toBe(200);
      const done = await waitForDeployment(server, auth, id);
      expect(done.phase).toBe('succeeded');
      await expectServing(pluginId, '1.1.0');
    });

    it('waits for a person after too little traffic when configured so, and goes on when approved', async () => {
      const pluginId = 'dep-quiet-approve';
      const id = await update(pluginId, {
        version: '1.1.0',
        deploymentStrategy: 'canary',
        deploymentConfig: {
          canary: {
            trafficIncrement: 50,
            incrementInterval: 300,
            analysis: {
              minRequests: 50,
              maxExtensions: 1,
              onInsufficientData: 'wait-for-approval',
            },
          },
        },
      });
      const waiting = await waitForDeployment(server, auth, id, {
        phases: ['awaiting-approval'],
      });
      expect(waiting.message).toMatch(/insufficient evidence/);
      expect(waiting.analysis[0].verdict).toBe('insufficient-data');
      expect(waiting.approvals).toEqual([
        expect.objectContaining({ gate: 'insufficient-data' }),
      ]);
      expect(
        (await post(`/deployments/${id}/approve`, { reason: 'quiet hours' }))
          .status,
      ).toBe(200);
      const done = await waitForDeployment(server, auth, id);
      expect(done.phase).toBe('succeeded');
      await expectServing(pluginId, '1.1.0');
    });

    it('refuses bad input with a clear 4xx and queues nothing', async () => {
      const pluginId = 'dep-bad-input';
      const cases: Array<[object, number, RegExp]> = [
        [
          { version: '1.1.0', deploymentStrategy: 'shadow' },
          400,
          /deploymentStrategy/,
        ],
        [
          {
            version: '1.1.0',
            deploymentStrategy: 'canary',
            deploymentConfig: { canary: { trafficIncrement: 0 } },
          },
          400,
          /trafficIncrement/,
        ],
        [
          {
            version: '1.1.0',
            deploymentStrategy: 'canary',
            deploymentConfig: {
              canary: { steps: [{ setWeight: 20 }, { pause: {} }] },
            },
          },
          400,
          /never reaches weight 100/,
        ],
        [
          {
            version: '1.1.0',
            deploymentConfig: { rolling: { maxSurge: 0, maxUnavailable: 0 } },
          },
          400,
          /maxSurge and maxUnavailable/,
        ],
        [
          { version: '1.1.0', deploymentStrategy: 'a-b-testing' },
          400,
          /abTesting/,
        ],
        [{ version: '1.0.0' }, 409, /already runs 1\.0\.0/],
        [
          { version: '1.1.0', environment: 'elsewhere' },
          400,
          /environment: .* cannot move it to 'elsewhere'/,
        ],
      ];
      const before = (await get(`/plugins/${pluginId}/deployments`)).items
        .length;
      for (const [body, status, message] of cases) {
        const res = await post(`/plugins/${pluginId}/update`, body);
        expect({ body, status: res.status }).toEqual({ body, status });
        expect(res.body.error.message).toMatch(message);
      }
      expect((await get(`/plugins/${pluginId}/deployments`)).items.length).toBe(
        before,
      );
      // A finished deployment cannot be promoted.
      const last = await waitForDeployment(
        server,
        auth,
        await update(pluginId, { version: '1.1.0' }),
      );
      expect(last.phase).toBe('succeeded');
      const promote = await post(`/deployments/${last.id}/promote`, {});
      expect(promote.status).toBe(409);
      expect(promote.body.error.message).toMatch(/succeeded/);
    });
  },
);
