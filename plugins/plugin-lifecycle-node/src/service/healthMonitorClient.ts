import {
  PluginHealth,
  PluginLifecycleClient,
  ProbeDefinition,
} from '@internal/plugin-lifecycle-common';

/**
 * The health monitor, as `getPluginHealthMonitor()` answers it.
 *
 * @public
 */
export interface PluginHealthMonitorClient {
  /** Replaces the plugin's probes (the design's `ProbeType`/`ProbeMethod` values). */
  registerPluginProbes(
    pluginId: string,
    probes: ProbeDefinition[],
  ): Promise<ProbeDefinition[]>;
  getPluginHealth(
    pluginId: string,
    options?: { recent?: number },
  ): Promise<PluginHealth>;
}

/** The health monitor over the HTTP API; `client` is made per call. */
export function createHealthMonitorClient(
  client: () => PluginLifecycleClient,
): PluginHealthMonitorClient {
  return {
    registerPluginProbes: async (pluginId, probes) =>
      (await client().setPluginProbes(pluginId, probes)).probes,
    getPluginHealth: (pluginId, options) =>
      client().getPluginHealth(pluginId, options),
  };
}
