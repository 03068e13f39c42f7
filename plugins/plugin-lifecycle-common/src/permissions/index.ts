import { createPermission } from '@backstage/plugin-permission-common';

/**
 * Read managed plugins, their state, history and operations.
 *
 * @public
 */
export const pluginLifecycleReadPermission = createPermission({
  name: 'plugin-lifecycle.plugin.read',
  attributes: { action: 'read' },
});

/**
 * Change managed plugins: install, start, stop, uninstall, update, configure.
 *
 * @public
 */
export const pluginLifecycleManagePermission = createPermission({
  name: 'plugin-lifecycle.plugin.manage',
  attributes: { action: 'update' },
});

/** @public */
export const pluginLifecyclePermissions = [
  pluginLifecycleReadPermission,
  pluginLifecycleManagePermission,
];
