import path from 'node:path';
import {
  coreServices,
  createBackendPlugin,
} from '@backstage/backend-plugin-api';
import { metricsServiceRef } from '@backstage/backend-plugin-api/alpha';
import {
  HealthProbeFunction,
  PluginRuntime,
  DeploymentAnalysisProvider,
  pluginLifecycleDeploymentAnalysisExtensionPoint,
  pluginLifecycleHealthProbesExtensionPoint,
  pluginLifecycleRuntimesExtensionPoint,
} from '@internal/plugin-lifecycle-node';
import {
  pluginLifecyclePluginPermissions,
  pluginLifecycleServiceRegisterPermission,
} from '@internal/plugin-lifecycle-common';
import { eventsServiceRef } from '@backstage/plugin-events-node';
import { signalsServiceRef } from '@backstage/plugin-signals-node';
import { catalogServiceRef } from '@backstage/plugin-catalog-node';
import { createConditionAuthorizer } from '@backstage/plugin-permission-node';
import { newReplicaId } from './engines/orchestrator/replicas';
import { SystemEvents } from './events/SystemEvents';
import {
  catalogSyncPluginsOf,
  execProbePolicyOf,
  readPluginLifecycleConfig,
} from './config';
import { CatalogSyncStore } from './database/CatalogSyncStore';
import { CatalogSync } from './engines/catalogSync/CatalogSync';
import { applyDatabaseMigrations } from './database/migrations';
import { ExternalRuntime } from './engines/runtime/ExternalRuntime';
import { ProcessRuntime } from './engines/runtime/ProcessRuntime';
import { ProcessIdentities } from './engines/runtime/processIdentity';
import { RuntimeRegistry } from './engines/runtime/RuntimeRegistry';
import { createRouter } from './service/createRouter';
import { HeldRequests } from './service/HeldRequests';
import { createOrchestrationSystem } from './wiring/createOrchestrationSystem';
import { ServiceDiscovery } from './engines/discovery/ServiceDiscovery';
import { ProxyMetrics } from './engines/discovery/ProxyMetrics';
import { VersionMetricsSampler } from './engines/metrics/VersionMetricsSampler';
import { MetricsExporter } from './engines/metrics/MetricsExporter';
import { StoreMetricsReadModel } from './engines/metrics/MetricsReadModel';
import { DataPlane, ServiceProxy } from './engines/discovery/ServiceProxy';
import { NginxDataPlane } from './engines/discovery/nginx/NginxDataPlane';
import { CustomProber } from './engines/health/probers/CustomProber';
import { ProberRegistry } from './engines/health/probers/ProberRegistry';
import { HealthDiscoveryBridge } from './wiring/HealthDiscoveryBridge';
import { createHealthMonitor } from './wiring/createHealthMonitor';
import type { HealthMonitor } from './engines/health/HealthMonitor';
import { ShutdownGrace } from './wiring/ShutdownGrace';
import { UiSignals } from './wiring/uiSignals/UiSignals';
import { TargetPolicy } from './engines/discovery/TargetPolicy';
import { backendEndpointsOf } from './engines/discovery/backendEndpoints';
import { ReservedServiceNames } from './engines/discovery/ReservedServiceNames';
import { assertDataPlaneExposure } from './engines/discovery/DataPlaneAccess';
import { PluginResources } from './permissions/PluginResources';
import {
  pluginLifecyclePluginResourceRef,
  pluginLifecyclePluginRules,
} from './permissions/rules';
import { RouteAuthorizer } from './service/RouteAuthorizer';

/**
 * The plugin-lifecycle backend plugin: installs, runs and tracks managed
 * plugins, with its API under /api/plugin-lifecycle.
 *
 * @public
 */
