import {
  BasicPermission,
  ResourcePermission,
  createPermission,
} from '@backstage/plugin-permission-common';
import type { LifecycleAction } from '../lifecycle/transitions';
import type { DeploymentAction } from '../api/deployments';

/**
 * The resource type of a managed plugin: its resource ref is the plugin id,
 * and it is owned by the catalog entity its `entityRef` names.
 *
 * @public
 */
export const PLUGIN_LIFECYCLE_PLUGIN_RESOURCE_TYPE = 'plugin-lifecycle-plugin';

/** A permission on one managed plugin (resource ref: the plugin id). @public */
export type PluginLifecyclePluginPermission = ResourcePermission<
  typeof PLUGIN_LIFECYCLE_PLUGIN_RESOURCE_TYPE
>;

/**
 * Read managed plugins: state, history, operations, health, configuration
 * (secrets masked), services and metrics; `GET` and `HEAD` through the proxy.
 *
 * @public
 */
export const pluginLifecycleReadPermission: PluginLifecyclePluginPermission =
  createPermission({
    name: 'plugin-lifecycle.plugin.read',
    attributes: { action: 'read' },
    resourceType: PLUGIN_LIFECYCLE_PLUGIN_RESOURCE_TYPE,
  });

/**
 * Run a managed plugin's instances: start, stop, restart.
 *
 * @public
 */
export const pluginLifecycleOperatePermission: PluginLifecyclePluginPermission =
  createPermission({
    name: 'plugin-lifecycle.plugin.operate',
    attributes: { action: 'update' },
    resourceType: PLUGIN_LIFECYCLE_PLUGIN_RESOURCE_TYPE,
  });

/**
 * Change what a managed plugin runs: install, update, roll back an update,
 * uninstall.
 *
 * @public
 */
export const pluginLifecycleDeployPermission: PluginLifecyclePluginPermission =
  createPermission({
    name: 'plugin-lifecycle.plugin.deploy',
    attributes: { action: 'update' },
    resourceType: PLUGIN_LIFECYCLE_PLUGIN_RESOURCE_TYPE,
  });

/**
 * Change a managed plugin's configuration (writes, rollbacks, import and
 * export) and its health probes.
 *
 * @public
 */
export const pluginLifecycleConfigurePermission: PluginLifecyclePluginPermission =
  createPermission({
    name: 'plugin-lifecycle.plugin.configure',
    attributes: { action: 'update' },
    resourceType: PLUGIN_LIFECYCLE_PLUGIN_RESOURCE_TYPE,
  });

/**
 * See a managed plugin's secret and sensitive configuration values in
 * plaintext (`reveal=true`).
 *
 * @public
 */
export const pluginLifecycleConfigRevealPermission: PluginLifecyclePluginPermission =
  createPermission({
    name: 'plugin-lifecycle.config.reveal',
    attributes: { action: 'read' },
    resourceType: PLUGIN_LIFECYCLE_PLUGIN_RESOURCE_TYPE,
  });

/**
 * Send requests that may change something (every method but `GET` and
 * `HEAD`) through the backend's proxy route to a service; the resource ref
 * is the service name, which is the plugin id for a managed plugin.
 *
 * @public
 */
export const pluginLifecycleProxyWritePermission: PluginLifecyclePluginPermission =
  createPermission({
    name: 'plugin-lifecycle.proxy.write',
    attributes: { action: 'update' },
    resourceType: PLUGIN_LIFECYCLE_PLUGIN_RESOURCE_TYPE,
  });

/**
 * Approve or reject a deployment of a plugin at one of its approval gates
 * (`POST /deployments/{id}/approve|reject`): a separate permission from
 * deploy, so a policy can limit approvers to a role.
 *
 * @public
 */
export const pluginLifecycleDeploymentApprovePermission: PluginLifecyclePluginPermission =
  createPermission({
    name: 'plugin-lifecycle.deployment.approve',
    attributes: { action: 'update' },
    resourceType: PLUGIN_LIFECYCLE_PLUGIN_RESOURCE_TYPE,
  });

/**
 * Register, change, heartbeat and deregister service instances in
 * discovery (what services and runtimes outside the backend do).
 *
 * @public
 */
export const pluginLifecycleServiceRegisterPermission: BasicPermission =
  createPermission({
    name: 'plugin-lifecycle.service.register',
    attributes: { action: 'create' },
  });

/**
 * The permissions on one managed plugin, for the resource type's
 * registration and for policies.
 *
 * @public
 */
export const pluginLifecyclePluginPermissions = [
  pluginLifecycleReadPermission,
  pluginLifecycleOperatePermission,
  pluginLifecycleDeployPermission,
  pluginLifecycleConfigurePermission,
  pluginLifecycleConfigRevealPermission,
  pluginLifecycleProxyWritePermission,
  pluginLifecycleDeploymentApprovePermission,
];

/** Every permission of the plugin. @public */
export const pluginLifecyclePermissions = [
  ...pluginLifecyclePluginPermissions,
  pluginLifecycleServiceRegisterPermission,
];

/**
 * The permission a lifecycle action needs: starting, stopping and
 * restarting operate a plugin; installing, updating and uninstalling deploy
 * it; configuring configures it.
 *
 * @public
 */
export function pluginLifecyclePermissionForAction(
  action: LifecycleAction,
): PluginLifecyclePluginPermission {
  switch (action) {
    case 'install':
    case 'update':
    case 'uninstall':
      return pluginLifecycleDeployPermission;
    case 'configure':
      return pluginLifecycleConfigurePermission;
    default:
      return pluginLifecycleOperatePermission;
  }
}

/**
 * The permission an action on a deployment needs (on its plugin):
 * approving and rejecting need `deployment.approve`, so that approvers can
 * be a role of their own; the other actions deploy.
 *
 * @public
 */
export function pluginLifecyclePermissionForDeploymentAction(
  action: DeploymentAction,
): PluginLifecyclePluginPermission {
  return action === 'approve' || action === 'reject'
    ? pluginLifecycleDeploymentApprovePermission
    : pluginLifecycleDeployPermission;
}
