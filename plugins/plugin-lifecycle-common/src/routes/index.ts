import { configRoutes } from './configRoutes';
import { deploymentRoutes } from './deploymentRoutes';
import { discoveryRoutes } from './discoveryRoutes';
import { eventRoutes } from './eventRoutes';
import { healthRoutes } from './healthRoutes';
import { metricsRoutes } from './metricsRoutes';
import { operationRoutes } from './operationRoutes';
import { pluginRoutes } from './pluginRoutes';

export * from './route';
export { pluginRoutes } from './pluginRoutes';
export { operationRoutes } from './operationRoutes';
export { configRoutes, type ConfigEnvironments } from './configRoutes';
export { healthRoutes } from './healthRoutes';
export { metricsRoutes } from './metricsRoutes';
export { eventRoutes } from './eventRoutes';
export { discoveryRoutes, proxyRoute } from './discoveryRoutes';
export {
  deploymentRoutes,
  type DeploymentActionResult,
} from './deploymentRoutes';

/**
 * Every route of the plugin-lifecycle HTTP API but the proxy
 * ({@link proxyRoute}) and `GET /openapi.json`: the one list the backend
 * mounts, the OpenAPI document describes and the client calls.
 *
 * @public
 */
export const pluginLifecycleRoutes = {
  ...pluginRoutes,
  ...operationRoutes,
  ...configRoutes,
  ...healthRoutes,
  ...metricsRoutes,
  ...discoveryRoutes,
  ...deploymentRoutes,
  ...eventRoutes,
};

/** The name of a route in {@link pluginLifecycleRoutes}. @public */
export type PluginLifecycleRouteName = keyof typeof pluginLifecycleRoutes;
