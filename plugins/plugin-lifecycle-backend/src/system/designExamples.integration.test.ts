import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { mockServices } from '@backstage/backend-test-utils';
import {
  DeploymentStrategy,
  LoadBalancingStrategy,
  ProbeMethod,
  ProbeType,
} from '@internal/plugin-lifecycle-common';
import { createTestDatabases } from '../__testUtils__/databases';
import { waitForSystemDeployment } from '../__testUtils__/deploymentSystem';
import {
  makeTempDir,
  packSampleArtifacts,
} from '../__testUtils__/sampleArtifacts';
import { execProbePolicyOf, readPluginLifecycleConfig } from '../config';
import { applyDatabaseMigrations } from '../database/migrations';
import { ProxyMetrics } from '../engines/discovery/ProxyMetrics';
import { ServiceDiscovery } from '../engines/discovery/ServiceDiscovery';
import { TargetPolicy } from '../engines/discovery/TargetPolicy';
import { HealthCheckFailure } from '../events/eventMap';
import { SystemEvents } from '../events/SystemEvents';
import { ProberRegistry } from '../engines/health/probers/ProberRegistry';
import { ProcessRuntime } from '../engines/runtime/ProcessRuntime';
import { RuntimeRegistry } from '../engines/runtime/RuntimeRegistry';
import { createHealthMonitor } from '../wiring/createHealthMonitor';
import { createOrchestrationSystem } from '../wiring/createOrchestrationSystem';
import { HealthDiscoveryBridge } from '../wiring/HealthDiscoveryBridge';
import { PluginLifecycleOrchestrationSystem } from './PluginLifecycleOrchestrationSystem';

// Every usage example of ORIGINAL-DESIGN.md ("Usage Examples" and "Event
// System"), as written apart from where the functions come from, against a
// real system: the facade with its health monitor and service discovery
// wired as the plugin wires them, the sample service run by the process
// runtime. Between the examples, a few lines of glue (marked) start the
// plugin and wait for what an example set going. "Metrics and Monitoring"
// is the metrics work's (its shape of getSystemMetrics()).

jest.setTimeout(240_000);

const databases = createTestDatabases();

async function until<T>(
  what: string,
  probe: () => T | undefined | Promise<T | undefined>,
  timeoutMs = 60_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise(r => setTimeout(r, 100));
  }
}

/** Listens on `port`: undefined once listening, or the error (EADDRINUSE...). */
function listenOn(
  server: http.Server,
  port: number,
): Promise<NodeJS.ErrnoException | undefined> {
  return new Promise(resolve => {
    server.once('error', resolve);
    server.listen(port, () => resolve(undefined));
  });
}

