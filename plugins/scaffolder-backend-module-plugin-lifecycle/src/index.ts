/**
 * Scaffolder actions for the plugin-lifecycle plugins.
 *
 * @packageDocumentation
 */
export { scaffolderModulePluginLifecycle as default } from './module';
export { createInstallAction } from './actions/install';
export { createUpdateAction } from './actions/update';
export { createConfigureAction } from './actions/configure';
export { createUninstallAction } from './actions/uninstall';
export { createMaintenanceAction } from './actions/maintenance';
export { createWaitAction } from './actions/wait';
export {
  createPluginLifecycleClientFor,
  type PluginLifecycleClientFor,
} from './actions/client';
