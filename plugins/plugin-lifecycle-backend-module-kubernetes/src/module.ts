import {
  coreServices,
  createBackendModule,
} from '@backstage/backend-plugin-api';
import { pluginLifecycleRuntimesExtensionPoint } from '@internal/plugin-lifecycle-node';
import { loadKubeConfig, readKubernetesRuntimeConfig } from './config';
import { KubernetesRuntime } from './KubernetesRuntime';

/**
 * Registers the `kubernetes` runtime with the plugin-lifecycle backend when
 * `pluginLifecycle.runtime.kubernetes` is configured (without it, the
 * module adds nothing: a backend without a cluster keeps working).
 *
 * @public
 */
export const pluginLifecycleModuleKubernetesRuntime = createBackendModule({
  pluginId: 'plugin-lifecycle',
  moduleId: 'kubernetes-runtime',
  register(env) {
    env.registerInit({
      deps: {
        runtimes: pluginLifecycleRuntimesExtensionPoint,
        config: coreServices.rootConfig,
        logger: coreServices.logger,
      },
      async init({ runtimes, config, logger }) {
        if (!config.has('pluginLifecycle.runtime.kubernetes')) {
          logger.info(
            'pluginLifecycle.runtime.kubernetes is not configured: no kubernetes runtime',
          );
          return;
        }
        const runtimeConfig = readKubernetesRuntimeConfig(config);
        const kubeConfig = loadKubeConfig(runtimeConfig);
        runtimes.addRuntime(
          KubernetesRuntime.create({ config: runtimeConfig, kubeConfig }),
        );
        logger.info(
          `kubernetes runtime on ${
            kubeConfig.getCurrentCluster()?.server
          }, namespaces ${runtimeConfig.namespaces} (${
            runtimeConfig.namespaces === 'shared'
              ? runtimeConfig.namespace
              : `${runtimeConfig.namespacePrefix}<plugin>`
          })`,
        );
      },
    });
  },
});