describe.each(databases.eachSupportedId())(
  "the original design's usage examples on %s",
  databaseId => {
    let stops: Array<() => Promise<unknown>> = [];
    let logSpy: jest.SpyInstance;
    let down: http.Server | undefined;

    afterEach(async () => {
      for (const stop of stops.reverse()) await stop().catch(() => {});
      stops = [];
      logSpy?.mockRestore();
      await new Promise(r => (down ? down.close(r) : r(undefined)));
    });

    /** The system as the plugin wires it (src/plugin.ts), on a test database. */
    async function startSystem(): Promise<PluginLifecycleOrchestrationSystem> {
      const artifacts = await packSampleArtifacts();
      const knex = await databases.init(databaseId);
      await applyDatabaseMigrations({ getClient: async () => knex });
      const dataDir = makeTempDir('plugin-lifecycle-design-');
      const config = readPluginLifecycleConfig(
        mockServices.rootConfig({
          data: {
            pluginLifecycle: {
              dataDir,
              configuration: {
                encryption: {
                  keys: [
                    { id: 'k1', secret: randomBytes(32).toString('base64') },
                  ],
                },
              },
              // The design's key: a probe that does not say how many
              // failures it takes fails on the first (the registered
              // service's health check below checks every 30 s).
              healthMonitor: { maxConsecutiveFailures: 1 },
              shutdown: { stopInstances: true },
              orchestrator: { pollInterval: 20 },
              deployments: { tickInterval: 50 },
              health: {
                targetRefreshInterval: 200,
                flushInterval: 100,
                feedInterval: 100,
              },
              discovery: { pollInterval: 100 },
              plugins: {
                'my-plugin': {
                  artifact: {
                    type: 'tarball',
                    path: artifacts.tarballTemplate,
                  },
                },
              },
            },
          },
        }),
      );
      const logger = mockServices.logger.mock();
      const replicaId = 'design-replica';
      const events = new SystemEvents({ logger });
      const targets = TargetPolicy.create({
        allowedTargets: config.discovery.allowedTargets,
      });
      await targets.init();
      const execProbes = execProbePolicyOf(config);
      const metrics = ProxyMetrics.create();
      const discovery = ServiceDiscovery.create({
        db: knex,
        logger,
        events,
        metrics,
        execProbes,
        targets,
        pollIntervalMs: config.discovery.pollInterval,
        defaultTenant: config.defaultTenant,
      });
      await discovery.start();
      const probers = ProberRegistry.create({ targets });
      const system = await createOrchestrationSystem({
        logger,
        db: knex,
        config,
        events,
        discovery,
        runtimes: RuntimeRegistry.create([
          ProcessRuntime.create({ logger, dataDir, owner: replicaId }),
        ]),
        replicaId,
        healthMonitor: lifecycle =>
          createHealthMonitor({
            db: knex,
            config,
            probers,
            execProbes,
            logger,
            events,
            replicaId,
            lifecycle,
            discovery,
          }),
      });
      const health = system.getPluginHealthMonitor();
      const bridge = HealthDiscoveryBridge.create({
        health,
        discovery,
        metrics,
        events,
        logger,
        replicaId,
        syncIntervalMs: 500,
      });
      await health.start();
      await bridge.start();
      stops.push(
        () => system.shutdown(),
        () => discovery.stop(),
        () => probers.close(),
        () => health.stop(),
        () => bridge.stop(),
      );
      return system;
    }

    it('run as written, each doing what it says', async () => {
      const system = await startSystem();
      // The design's module-level accessors, here over one system.
      const getPluginLifecycleOrchestrationSystem = () => system;
      const getPluginHealthMonitor = () => system.getPluginHealthMonitor();
      const getPluginConfigurationManager = () =>
        system.getPluginConfigurationManager();
      const getPluginServiceDiscovery = () =>
        system.getPluginServiceDiscovery();
      const logged: unknown[][] = [];
      logSpy = jest
        .spyOn(console, 'log')
        .mockImplementation((...args) => void logged.push(args));
      const loggedWith = (first: unknown) =>
        logged.filter(args => args[0] === first);
      const failures: HealthCheckFailure[] = [];
      system.on('healthMonitor:healthCheckFailed', f => failures.push(f));

      // --- Event System ----------------------------------------------------
      const orchestration = getPluginLifecycleOrchestrationSystem();

      orchestration.on('systemEvent', event => {
        console.log(`[${event.component}] ${event.event}:`, event.args);
      });

      // Component-specific events
      orchestration.on('orchestrator:operationCompleted', result => {
        console.log('Operation completed:', result.operationId);
      });

      orchestration.on('healthMonitor:healthCheckFailed', result => {
        console.log('Health check failed for:', result.pluginId);
      });

      orchestration.on('deploymentManager:deploymentCompleted', deployment => {
        console.log('Deployment completed:', deployment.deploymentId);
      });

      // --- Basic Plugin Installation ---------------------------------------
      // Install a plugin with configuration
      const result = await orchestration.installPlugin('my-plugin', '1.0.0', {
        userId: 'admin',
        environment: 'production',
        configuration: [
          {
            key: 'database.url',
            value: 'postgresql://localhost:5432/mydb',
            type: 'string',
            required: true,
          },
        ],
        healthProbes: [
          {
            name: 'http-health',
            type: 'liveness',
            method: 'http',
            http: {
              path: '/health',
              expectedStatusCodes: [200],
            },
            periodSeconds: 30,
            failureThreshold: 3,
          },
        ],
      });

      const installed = await system.waitForOperation(result.operationId);
      expect(installed).toMatchObject({ status: 'succeeded', actor: 'admin' });
      expect(await system.getPlugin('my-plugin')).toMatchObject({
        state: 'installed',
        currentVersion: '1.0.0',
      });
      expect(
        (await getPluginHealthMonitor().getPluginHealth('my-plugin')).probes,
      ).toEqual([expect.objectContaining({ name: 'http-health' })]);
      expect(loggedWith('Operation completed:')).toContainEqual([
        'Operation completed:',
        result.operationId,
      ]);
      expect(loggedWith('[orchestrator] operationQueued:')).toHaveLength(1);

      // (glue) The update below rolls out over running instances.
      await system.waitForOperation(
        (
          await system.startPlugin('my-plugin', { userId: 'admin' })
        ).operationId,
      );

      // --- Zero-Downtime Plugin Update -------------------------------------
      // Update plugin with canary deployment
      const deployment = await orchestration.updatePlugin(
        'my-plugin',
        '1.1.0',
        {
          userId: 'admin',
          environment: 'production',
          deploymentStrategy: DeploymentStrategy.CANARY,
          deploymentConfig: {
            canary: {
              trafficIncrement: 25,
              incrementInterval: 300000, // 5 minutes
              successThreshold: 99,
              errorThreshold: 1,
              autoPromote: true,
            },
          },
        },
      );

      console.log(`Deployment ${deployment.deploymentId} started`);

      expect(deployment.deploymentId).toEqual(expect.any(String));
      expect(logged).toContainEqual([
        `Deployment ${deployment.deploymentId} started`,
      ]);
      // The canary moves 25% at a time, each step judged for 5 minutes.
      const canary = await waitForSystemDeployment(
        system,
        deployment.deploymentId!,
        { phases: ['progressing'] },
      );
      expect(canary).toMatchObject({
        strategy: 'canary',
        fromVersion: '1.0.0',
        toVersion: '1.1.0',
      });
      expect(
        canary.steps.flatMap(s => (s.kind === 'setWeight' ? [s.weight] : [])),
      ).toEqual([25, 50, 75, 100]);
      expect(
        canary.steps.flatMap(s =>
          s.kind === 'analysis'
            ? [
                [
                  s.durationMs,
                  s.criteria.successThreshold,
                  s.criteria.errorThreshold,
                ],
              ]
            : [],
        ),
      ).toEqual([
        [300000, 99, 1],
        [300000, 99, 1],
        [300000, 99, 1],
      ]);
      // (glue) Not twenty minutes in a test: once 25% goes to the canary,
      // promote it the rest of the way.
      await until('the canary to take 25%', async () => {
        const d = await system.getDeployment(deployment.deploymentId!);
        return d.steps.some(
          s =>
            s.kind === 'setWeight' &&
            s.weight === 25 &&
            s.status === 'succeeded',
        );
      });
      await system.deploymentAction(deployment.deploymentId!, 'promote', {
        userId: 'admin',
        full: true,
      });
      expect(
        await waitForSystemDeployment(system, deployment.deploymentId!),
      ).toMatchObject({ phase: 'succeeded' });
      expect(await system.getPlugin('my-plugin')).toMatchObject({
        state: 'running',
        currentVersion: '1.1.0',
      });
      await until('deploymentCompleted', () =>
        loggedWith('Deployment completed:').length > 0 ? true : undefined,
      );
      expect(loggedWith('Deployment completed:')).toEqual([
        ['Deployment completed:', deployment.deploymentId],
      ]);

      // --- Health Monitoring Setup -----------------------------------------
      const healthMonitor = getPluginHealthMonitor();

      // Register comprehensive health probes
      await healthMonitor.registerPluginProbes('my-plugin', [
        {
          name: 'startup-check',
          type: ProbeType.STARTUP,
          method: ProbeMethod.HTTP,
          http: { path: '/startup', timeout: 10000 },
          initialDelaySeconds: 10,
          failureThreshold: 5,
        },
        {
          name: 'readiness-check',
          type: ProbeType.READINESS,
          method: ProbeMethod.HTTP,
          http: { path: '/ready', timeout: 5000 },
          periodSeconds: 10,
          failureThreshold: 1,
        },
        {
          name: 'liveness-check',
          type: ProbeType.LIVENESS,
          method: ProbeMethod.HTTP,
          http: { path: '/health', timeout: 5000 },
          periodSeconds: 30,
          failureThreshold: 3,
          circuitBreaker: {
            enabled: true,
            failureThreshold: 5,
            recoveryTimeout: 30000,
          },
        },
      ]);

      // The running instance is probed with them: startup after 10 s, then
      // readiness and liveness.
      const probed = await until(
        'the new probes to pass',
        async () => {
          const report = await healthMonitor.getPluginHealth('my-plugin');
          const [instance] = report.instances;
          const passing = instance?.probes.filter(p => p.status === 'passing');
          return passing?.length === 3 && instance.verdict === 'healthy'
            ? report
            : undefined;
        },
        40_000,
      );
      expect(probed.probes.map(p => [p.name, p.type, p.method])).toEqual([
        ['startup-check', 'startup', 'http'],
        ['readiness-check', 'readiness', 'http'],
        ['liveness-check', 'liveness', 'http'],
      ]);
      expect(
        probed.instances[0].probes.find(p => p.name === 'liveness-check'),
      ).toMatchObject({ circuit: 'closed' });

      // --- Dynamic Configuration Management --------------------------------
      const configManager = getPluginConfigurationManager();

      // Set plugin configuration with versioning
      await configManager.setPluginConfiguration(
        'my-plugin',
        [
          {
            key: 'feature.enabled',
            value: true,
            type: 'boolean',
            description: 'Enable new feature flag',
          },
          {
            key: 'api.key',
            value: 'secret-key-value',
            type: 'secret',
            sensitive: true,
          },
        ],
        {
          environment: 'production',
          userId: 'admin',
          description: 'Enable new feature with API key',
        },
      );

      // Watch for configuration changes
      const unwatch = configManager.watchConfiguration(
        'my-plugin',
        'production',
        undefined,
        newConfig => {
          console.log('Configuration updated:', newConfig);
        },
      );

      const versions = await configManager.listVersions(
        'my-plugin',
        'production',
      );
      expect(versions[0]).toMatchObject({
        version: 2,
        author: 'admin',
        description: 'Enable new feature with API key',
      });
      const effective = await configManager.getEffectiveConfiguration(
        'my-plugin',
        'production',
      );
      expect(effective.entries.map(e => [e.key, e.value])).toEqual([
        ['api.key', '********'],
        ['database.url', 'postgresql://localhost:5432/mydb'],
        ['feature.enabled', true],
      ]);
      // (glue) A change after the watch started reaches the callback; after
      // unwatch() none does.
      await new Promise(r => setTimeout(r, 300));
      await configManager.setPluginConfiguration(
        'my-plugin',
        [{ key: 'feature.enabled', value: false, type: 'boolean' }],
        { environment: 'production', userId: 'admin' },
      );
      const [[, update]] = await until('the watch callback', () => {
        const calls = loggedWith('Configuration updated:');
        return calls.length > 0 ? calls : undefined;
      });
      expect(
        (update as { entries: Array<{ key: string; value: unknown }> }).entries,
      ).toContainEqual(
        expect.objectContaining({ key: 'feature.enabled', value: false }),
      );
      unwatch();
      const watchCalls = loggedWith('Configuration updated:').length;
      await configManager.setPluginConfiguration(
        'my-plugin',
        [{ key: 'feature.enabled', value: true, type: 'boolean' }],
        { environment: 'production', userId: 'admin' },
      );
      await new Promise(r => setTimeout(r, 1500));
      expect(loggedWith('Configuration updated:')).toHaveLength(watchCalls);

      // (glue) Something at the design's localhost:8080 that is down: its
      // health check fails.
      down = http.createServer((_req, res) => {
        res.writeHead(503).end('down');
      });
      // The examples module's test (examples/usage-examples-module) serves
      // 8080 too and may run at the same time: wait for it to let go.
      const portDeadline = Date.now() + 120_000;
      for (;;) {
        const error = await listenOn(down, 8080);
        if (!error) break;
        if (error.code !== 'EADDRINUSE' || Date.now() > portDeadline) {
          throw new Error(
            `this test serves the design's localhost:8080 and could not listen there: ${error}`,
          );
        }
        await new Promise(r => setTimeout(r, 500));
      }

      // --- Service Discovery Integration -----------------------------------
      const serviceDiscovery = getPluginServiceDiscovery();

      // Register a service
      await serviceDiscovery.registerService({
        serviceId: 'my-plugin-api-1',
        pluginId: 'my-plugin',
        serviceName: 'my-plugin-api',
        serviceType: 'backend',
        version: '1.0.0',
        host: 'localhost',
        port: 8080,
        healthCheck: {
          endpoint: '/health',
          interval: 30000,
          timeout: 5000,
        },
        loadBalancing: {
          weight: 100,
          maxConnections: 1000,
        },
      });

      // Get load-balanced service instance
      const service = await serviceDiscovery.getLoadBalancedService(
        'my-plugin-api',
        { ip: '192.168.1.100' },
        LoadBalancingStrategy.HEALTH_WEIGHTED,
      );

      expect(service).toMatchObject({
        serviceId: 'my-plugin-api-1',
        serviceName: 'my-plugin-api',
        pluginId: 'my-plugin',
        serviceType: 'http',
        version: '1.0.0',
        url: 'http://localhost:8080',
        weight: 100,
        maxConnections: 1000,
        strategy: 'health-weighted',
        // The plugin's tenant: the call was trusted with every tenant.
        tenant: 'default',
      });
      // Its health check fails (503): healthMonitor:healthCheckFailed.
      const failure = await until('healthCheckFailed of my-plugin-api', () =>
        failures.find(f => f.serviceName === 'my-plugin-api'),
      );
      expect(failure).toMatchObject({
        pluginId: 'my-plugin',
        instanceId: 'my-plugin-api-1',
        probeName: 'health-check',
        probeType: 'readiness',
        method: 'http',
        consecutiveFailures: 1,
        failureThreshold: 1,
        reportedBy: 'design-replica',
      });
      expect(loggedWith('Health check failed for:')).toContainEqual([
        'Health check failed for:',
        'my-plugin',
      ]);
      // Once per failing streak, not for each failed result.
      expect(
        failures.filter(f => f.serviceName === 'my-plugin-api'),
      ).toHaveLength(1);
      // Out of rotation now: no instance left to pick.
      await until('my-plugin-api out of rotation', async () => {
        const [registration] = await serviceDiscovery.listServices({
          scope: { all: true },
          name: 'my-plugin-api',
        });
        return registration?.ready === false ? true : undefined;
      });
      await expect(
        serviceDiscovery.getLoadBalancedService('my-plugin-api'),
      ).rejects.toThrow(/my-plugin-api/);
    });
  },
);
