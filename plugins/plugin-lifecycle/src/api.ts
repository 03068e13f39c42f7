import { createApiRef } from '@backstage/frontend-plugin-api';
import type { PluginLifecycleClient } from '@internal/plugin-lifecycle-common';

/**
 * What the frontend needs from the plugin-lifecycle backend: the public
 * surface of {@link @internal/plugin-lifecycle-common#PluginLifecycleClient}.
 *
 * @remarks
 *
 * Declared as an interface of its own (rather than the client class) so that
 * apps and tests can provide any implementation of it.
 *
 * @public
 */
export type PluginLifecycleApi = Pick<
  PluginLifecycleClient,
  | 'listPlugins'
  | 'getPlugin'
  | 'getHistory'
  | 'listVersions'
  | 'getPluginHealth'
  | 'getPluginVersionMetrics'
  | 'setPluginProbes'
  | 'installPlugin'
  | 'updatePlugin'
  | 'rollbackUpdate'
  | 'runCommand'
  | 'getOperation'
  | 'listOperations'
  | 'cancelOperation'
  | 'getConfigEnvironments'
  | 'getConfiguration'
  | 'setConfiguration'
  | 'listConfigVersions'
  | 'getConfigVersion'
  | 'diffConfigVersions'
  | 'rollbackConfiguration'
  | 'getDeployment'
  | 'listDeployments'
  | 'listPluginDeployments'
  | 'deploymentAction'
>;

/**
 * The utility API reference of the plugin-lifecycle backend client.
 *
 * @public
 */
export const pluginLifecycleApiRef = createApiRef<PluginLifecycleApi>().with({
  id: 'plugin.plugin-lifecycle.api',
  pluginId: 'plugin-lifecycle',
});
