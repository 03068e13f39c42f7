/**
 * The plugin-lifecycle backend plugin.
 *
 * @packageDocumentation
 */
export { pluginLifecyclePlugin as default } from './plugin';
export { PluginLifecycleOrchestrationSystem } from './system/PluginLifecycleOrchestrationSystem';
export type {
  ActionOptions,
  InstallPluginOptions,
  SystemMetrics,
} from './system/PluginLifecycleOrchestrationSystem';
export { ProcessRuntime } from './engines/runtime/ProcessRuntime';
export { ExternalRuntime } from './engines/runtime/ExternalRuntime';
