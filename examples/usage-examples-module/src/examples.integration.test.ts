import { ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  mockCredentials,
  mockServices,
  startTestBackend,
} from '@backstage/backend-test-utils';
// The test runs the real plugin-lifecycle backend beside this plugin.
// eslint-disable-next-line @backstage/no-mixed-plugin-imports
import pluginLifecyclePlugin from '@internal/plugin-lifecycle-backend';
import { PluginLifecycleService } from '@internal/plugin-lifecycle-node';
import { pluginLifecycleExamplesPlugin } from './plugin';
import { getPluginLifecycleOrchestrationSystem } from './orchestration';
import {
  basicPluginInstallation,
  dynamicConfigurationManagement,
  eventSystem,
  healthMonitoringSetup,
  metricsAndMonitoring,
  serviceDiscoveryIntegration,
  zeroDowntimeUpdate,
} from './examples';

jest.setTimeout(300_000);

const repoRoot = path.resolve(__dirname, '../../..');

/** Waits for `check` to hold, polling; fails with `what` after `timeoutMs`. */
async function eventually<T>(
  what: string,
  check: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs = 60_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting: ${what}`);
    await new Promise(r => setTimeout(r, 100));
  }
}

/**
 * Every usage example of the original design, as written, run by a backend
 * plugin of its own (`plugin-lifecycle-examples`, through
 * `pluginLifecycleServiceRef`: HTTP with its plugin token) against the real
 * plugin-lifecycle backend, with the sample HTTP service as `my-plugin`.
 * The examples build on each other, in the design's order; each test
 * checks what its example did.
 */
describe("the original design's usage examples", () => {
  let stopBackend: () => Promise<void>;
  let myPluginApi: ChildProcess | undefined;
  let orchestration: PluginLifecycleService;
  const logs: unknown[][] = [];
  const logged = (prefix: string) =>
    logs.find(
      args => typeof args[0] === 'string' && args[0].startsWith(prefix),
    );

  beforeAll(async () => {
    // What the examples print is how they say what they saw.
    jest.spyOn(console, 'log').mockImplementation((...args) => {
      logs.push(args);
    });
    const artifacts = fs.mkdtempSync(path.join(os.tmpdir(), 'pl-examples-'));
    fs.chmodSync(artifacts, 0o755);
    // eslint-disable-next-line @backstage/no-relative-monorepo-imports
    await require(path.join(repoRoot, 'examples/scripts/pack.js'))(artifacts);
    const backend = await startTestBackend({
      features: [
        pluginLifecyclePlugin,
        pluginLifecycleExamplesPlugin,
        mockServices.rootConfig.factory({
          data: {
            pluginLifecycle: {
              dataDir: fs.mkdtempSync(path.join(os.tmpdir(), 'pl-examples-')),
              shutdown: { stopInstances: true },
              // For withCredentials: users see their own tenant's plugins.
              tenancy: {
                enabled: true,
                tenants: {
                  default: { members: ['user:default/insider'] },
                  other: { members: ['user:default/outsider'] },
                },
              },
              // The configuration example stores a secret.
              configuration: {
                encryption: {
                  keys: [
                    {
                      id: 'examples',
                      secret: randomBytes(32).toString('base64'),
                    },
                  ],
                },
              },
              plugins: {
                'my-plugin': {
                  artifact: {
                    type: 'tarball',
                    path: path.join(
                      artifacts,
                      'sample-http-service-${version}.tgz',
                    ),
                  },
                },
              },
            },
          },
        }),
      ],
    });
    stopBackend = () => backend.stop();
    orchestration = getPluginLifecycleOrchestrationSystem();
  });

  afterAll(async () => {
    myPluginApi?.kill();
    await stopBackend?.();
    jest.restoreAllMocks();
  });

  it('Event System: listeners by the design names, over GET /events', async () => {
    expect(eventSystem()).toBe(orchestration);
    await orchestration.whenListening();
  });

  let installOperationId: string;

  it('Basic Plugin Installation: installs my-plugin 1.0.0 with its configuration and probe', async () => {
    const result = await basicPluginInstallation();
    installOperationId = result.operationId;
    const done = await orchestration.waitForOperation(result.operationId, {
      timeoutMs: 120_000,
    });
    expect(done).toMatchObject({ status: 'succeeded', type: 'install' });
    const plugin = await orchestration.getPlugin('my-plugin');
    expect(plugin).toMatchObject({
      state: 'installed',
      currentVersion: '1.0.0',
    });
    const configuration = await orchestration
      .getPluginConfigurationManager()
      .getPluginConfiguration('my-plugin', 'production');
    expect(configuration.entries).toContainEqual(
      expect.objectContaining({
        key: 'database.url',
        value: 'postgresql://localhost:5432/mydb',
      }),
    );
    // The design's listener heard it.
    await eventually('Operation completed logged', () =>
      logs.some(
        args =>
          args[0] === 'Operation completed:' && args[1] === installOperationId,
      ),
    );
    // Not in the example: a running plugin is what the update rolls.
    const started = await orchestration.startPlugin('my-plugin');
    expect(
      await orchestration.waitForOperation(started.operationId, {
        timeoutMs: 120_000,
      }),
    ).toMatchObject({ status: 'succeeded' });
    expect(await orchestration.getPlugin('my-plugin')).toMatchObject({
      state: 'running',
    });
  });

  it('Zero-Downtime Plugin Update: a canary deployment of 1.1.0', async () => {
    const deployment = await zeroDowntimeUpdate();
    expect(deployment.deploymentId).toEqual(expect.any(String));
    expect(
      logged(`Deployment ${deployment.deploymentId} started`),
    ).toBeTruthy();
    const rollout = await orchestration.getDeployment(deployment.deploymentId!);
    expect(rollout).toMatchObject({
      strategy: 'canary',
      toVersion: '1.1.0',
      environment: 'production',
    });
    // Steps of 5 minutes: the test promotes it to the end once it runs.
    await eventually('the canary progressing', async () =>
      ['progressing', 'paused'].includes(
        (
          await orchestration.getDeployment(deployment.deploymentId!)
        ).phase,
      ),
    );
    await orchestration.deploymentAction(deployment.deploymentId!, 'promote', {
      full: true,
    });
    await eventually(
      'the canary succeeded',
      async () =>
        (await orchestration.getDeployment(deployment.deploymentId!)).phase ===
        'succeeded',
      120_000,
    );
    expect(await orchestration.getPlugin('my-plugin')).toMatchObject({
      state: 'running',
      currentVersion: '1.1.0',
    });
    await eventually('Deployment completed logged', () =>
      logs.some(
        args =>
          args[0] === 'Deployment completed:' &&
          args[1] === deployment.deploymentId,
      ),
    );
  });

  it('Health Monitoring Setup: startup, readiness and liveness probes', async () => {
    await healthMonitoringSetup();
    const health = await orchestration
      .getPluginHealthMonitor()
      .getPluginHealth('my-plugin');
    expect(health.probes.map(p => [p.name, p.type, p.method])).toEqual([
      ['startup-check', 'startup', 'http'],
      ['readiness-check', 'readiness', 'http'],
      ['liveness-check', 'liveness', 'http'],
    ]);
  });

  it('Dynamic Configuration Management: a new version, and the watch hears the next', async () => {
    const unwatch = await dynamicConfigurationManagement();
    try {
      const manager = orchestration.getPluginConfigurationManager();
      const configuration = await manager.getPluginConfiguration(
        'my-plugin',
        'production',
      );
      expect(configuration.version).toBeGreaterThanOrEqual(2);
      expect(configuration.entries).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ key: 'feature.enabled', value: true }),
          expect.objectContaining({ key: 'api.key' }),
        ]),
      );
      // Not in the example: the next change, which the watch reports.
      await manager.setPluginConfiguration(
        'my-plugin',
        [{ key: 'feature.rollout', value: 50, type: 'number' }],
        { environment: 'production' },
      );
      const [, seen] = await eventually('Configuration updated logged', () =>
        logs.find(
          args =>
            args[0] === 'Configuration updated:' &&
            (args[1] as any).entries.some(
              (e: { key: string }) => e.key === 'feature.rollout',
            ),
        ),
      );
      expect(seen).toMatchObject({
        pluginId: 'my-plugin',
        environment: 'production',
      });
    } finally {
      unwatch();
    }
  });

  it('Event System: a failing probe is heard as healthMonitor:healthCheckFailed', async () => {
    // The sample answers /ready with 503 once told to; the design's
    // readiness-check (every 10 s, one failure) turns failing. Told again
    // each round: a configuration change may have replaced the instance.
    const poke = async (live: object) => {
      const plugin = await orchestration.getPlugin('my-plugin');
      for (const i of plugin.instances.filter(x => x.status === 'running')) {
        await fetch(`http://${i.host}:${i.port}/-/reload`, {
          method: 'POST',
          body: JSON.stringify(live),
        }).catch(() => undefined);
      }
    };
    await eventually(
      'Health check failed logged',
      async () => {
        await poke({ 'sample.failReadiness': true });
        return logs.some(
          args =>
            args[0] === 'Health check failed for:' && args[1] === 'my-plugin',
        );
      },
      90_000,
    );
    await poke({});
    expect(logged('Health check failed for:')).toEqual([
      'Health check failed for:',
      'my-plugin',
    ]);
  });

  it('Service Discovery Integration: registers my-plugin-api and the balancer answers it', async () => {
    // The example's service listens on localhost:8080: the sample service.
    // The backend's design-examples test serves 8080 for a moment too and
    // may run at the same time: start (again) until ours holds the port.
    await eventually(
      'the sample service on 8080',
      async () => {
        if (!myPluginApi || myPluginApi.exitCode !== null) {
          myPluginApi = spawn(
            process.execPath,
            [path.join(repoRoot, 'examples/sample-http-service/server.js')],
            { env: { ...process.env, PORT: '8080' }, stdio: 'ignore' },
          );
        }
        try {
          const res = await fetch('http://127.0.0.1:8080/');
          const body = (await res.json()) as { pid?: number };
          return res.ok && body.pid === myPluginApi.pid;
        } catch {
          return false;
        }
      },
      150_000,
    );
    const service = await serviceDiscoveryIntegration();
    expect(service).toMatchObject({
      serviceId: 'my-plugin-api-1',
      serviceName: 'my-plugin-api',
      pluginId: 'my-plugin',
      port: 8080,
      strategy: 'health-weighted',
    });
    const listed = await orchestration
      .getPluginServiceDiscovery()
      .listServices({ name: 'my-plugin-api' });
    expect(listed.map(s => s.serviceId)).toEqual(['my-plugin-api-1']);
  });

  it('withCredentials: calls and events on behalf of a user, within their tenants', async () => {
    const insider = orchestration.withCredentials(
      mockCredentials.user('user:default/insider'),
    );
    const outsider = orchestration.withCredentials(
      mockCredentials.user('user:default/outsider'),
    );
    // Another tenant's plugin does not exist for the outsider.
    await expect(outsider.getPlugin('my-plugin')).rejects.toMatchObject({
      response: { status: 404 },
    });
    const heard = { insider: [] as any[], outsider: [] as any[] };
    const listeners = {
      insider: (e: any) => heard.insider.push(e),
      outsider: (e: any) => heard.outsider.push(e),
    };
    insider.on('systemEvent', listeners.insider);
    outsider.on('systemEvent', listeners.outsider);
    try {
      await Promise.all([insider.whenListening(), outsider.whenListening()]);
      const { operationId } = await insider.restartPlugin('my-plugin');
      expect(
        await insider.waitForOperation(operationId, { timeoutMs: 120_000 }),
      ).toMatchObject({ status: 'succeeded', actor: 'user:default/insider' });
      await eventually('the insider heard the restart', () =>
        heard.insider.some(
          e =>
            e.component === 'orchestrator' &&
            e.event === 'operationCompleted' &&
            e.args[0].operationId === operationId,
        ),
      );
      expect(heard.outsider).toEqual([]);
    } finally {
      insider.off('systemEvent', listeners.insider);
      outsider.off('systemEvent', listeners.outsider);
    }
  });

  it('Metrics and Monitoring: the design fields are there', async () => {
    const metrics = await metricsAndMonitoring();
    const [, printed] = logged('System Health:')!;
    expect(printed).toEqual({
      healthyPlugins: expect.any(Number),
      activeDeployments: expect.any(Number),
      successRate: expect.any(Number),
      averageResponseTime: expect.any(Number),
    });
    // The canary above is the one deployment, and it succeeded.
    expect(metrics.deployment).toMatchObject({
      activeDeployments: 0,
      completedDeployments: 1,
      successRate: 100,
    });
    expect(metrics.plugins.total).toBe(1);
  });

  it('systemEvent heard every component', () => {
    const components = new Set(
      logs
        .map(args => /^\[(\w+)\] \w+:$/.exec(String(args[0]))?.[1])
        .filter(Boolean),
    );
    expect([...components]).toEqual(
      expect.arrayContaining([
        'orchestrator',
        'stateMachine',
        'configurationManager',
        'healthMonitor',
        'serviceDiscovery',
        'deploymentManager',
      ]),
    );
  });
});
