import {
  PluginLifecycleService,
  PluginConfigurationManagerClient,
  PluginHealthMonitorClient,
  PluginServiceDiscoveryClient,
} from '@internal/plugin-lifecycle-node';

/**
 * The original design's entry points, for its usage examples as written:
 * `import { ... } from './orchestration'`. Here they answer the
 * `pluginLifecycleServiceRef` instance this plugin was given at init
 * (HTTP to the plugin-lifecycle backend, as this plugin), and the enums
 * are -common's, with the wire values.
 */
export {
  DeploymentStrategy,
  LoadBalancingStrategy,
  ProbeMethod,
  ProbeType,
} from '@internal/plugin-lifecycle-common';

let system: PluginLifecycleService | undefined;

/** Called by the plugin's init with its service. */
export function setPluginLifecycleOrchestrationSystem(
  service: PluginLifecycleService | undefined,
) {
  system = service;
}

/**
 * The orchestration system. The design's `config` argument is accepted and
 * not used: the system is configured in app-config (`pluginLifecycle.*`,
 * where the design's keys are accepted too).
 */
export function getPluginLifecycleOrchestrationSystem(
  _config?: unknown,
): PluginLifecycleService {
  if (!system) {
    throw new Error(
      'The plugin-lifecycle-examples plugin has not been initialized: add it to the backend',
    );
  }
  return system;
}

export function getPluginHealthMonitor(): PluginHealthMonitorClient {
  return getPluginLifecycleOrchestrationSystem().getPluginHealthMonitor();
}

export function getPluginConfigurationManager(): PluginConfigurationManagerClient {
  return getPluginLifecycleOrchestrationSystem().getPluginConfigurationManager();
}

export function getPluginServiceDiscovery(): PluginServiceDiscoveryClient {
  return getPluginLifecycleOrchestrationSystem().getPluginServiceDiscovery();
}
