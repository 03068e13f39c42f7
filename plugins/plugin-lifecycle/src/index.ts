/**
 * Frontend of the plugin-lifecycle plugins: entity content tabs that show and
 * drive the lifecycle, the health, the deployments and the configuration of the plugin service an entity
 * is annotated with.
 *
 * The new-frontend-system plugin is the default export of
 * `@internal/plugin-lifecycle/alpha`.
 *
 * @packageDocumentation
 */
export {
  EntityLifecycleContent,
  type EntityLifecycleContentProps,
} from './components/LifecycleTab';
export { EntityConfigurationContent } from './components/ConfigurationTab';
export {
  EntityHealthContent,
  type EntityHealthContentProps,
} from './components/HealthTab';
export { PluginLifecycleNotifier } from './components/live/PluginLifecycleNotifier';
export { EntityDeploymentsContent } from './components/DeploymentsTab';
export {
  PluginLifecycleFleetPage,
  PluginLifecycleFleetContent,
} from './components/FleetPage';
export { EntityPluginLifecycleCard } from './components/OverviewCard';
export { pluginLifecycleApiRef, type PluginLifecycleApi } from './api';
export {
  PluginLifecycleClient,
  PLUGIN_ID_ANNOTATION,
} from '@internal/plugin-lifecycle-common';
