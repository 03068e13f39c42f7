import { usePermission } from '@backstage/plugin-permission-react';
import {
  LifecycleAction,
  pluginLifecycleConfigRevealPermission,
  pluginLifecyclePermissionForAction,
  pluginLifecycleConfigurePermission,
  pluginLifecycleDeployPermission,
  pluginLifecycleDeploymentApprovePermission,
  pluginLifecycleOperatePermission,
} from '@internal/plugin-lifecycle-common';

/** What the signed-in user may do to one managed plugin. */
export interface PluginPermissions {
  /** Start, stop, restart. */
  operate: boolean;
  /** Install, update, uninstall. */
  deploy: boolean;
  /** Configuration writes and rollbacks, probes. */
  configure: boolean;
  /** See secret values in plaintext. */
  reveal: boolean;
  /** Approve or reject a deployment at an approval gate. */
  approve: boolean;
  /** Whether the user may carry out this lifecycle action. */
  allows: (action: LifecycleAction) => boolean;
}

/**
 * The user's permissions on a managed plugin (its id is the resource ref),
 * for enabling buttons; the backend checks each request again. Each is
 * false until the permission API has answered.
 */
export function usePluginPermissions(pluginId: string): PluginPermissions {
  const resourceRef = pluginId;
  const operate = usePermission({
    permission: pluginLifecycleOperatePermission,
    resourceRef,
  });
  const deploy = usePermission({
    permission: pluginLifecycleDeployPermission,
    resourceRef,
  });
  const configure = usePermission({
    permission: pluginLifecycleConfigurePermission,
    resourceRef,
  });
  const reveal = usePermission({
    permission: pluginLifecycleConfigRevealPermission,
    resourceRef,
  });
  const approve = usePermission({
    permission: pluginLifecycleDeploymentApprovePermission,
    resourceRef,
  });
  const byName: Record<string, boolean> = {
    [pluginLifecycleOperatePermission.name]: operate.allowed,
    [pluginLifecycleDeployPermission.name]: deploy.allowed,
    [pluginLifecycleConfigurePermission.name]: configure.allowed,
  };
  return {
    operate: operate.allowed,
    deploy: deploy.allowed,
    configure: configure.allowed,
    reveal: reveal.allowed,
    approve: approve.allowed,
    allows: action =>
      byName[pluginLifecyclePermissionForAction(action).name] ?? false,
  };
}