export const pluginLifecyclePlugin = createBackendPlugin({
  pluginId: 'plugin-lifecycle',
  register(env) {
    const extraRuntimes: PluginRuntime[] = [];
    env.registerExtensionPoint(pluginLifecycleRuntimesExtensionPoint, {
      addRuntime(runtime) {
        extraRuntimes.push(runtime);
      },
    });
    const probeFunctions = new Map<string, HealthProbeFunction>();
    env.registerExtensionPoint(pluginLifecycleHealthProbesExtensionPoint, {
      addProbeFunction(name, fn) {
        if (probeFunctions.has(name)) {
          throw new Error(`A custom probe named '${name}' is already added`);
        }
        probeFunctions.set(name, fn);
      },
    });

    const analysisProviders = new Map<string, DeploymentAnalysisProvider>();
    env.registerExtensionPoint(
      pluginLifecycleDeploymentAnalysisExtensionPoint,
      {
        addAnalysisProvider(provider) {
          if (analysisProviders.has(provider.name)) {
            throw new Error(
              `An analysis provider named '${provider.name}' is already added`,
            );
          }
          analysisProviders.set(provider.name, provider);
        },
      },
    );

    env.registerInit({
      deps: {
        logger: coreServices.logger,
        config: coreServices.rootConfig,
        database: coreServices.database,
        httpRouter: coreServices.httpRouter,
        httpAuth: coreServices.httpAuth,
        userInfo: coreServices.userInfo,
        permissions: coreServices.permissions,
        permissionsRegistry: coreServices.permissionsRegistry,
        auth: coreServices.auth,
        catalog: catalogServiceRef,
        auditor: coreServices.auditor,
        lifecycle: coreServices.lifecycle,
        scheduler: coreServices.scheduler,
        discoveryService: coreServices.discovery,
        instanceMetadata: coreServices.rootInstanceMetadata,
        events: eventsServiceRef,
        // Its default publishes to the events service: without the signals
        // backend plugin nobody hears, and nothing else changes.
        signals: signalsServiceRef,
        // OpenTelemetry instruments; exported by the backend's SDK, if any.
        metrics: metricsServiceRef,
      },
      async init(deps) {
        const config = readPluginLifecycleConfig(deps.config, {
          warn: message => deps.logger.warn(message),
        });
        const db = await applyDatabaseMigrations(deps.database);
        const replicaId = newReplicaId();
        const d = config.discovery;

        // Where discovery may send traffic and probes: allowedTargets, never
        // link-local, this backend's own port or its database.
        const targets = TargetPolicy.create({
          allowedTargets: d.allowedTargets,
          reserved: backendEndpointsOf(deps.config, {
            ownBaseUrl: await deps.discoveryService
              .getBaseUrl('plugin-lifecycle')
              .catch(() => undefined),
            dataPlanePort: d.dataPlane?.port || undefined,
          }),
        });
        await targets.init();
        // Names only runtimes' instances serve: managed plugins' and Backstage's own.
        const installed = await deps.instanceMetadata.getInstalledPlugins();
        const reservedNames = ReservedServiceNames.create({
          backstagePlugins: [
            ...d.reservedServiceNames,
            ...installed.map(p => p.pluginId),
          ],
          configuredPlugins: [
            ...Object.keys(config.plugins),
            ...(d.managedPlugins ?? []),
          ],
        });

        // Who plugin processes run as; warns when it is the backend's user.
        const isolation = config.runtime.process.isolation;
        const identities = ProcessIdentities.create({
          logger: deps.logger.child({ runtime: 'process' }),
          mode: isolation.mode,
          userPrefix: isolation.userPrefix,
          sharedUser: isolation.sharedUser,
          probeUser: isolation.probeUser,
          users: isolation.users,
          createUsers: isolation.createUsers,
        });
        const processRuntime = ProcessRuntime.create({
          logger: deps.logger.child({ runtime: 'process' }),
          dataDir: path.resolve(config.dataDir),
          host: config.runtime.process.host,
          startTimeoutMs: config.runtime.process.startTimeout,
          npm: config.runtime.process.npm,
          identities,
          owner: replicaId,
        });
        const stopInstances = config.shutdown.stopInstances;
        // The grace period counts from the signal, so it listens from the start.
        const grace = ShutdownGrace.create({
          gracePeriodMs: config.shutdown.gracePeriod,
          logger: deps.logger,
          // Instances that are not to outlive the backend must not survive
          // its forced exit either.
          beforeForcedExit: stopInstances
            ? () => processRuntime.killAll()
            : undefined,
        });
        grace.listen();
        const shuttingDown = new AbortController();
        const runtimes = RuntimeRegistry.create([
          processRuntime,
          ExternalRuntime.create({ targets }),
          ...extraRuntimes,
        ]);

        // One event bus for every engine: `on('systemEvent', ...)` hears all.
        const events = new SystemEvents({
          events: deps.events,
          logger: deps.logger,
        });

        // Exec probes run commands on this host: only those app-config allows.
        const execProbes = execProbePolicyOf(config);
        // What both data planes measure; discovery answers versionStats from it.
        const proxyMetrics = ProxyMetrics.create();
        const discovery = ServiceDiscovery.create({
          db,
          metrics: proxyMetrics,
          execProbes,
          reservedNames,
          trustedExternalPlugins: Object.keys(config.plugins),
          targets,
          logger: deps.logger.child({ engine: 'discovery' }),
          events,
          pollIntervalMs: d.pollInterval,
          expireIntervalMs: d.expireInterval,
          resyncIntervalMs: d.resyncInterval,
          defaultStrategy: d.defaultStrategy,
          panicThreshold: d.panicThreshold,
          defaultTenant: config.defaultTenant,
          ejection: {
            consecutiveFailures: d.ejection.consecutiveFailures,
            baseEjectionMs: d.ejection.baseEjectionTime,
            maxEjectionMs: d.ejection.maxEjectionTime,
          },
        });
        await discovery.start();
        const proxy = ServiceProxy.create({
          discovery,
          metrics: proxyMetrics,
          logger: deps.logger.child({ engine: 'proxy' }),
          maxRetries: d.proxy.maxRetries,
          connectTimeoutMs: d.proxy.connectTimeout,
          headersTimeoutMs: d.proxy.headersTimeout,
          attemptTimeoutMs: d.proxy.attemptTimeout,
          bodyTimeoutMs: d.proxy.bodyTimeout,
          targets,
          passCookies: d.proxy.passCookies,
        });

        // Request rate, errors and latency per version over time, from the
        // counters both data planes feed: this replica's, in memory.
        const history = config.metrics.versionHistory;
        const versionHistory = VersionMetricsSampler.create({
          source: () => proxyMetrics.snapshot().versions,
          intervalMs: history.sampleInterval,
          retentionMs: history.retention,
          maxSeries: history.maxSeries,
          logger: deps.logger.child({ engine: 'metrics' }),
        });
        versionHistory.start();

        // plugin_lifecycle_* metrics (pluginLifecycle.metrics.export): the
        // gauges are registered once the system exists, below; counters
        // hear events from the start.
        const healthRef: {
          current?: Pick<HealthMonitor, 'getInstanceHealth'>;
        } = {};
        const configWatchersRef: { current?: () => number } = {};
        const metricsExporter = config.metrics.export
          ? MetricsExporter.create({
              metrics: deps.metrics,
              events,
              replicaId,
              observeProxy: listener => proxyMetrics.observe(listener),
              logger: deps.logger.child({ engine: 'metrics' }),
              readModel: StoreMetricsReadModel.create({
                db,
                instanceHealth: id =>
                  healthRef.current?.getInstanceHealth(id)?.verdict,
                configWatchers: () => configWatchersRef.current?.() ?? 0,
              }),
            })
          : undefined;
        metricsExporter?.start();

        const h = config.health;
        const probers = ProberRegistry.create({
          custom: CustomProber.create({
            functions: Object.fromEntries(probeFunctions),
          }),
          exec: { policy: execProbes, identities },
          targets,
        });
        // Deployments wait for the data plane (which needs the system to
        // exist first) to serve each routing change before going on.
        const dataPlaneRef: { current?: DataPlane } = {};
        const orchestration = await createOrchestrationSystem({
          logger: deps.logger,
          db,
          config,
          runtimes,
          replicaId,
          auditor: deps.auditor,
          events,
          discovery,
          analysisProviders,
          // The data plane starts below, once the system exists.
          settleDataPlanes: async () => {
            await dataPlaneRef.current?.settle?.();
          },
          // Remediation acts through the lifecycle commands, so the monitor
          // is built with them; it starts below, after the system.
          healthMonitor: lifecycle =>
            createHealthMonitor({
              db,
              config,
              probers,
              execProbes,
              logger: deps.logger,
              events,
              replicaId,
              lifecycle,
              discovery,
              onProbe: metricsExporter
                ? run => metricsExporter.recordProbe(run)
                : undefined,
            }),
        });
        const health = orchestration.getPluginHealthMonitor();
        healthRef.current = health;
        const configurationManager =
          orchestration.getPluginConfigurationManager();
        configWatchersRef.current = () => configurationManager.watcherCount();
        // Live updates of the UI: from here on, every event of the system.
        const uiSignals = UiSignals.create({
          events,
          signals: deps.signals,
          logger: deps.logger.child({ component: 'ui-signals' }),
          replicaId,
          getOperation: id => orchestration.getOperation(id),
        });
        uiSignals.start();

        const bridge = HealthDiscoveryBridge.create({
          health,
          discovery,
          metrics: proxyMetrics,
          events,
          logger: deps.logger.child({ engine: 'health' }),
          replicaId,
          serviceHealthChecks: d.healthChecks,
        });
        if (h.enabled) {
          await health.start();
          await bridge.start();
        }
        let dataPlane: DataPlane | undefined;
        if (d.dataPlane) assertDataPlaneExposure(d.dataPlane);
        // What the token (or loopback's anonymous callers) may reach.
        const dataPlaneScope = d.dataPlane?.tenants
          ? { tenants: d.dataPlane.tenants }
          : undefined;
        if (d.dataPlane?.engine === 'nginx') {
          dataPlane = await NginxDataPlane.start({
            discovery,
            metrics: proxyMetrics,
            logger: deps.logger.child({ engine: 'nginx-data-plane' }),
            port: d.dataPlane.port,
            host: d.dataPlane.host,
            token: d.dataPlane.token,
            ...(dataPlaneScope ? { scope: dataPlaneScope } : {}),
            defaultTenant: config.defaultTenant,
            passCookies: d.proxy.passCookies,
            binary: d.dataPlane.nginx.binary,
            workers: d.dataPlane.nginx.workers,
            // nginx outlives the backend with the instances: it needs a
            // directory the next backend finds it in.
            directory:
              d.dataPlane.nginx.directory ??
              (stopInstances
                ? undefined
                : path.join(path.resolve(config.dataDir), '.nginx')),
            outliveBackend: !stopInstances,
            maxRetries: d.proxy.maxRetries,
            connectTimeoutMs: d.proxy.connectTimeout,
            readTimeoutMs: d.proxy.attemptTimeout ?? d.proxy.headersTimeout,
            maxFails: d.ejection.consecutiveFailures,
            failTimeoutMs: d.ejection.baseEjectionTime,
          });
        } else if (d.dataPlane) {
          dataPlane = await proxy.startDataPlane({
            port: d.dataPlane.port,
            host: d.dataPlane.host,
            token: d.dataPlane.token,
            allowUnauthenticated: d.dataPlane.allowUnauthenticated,
            ...(dataPlaneScope ? { scope: dataPlaneScope } : {}),
          });
          deps.logger.info(
            `proxy data plane listening on ${d.dataPlane.host}:${dataPlane.port}`,
          );
        }

        dataPlaneRef.current = dataPlane;

        // One replica at a time brings recorded state in line with reality.
        await deps.scheduler.scheduleTask({
          id: 'plugin-lifecycle-reconcile',
          frequency: { milliseconds: config.orchestrator.reconcileInterval },
          timeout: { minutes: 5 },
          initialDelay: { seconds: 5 },
          fn: () => orchestration.reconcile(),
        });
        await deps.scheduler.scheduleTask({
          id: 'plugin-lifecycle-config-maintenance',
          frequency: {
            milliseconds: config.configuration.maintenanceInterval,
          },
          timeout: { minutes: 10 },
          initialDelay: { seconds: 10 },
          fn: async () => {
            await orchestration.runConfigurationMaintenance();
          },
        });
        // Desired versions declared in the catalog, for the plugins the
        // operator opted in: one replica at a time compares and deploys.
        if (config.catalogSync.enabled) {
          const syncedPlugins = catalogSyncPluginsOf(config);
          const catalogSync = CatalogSync.create({
            system: orchestration,
            store: CatalogSyncStore.create({ db }),
            catalog: deps.catalog,
            auth: deps.auth,
            auditor: deps.auditor,
            logger: deps.logger.child({ engine: 'catalog-sync' }),
            plugins: () => syncedPlugins,
          });
          deps.logger.info(
            `catalog sync every ${config.catalogSync.interval} ms for ${
              syncedPlugins.length > 0 ? syncedPlugins.join(', ') : 'no plugin'
            }`,
          );
          await deps.scheduler.scheduleTask({
            id: 'plugin-lifecycle-catalog-sync',
            frequency: { milliseconds: config.catalogSync.interval },
            timeout: { minutes: 5 },
            initialDelay: {
              milliseconds: Math.min(config.catalogSync.interval, 10_000),
            },
            fn: async () => {
              await catalogSync.run();
            },
          });
        }
        // Instances run on after the backend unless configured to stop
        // along (pluginLifecycle.shutdown.stopInstances); when they stop,
        // probing stops before they do, so a stopping instance is not
        // "remediated". Everything that answers clients is bounded by the
        // grace period, whatever state the clients left it in: Backstage's
        // server (in production) waits for every open connection before the
        // process may exit.
        deps.lifecycle.addShutdownHook(async () => {
          const graceMs = grace.remainingMs();
          shuttingDown.abort();
          versionHistory.stop();
          metricsExporter?.stop();
          // nginx left running is let go first: the routing changes the
          // stopping engines make (probes ending) must not reach it.
          const nginxPlane =
            d.dataPlane?.engine === 'nginx'
              ? (dataPlane as NginxDataPlane | undefined)
              : undefined;
          try {
            if (!stopInstances) {
              await nginxPlane?.close({ leaveRunning: true });
            }
            await Promise.all([
              (async () => {
                await bridge.stop();
                await health.stop();
                await probers.close();
              })(),
              // The Node data plane is the proxy's own listener: proxy.close closes it.
              nginxPlane?.close({ graceMs }),
              proxy.close({ graceMs }),
            ]);
            await discovery.stop();
          } finally {
            // Whatever failed above, the instances still stop (or are
            // left to the next backend) as configured.
            await orchestration.shutdown({ graceMs: grace.remainingMs() });
            // After the operations that end in the grace period told their users.
            uiSignals.stop();
            grace.unlisten();
          }
        });

        // The managed plugin is a resource: the permission backend resolves a
        // policy's conditions on one plugin through this registration.
        const resources = PluginResources.create({
          find: id => orchestration.findPluginRecord(id),
          catalog: deps.catalog,
          auth: deps.auth,
          logger: deps.logger,
        });
        deps.permissionsRegistry.addResourceType({
          resourceRef: pluginLifecyclePluginResourceRef,
          permissions: pluginLifecyclePluginPermissions,
          rules: Object.values(pluginLifecyclePluginRules),
          getResources: ids => resources.load(ids),
        });
        deps.permissionsRegistry.addPermissions([
          pluginLifecycleServiceRegisterPermission,
        ]);
        const authorizer = RouteAuthorizer.create({
          httpAuth: deps.httpAuth,
          userInfo: deps.userInfo,
          permissions: deps.permissions,
          resources,
          // Lists apply a conditional decision here, one plugin at a time.
          applies: createConditionAuthorizer(
            deps.permissionsRegistry.getPermissionRuleset(
              pluginLifecyclePluginResourceRef,
            ),
          ),
          scopeForUser: refs => orchestration.scopeForUser(refs),
        });
        deps.httpRouter.use(
          await createRouter({
            system: orchestration,
            authorizer,
            proxy,
            proxyMetrics,
            versionHistory,
            shutdown: shuttingDown.signal,
            heldRequests: HeldRequests.create(config.heldRequests),
            auditor: deps.auditor,
          }),
        );
        deps.httpRouter.addAuthPolicy({
          path: '/openapi.json',
          allow: 'unauthenticated',
        });
      },
    });
  },
});
