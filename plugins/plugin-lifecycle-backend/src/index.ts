/**
 * The plugin-lifecycle backend plugin.
 *
 * @packageDocumentation
 */
export { pluginLifecyclePlugin as default } from './plugin';
export { PluginLifecycleOrchestrationSystem } from './system/PluginLifecycleOrchestrationSystem';
export { createOrchestrationSystem } from './wiring/createOrchestrationSystem';
export type { OrchestrationSystemOptions } from './wiring/createOrchestrationSystem';
export type {
  ActionOptions,
  InstallPluginOptions,
  SystemMetrics,
} from './system/PluginLifecycleOrchestrationSystem';
export { ProcessRuntime } from './engines/runtime/ProcessRuntime';
export { ExternalRuntime } from './engines/runtime/ExternalRuntime';
export {
  ManagedPluginDiscovery,
  managedPluginDiscoveryServiceFactory,
} from './engines/discovery/discoveryServiceFactory';
export type { ManagedPluginRouting } from './engines/discovery/discoveryServiceFactory';
export { HealthMonitor } from './engines/health/HealthMonitor';
export { ServiceDiscovery } from './engines/discovery/ServiceDiscovery';
export {
  createPluginLifecyclePluginConditionalDecision,
  pluginLifecyclePluginConditions,
  pluginLifecyclePluginResourceRef,
  pluginLifecyclePluginRules,
} from './permissions/rules';
export type {
  PluginLifecyclePluginFilter,
  PluginLifecyclePluginResource,
} from './permissions/rules';
export type {
  DeploymentEvent,
  HealthCheckFailure,
  HealthVerdictChange,
  OperationEventSummary,
  ServiceEvent,
  StateChange,
  SystemEventEnvelope,
  SystemEventListeners,
  SystemEventMap,
  SystemEventName,
} from './events/eventMap';
export type { TenantScope } from './domain/tenancy';
