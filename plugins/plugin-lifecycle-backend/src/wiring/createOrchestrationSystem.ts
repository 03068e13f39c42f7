import { AuditorService, LoggerService } from '@backstage/backend-plugin-api';
import { Knex } from 'knex';
import {
  PluginLifecycleConfig,
  catalogSyncPluginsOf,
  configuredArtifact,
  execProbePolicyOf,
} from '../config';
import { CatalogSyncStore } from '../database/CatalogSyncStore';
import { DeploymentStore } from '../database/DeploymentStore';
import { InstanceStore } from '../database/InstanceStore';
import { OperationStore } from '../database/OperationStore';
import { PluginStore } from '../database/PluginStore';
import { RestartPolicy } from '../domain/orchestration';
import { ConfigMaintenance } from '../engines/configuration/ConfigMaintenance';
import { ConfigurationManager } from '../engines/configuration/ConfigurationManager';
import { SecretKeyRing } from '../engines/configuration/SecretKeyRing';
import { ServiceDiscovery } from '../engines/discovery/ServiceDiscovery';
import { HealthMonitor } from '../engines/health/HealthMonitor';
import { CrashRestarter } from '../engines/lifecycle/CrashRestarter';
import { LifecycleActions } from '../engines/lifecycle/LifecycleActions';
import { LifecycleStateMachine } from '../engines/lifecycle/LifecycleStateMachine';
import { Orchestrator } from '../engines/orchestrator/Orchestrator';
import { OperationHandlers } from '../engines/orchestrator/operationHandlers';
import { Reconciler } from '../engines/orchestrator/Reconciler';
import { RuntimeRegistry } from '../engines/runtime/RuntimeRegistry';
import { PluginLifecycleOrchestrationSystem } from '../system/PluginLifecycleOrchestrationSystem';
import { SystemEvents } from '../events/SystemEvents';
import { Tenancy } from '../engines/tenancy/Tenancy';
import { AutomaticCommands } from '../system/commands/automaticCommands';
import { BatchCommands } from '../system/commands/batchCommands';
import { CatalogSyncQueries } from '../system/commands/catalogSyncQueries';
import { PluginBreaker } from '../system/commands/breaker';
import { InstallCommands } from '../system/commands/installCommands';
import { InstallRequests } from '../system/commands/installRequests';
import { LifecycleCommands } from '../system/commands/lifecycleCommands';
import { MaintenanceCommands } from '../system/commands/maintenanceCommands';
import { OperationQueries } from '../system/commands/operationQueries';
import { OperationQueue } from '../system/commands/operationQueue';
import { PluginLookup } from '../system/commands/pluginLookup';
import { PluginQueries } from '../system/commands/pluginQueries';
import { ConfigBackupCommands } from '../system/commands/configBackupCommands';
import { DeploymentCommands } from '../system/commands/deploymentCommands';
import { ReleaseTrain } from '../system/commands/releaseTrain';
import { DeploymentController } from '../engines/deployments/DeploymentController';
import { emitDeploymentEvents } from '../engines/deployments/deploymentEvents';
import { deploymentTraffic } from './deploymentTraffic';
import type { DeploymentAnalysisProvider } from '@internal/plugin-lifecycle-node';
import { DiscoveryCommands } from '../system/commands/discoveryCommands';
import { HealthQueries } from '../system/commands/healthQueries';
import { availableVersionsQuery } from './availableVersions';
import { followInstanceExits } from './instanceExits';
import { lifecycleConfiguration } from './lifecycleConfiguration';

