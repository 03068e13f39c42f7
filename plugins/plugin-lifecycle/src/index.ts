/**
 * Frontend of the plugin-lifecycle plugins: an entity content tab that shows
 * and drives the lifecycle of the plugin service an entity is annotated with.
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
export { pluginLifecycleApiRef, type PluginLifecycleApi } from './api';
export {
  PluginLifecycleClient,
  PLUGIN_ID_ANNOTATION,
} from '@internal/plugin-lifecycle-common';
