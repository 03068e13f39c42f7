import {
  coreServices,
  createBackendModule,
} from '@backstage/backend-plugin-api';
import {
  pluginLifecycleHealthProbesExtensionPoint,
  pluginLifecycleRuntimesExtensionPoint,
} from '@internal/plugin-lifecycle-node';
import { loadKubeConfig, readKubernetesRuntimeConfig } from './config';
import { KubernetesRuntime } from './KubernetesRuntime';

/**
 * The custom probe that reads an instance's pod readiness from the cluster
 * (`method: custom`, `custom: { name: 'kubernetes-pod' }`).
 *
 * @public
 */
export const KUBERNETES_POD_PROBE = 'kubernetes-pod';

/**
 * Registers the `kubernetes` runtime with the plugin-lifecycle backend when
 * `pluginLifecycle.runtime.kubernetes` is configured (without it, the
 * module adds nothing: a backend without a cluster keeps working), and the
 * {@link KUBERNETES_POD_PROBE} probe, which judges an instance by its pod's
 * readiness as the cluster reports it.
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
        probes: pluginLifecycleHealthProbesExtensionPoint,
        config: coreServices.rootConfig,
        logger: coreServices.logger,
      },
      async init({ runtimes, probes, config, logger }) {
        if (!config.has('pluginLifecycle.runtime.kubernetes')) {
          logger.info(
            'pluginLifecycle.runtime.kubernetes is not configured: no kubernetes runtime',
          );
          return;
        }
        const runtimeConfig = readKubernetesRuntimeConfig(config);
        const kubeConfig = loadKubeConfig(runtimeConfig);
        const runtime = KubernetesRuntime.create({
          config: runtimeConfig,
          kubeConfig,
          logger,
        });
        runtimes.addRuntime(runtime);
        probes.addProbeFunction(KUBERNETES_POD_PROBE, target =>
          runtime.podReadiness(target.pluginId, target.instanceId),
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