/** Options of {@link createOrchestrationSystem}. @public */
export interface OrchestrationSystemOptions {
  logger: LoggerService;
  db: Knex;
  config: PluginLifecycleConfig;
  runtimes: RuntimeRegistry;
  replicaId: string;
  auditor?: AuditorService;
  events?: SystemEvents;
  /** Keys for secret configuration values; default: from the config. */
  keyRing?: SecretKeyRing;
  /**
   * Builds the health monitor served by `getPluginHealthMonitor()`, given
   * the lifecycle commands its remediation acts through (the plugin wires it).
   */
  healthMonitor?: (lifecycle: LifecycleCommands) => HealthMonitor;
  /** Served by `getPluginServiceDiscovery()`; the plugin wires it. */
  discovery?: ServiceDiscovery;
  /** Extra operation handlers, by type (tests and benchmarks). */
  extraHandlers?: OperationHandlers;
  /**
   * Resolves once the data planes serve the routing changes made so far
   * (the plugin's nginx data plane reloads asynchronously).
   */
  settleDataPlanes?: () => Promise<void>;
  /** Analysis providers added through the -node extension point, by name. */
  analysisProviders?: ReadonlyMap<string, DeploymentAnalysisProvider>;
}

/**
 * The composition root of the orchestration system: builds the stores, the
 * engines and the command and query modules, hands each the stores and
 * siblings it uses, and returns the facade over them. Before it returns,
 * it reconciles what earlier runs left behind and starts the workers; call
 * `reconcile()` periodically (the plugin schedules it).
 *
 * @public
 */
