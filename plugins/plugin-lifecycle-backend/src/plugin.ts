import path from 'node:path';
import {
  coreServices,
  createBackendPlugin,
} from '@backstage/backend-plugin-api';
import {
  PluginRuntime,
  pluginLifecycleRuntimesExtensionPoint,
} from '@internal/plugin-lifecycle-node';
import { pluginLifecyclePermissions } from '@internal/plugin-lifecycle-common';
import { eventsServiceRef } from '@backstage/plugin-events-node';
import { newReplicaId } from './engines/orchestrator/replicas';
import { SystemEvents } from './system/SystemEvents';
import { readPluginLifecycleConfig } from './config';
import { applyDatabaseMigrations } from './database/migrations';
import { ExternalRuntime } from './engines/runtime/ExternalRuntime';
import { ProcessRuntime } from './engines/runtime/ProcessRuntime';
import { RuntimeRegistry } from './engines/runtime/RuntimeRegistry';
import { createRouter } from './service/createRouter';
import { PluginLifecycleOrchestrationSystem } from './system/PluginLifecycleOrchestrationSystem';

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
        auditor: coreServices.auditor,
        lifecycle: coreServices.lifecycle,
        scheduler: coreServices.scheduler,
        events: eventsServiceRef,
      },
      async init(deps) {
        const config = readPluginLifecycleConfig(deps.config);
        const db = await applyDatabaseMigrations(deps.database);
        const replicaId = newReplicaId();

        const runtimes = RuntimeRegistry.create([
          ProcessRuntime.create({
            logger: deps.logger.child({ runtime: 'process' }),
            dataDir: path.resolve(config.dataDir),
            host: config.runtime.process.host,
            startTimeoutMs: config.runtime.process.startTimeout,
          }),
          ExternalRuntime.create(),
          ...extraRuntimes,
        ]);

        const system = await PluginLifecycleOrchestrationSystem.create({
          logger: deps.logger,
          db,
          config,
          runtimes,
          replicaId,
          auditor: deps.auditor,
          events: new SystemEvents({
            events: deps.events,
            logger: deps.logger,
          }),
        });
        // One replica at a time brings recorded state in line with reality.
        await deps.scheduler.scheduleTask({
          id: 'plugin-lifecycle-reconcile',
          frequency: { milliseconds: config.orchestrator.reconcileInterval },
          timeout: { minutes: 5 },
          initialDelay: { seconds: 5 },
          fn: () => system.reconcile(),
        });
        await deps.scheduler.scheduleTask({
          id: 'plugin-lifecycle-config-maintenance',
          frequency: {
            milliseconds: config.configuration.maintenanceInterval,
          },
          timeout: { minutes: 10 },
          initialDelay: { seconds: 10 },
          fn: async () => {
            await system.runConfigurationMaintenance();
          },
        });
        // Instances are child processes of this backend: stop them with it.
        deps.lifecycle.addShutdownHook(() => system.shutdown());

        deps.permissionsRegistry.addPermissions(pluginLifecyclePermissions);
        deps.httpRouter.use(
          await createRouter({
            system,
            httpAuth: deps.httpAuth,
            userInfo: deps.userInfo,
            permissions: deps.permissions,
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
