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

/**
 * See secret and sensitive configuration values in plaintext.
 *
 * @public
 */
export const pluginLifecycleConfigRevealPermission = createPermission({
  name: 'plugin-lifecycle.config.reveal',
  attributes: { action: 'read' },
});

/** @public */
export const pluginLifecyclePermissions = [
  pluginLifecycleReadPermission,
  pluginLifecycleManagePermission,
  pluginLifecycleConfigRevealPermission,
];