export async function createOrchestrationSystem(
  options: OrchestrationSystemOptions,
): Promise<PluginLifecycleOrchestrationSystem> {
  const { config, db, logger, runtimes, replicaId } = options;
  const events = options.events ?? new SystemEvents();
  const plugins = PluginStore.create({ db });
  const instances = InstanceStore.create({ db });
  const operations = OperationStore.create({ db });
  const deployments = DeploymentStore.create({ database: db });
  const tenancy = new Tenancy({ config, plugins, instances });
  const execProbes = execProbePolicyOf(config);
  const stateMachine = LifecycleStateMachine.create({ store: plugins, events });
  const lookup = PluginLookup.create({ plugins });
  const o = config.orchestrator;
  const breaker = PluginBreaker.create({
    plugins,
    events,
    failureThreshold: o.circuitBreaker.failureThreshold,
    coolDownMs: o.circuitBreaker.coolDown,
  });

  // The one cycle: a configuration change queues an operation on the
  // orchestrator, whose handlers (the lifecycle actions) read the
  // configuration. So the orchestrator comes first and the actions are
  // registered on it once they exist, before it starts.
  const orchestrator = Orchestrator.create({
    logger,
    operations,
    events,
    auditor: options.auditor,
    replicaId,
    maxConcurrentOperations: o.maxConcurrentOperations,
    leaseMs: o.leaseDuration,
    pollIntervalMs: o.pollInterval,
    retry: { baseMs: o.retryBaseDelay, maxMs: o.retryMaxDelay },
    onOperationFinished: (op, succeeded) => breaker.record(op, succeeded),
  });
  const queue = OperationQueue.create({
    orchestrator,
    operations,
    maxAttempts: o.maxAttempts,
    defaultTimeoutMs: o.defaultTimeout,
  });
  const automatic = AutomaticCommands.create({
    plugins,
    queue,
    defaultEnvironment: config.defaultEnvironment,
  });

  const c = config.configuration;
  const configuration = await ConfigurationManager.create({
    db,
    logger: logger.child({ engine: 'configuration' }),
    keyRing:
      options.keyRing ??
      SecretKeyRing.create({
        keys: c.encryption.keys,
        activeKeyId: c.encryption.activeKeyId,
      }),
    events,
    environments: c.environments,
    defaultEnvironment: config.defaultEnvironment,
    maxVersionHistory: c.maxVersionHistory,
    pollIntervalMs: c.watchPollInterval,
    getPlugin: (id, scope) => lookup.get(id, scope),
    getSchema: plugin => lookup.configSchemaOf(plugin),
    onChanged: change => automatic.onConfigurationChanged(change),
  });
  const configMaintenance = new ConfigMaintenance({
    store: configuration.store,
    keyRing: configuration.keyRing,
    events,
    logger,
  });

  // Built once the health monitor exists (its analysis reads verdicts);
  // the hand-over of an update wakes it.
  const deploymentControllerRef: { current?: DeploymentController } = {};
  const actions = LifecycleActions.create({
    logger,
    plugins,
    instances,
    stateMachine,
    runtimes,
    replicaId,
    configuredArtifact: id => configuredArtifact(config, id),
    managedRuntime: id =>
      [config.plugins[id]?.runtime, config.defaultRuntime].find(
        runtime => runtime && runtime !== 'external',
      ) ?? 'process',
    execProbes,
    readyTimeoutMs: config.runtime.process.readyTimeout,
    stopGracePeriodMs: config.runtime.process.stopGracePeriod,
    checkQuota: (tenant, request, pluginId) =>
      tenancy.checkQuota(tenant, request, pluginId),
    resourcesOf: (pluginId, requested) =>
      tenancy.resourcesOf(pluginId, requested),
    dependencyView: () => lookup.dependencyView(),
    deployments: {
      store: deployments,
      handedOver: (before, after) => {
        emitDeploymentEvents(events, before, after);
        deploymentControllerRef.current?.wake();
      },
    },
    configuration: lifecycleConfiguration(
      configuration,
      config.defaultEnvironment,
    ),
  });
  orchestrator.registerHandlers({
    ...actions.handlers(),
    ...options.extraHandlers,
  });
  const crashRestarter = CrashRestarter.create({
    logger,
    plugins,
    instances,
    stateMachine,
    events,
    policyFor: pluginId => restartPolicyOf(config, pluginId),
    replace: (plugin, instanceId, reason) =>
      automatic.replaceCrashedInstance(plugin, instanceId, reason),
  });
  const reconciler = new Reconciler({
    logger,
    plugins,
    instances,
    operations,
    stateMachine,
    runtimes,
    replicaId,
    autoRecovery: o.enableAutoRecovery,
    restart: (pluginId, tenant) => automatic.recoverPlugin(pluginId, tenant),
    deploying: async () =>
      new Set(
        (await deployments.list({ active: true, limit: 500 })).map(
          d => d.pluginId,
        ),
      ),
  });

  const requests = InstallRequests.create({
    config,
    execProbes,
    runtimes,
    configuration,
  });
  const operationQueries = OperationQueries.create({
    operations,
    orchestrator,
    events,
    lookup,
  });
  const install = InstallCommands.create({
    config,
    plugins,
    tenancy,
    execProbes,
    lookup,
    queue,
    breaker,
    requests,
    operations: operationQueries,
    deployments,
  });
  const train = ReleaseTrain.create({
    deployments,
    lookup,
    queue,
    breaker,
    install,
    logger: logger.child({ engine: 'deployments' }),
  });
  const batch = BatchCommands.create({
    config,
    plugins,
    tenancy,
    lookup,
    queue,
    requests,
    train,
  });
  const lifecycle = LifecycleCommands.create({
    plugins,
    instances,
    stateMachine,
    tenancy,
    lookup,
    queue,
    breaker,
    batch,
  });
  const stopFollowingExits = followInstanceExits({
    runtimes,
    events,
    crashRestarter,
    logger,
  });
  const health = options.healthMonitor?.(lifecycle);
  const pluginQueries = PluginQueries.create({
    plugins,
    instances,
    operations,
    crashRestarter,
    orchestrator,
    lookup,
    deployments,
    availableVersions: availableVersionsQuery({ config, plugins }),
    instanceHealth: id => health?.getInstanceHealth(id)?.verdict,
    proxyVersions: () => options.discovery?.proxyVersions() ?? [],
  });
  const rollout = config.deployments;
  const controller = DeploymentController.create({
    logger: logger.child({ engine: 'deployments' }),
    store: deployments,
    steps: actions.steps,
    traffic: deploymentTraffic({
      discovery: options.discovery,
      instances,
      runtimes,
      logger,
      settle: options.settleDataPlanes,
    }),
    unhealthyInstances: async (pluginId, instanceIds) => {
      if (!health || instanceIds.length === 0) return 0;
      const ids = new Set(instanceIds);
      const report = await health.getPluginHealth(pluginId);
      return report.instances.filter(
        i => ids.has(i.instanceId) && (i.verdict === 'unhealthy' || !i.live),
      ).length;
    },
    events,
    providers: options.analysisProviders,
    onEnded: d => train.onDeploymentEnded(d),
    replicaId,
    tickMs: rollout.tickInterval,
    leaseMs: rollout.leaseDuration,
    keepVersions: rollout.keepVersions,
  });
  deploymentControllerRef.current = controller;
  // An update cancelled before it ever ran neither hands its deployment
  // over nor marks it failed: end it here, or the `pending` deployment
  // would hold the plugin's one active deployment and refuse every later
  // update. (A running one ends its deployment itself.)
  events.on('orchestrator:operationCancelled', op => {
    if (op.type !== 'update' || op.attempts > 0) return;
    endUnstartedDeployment(
      deployments,
      events,
      op.pluginId,
      op.operationId,
    ).catch(error =>
      logger.warn(
        `ending the deployment of cancelled update ${op.operationId}: ${error}`,
      ),
    );
  });
  const system = PluginLifecycleOrchestrationSystem.create({
    events,
    tenancy,
    catalogSync: CatalogSyncQueries.create({
      lookup,
      store: CatalogSyncStore.create({ db }),
      plugins: catalogSyncPluginsOf(config),
    }),
    configuration,
    install,
    lifecycle,
    batch,
    maintenance: MaintenanceCommands.create({
      logger,
      reconciler,
      configuration,
      configMaintenance,
      crashRestarter,
      orchestrator,
      runtimes,
      stopFollowingExits,
      stopGracePeriodMs: config.runtime.process.stopGracePeriod,
      stopInstances: config.shutdown.stopInstances,
      stopDeployments: () => controller.stop(),
    }),
    plugins: pluginQueries,
    operations: operationQueries,
    configBackup: ConfigBackupCommands.create({
      configuration,
      plugins: pluginQueries,
    }),
    deploymentCommands: DeploymentCommands.create({
      deployments,
      plugins,
      lookup,
      events,
      queue,
      breaker,
      operations: operationQueries,
      install,
      wake: () => controller.wake(),
    }),
    health,
    healthQueries: health && HealthQueries.create({ health }),
    discovery: options.discovery,
    discoveryCommands:
      options.discovery &&
      DiscoveryCommands.create({ discovery: options.discovery }),
  });

  // The instances a gone backend left running are adopted before an
  // operation it left unfinished resumes, so that the operation counts
  // them as serving and removes none it has not replaced.
  await reconciler.reconcileInstances();
  orchestrator.start();
  controller.start();
  await system.reconcile();
  return system;
}

/** The restart policy of a plugin: app-config's, with the plugin's own keys over the defaults. */
function restartPolicyOf(
  config: PluginLifecycleConfig,
  pluginId: string,
): RestartPolicy {
  const policy = {
    ...config.runtime.restartPolicy,
    ...config.plugins[pluginId]?.restartPolicy,
  };
  return {
    backoffBaseMs: policy.backoffBase,
    backoffMaxMs: policy.backoffMax,
    maxRestarts: policy.maxRestarts,
    windowMs: policy.window,
  };
}

/** Fails the still `pending` deployment of an update that never ran. */
async function endUnstartedDeployment(
  deployments: DeploymentStore,
  events: SystemEvents,
  pluginId: string,
  operationId: string,
) {
  const d = await deployments.activeForPlugin(pluginId);
  if (!d || d.operationId !== operationId) return;
  const after = await deployments.endPending(
    d.id,
    'failed',
    `its update ${operationId} was cancelled before it ran`,
    { operationId },
  );
  if (after) emitDeploymentEvents(events, d, after);
}
