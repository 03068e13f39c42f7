/**
 * Scaffolder actions for the plugin-lifecycle plugins.
 *
 * @packageDocumentation
 */
export { scaffolderModulePluginLifecycle as default } from './module';
export { createInstallAction } from './actions/install';
