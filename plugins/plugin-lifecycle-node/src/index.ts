/**
 * Node.js parts of the plugin-lifecycle plugins for other backend plugins and
 * modules: the runtime interface and its extension point, and a service ref
 * to drive managed plugins.
 *
 * @packageDocumentation
 */
export * from './runtime/types';
export * from './runtime/extensionPoint';
export * from './runtime/owners';
export * from './health/extensionPoint';
export * from './deployments/extensionPoint';
export * from './service/PluginLifecycleService';
