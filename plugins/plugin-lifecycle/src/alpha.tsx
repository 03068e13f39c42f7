import {
  ApiBlueprint,
  AppRootElementBlueprint,
  createFrontendPlugin,
  discoveryApiRef,
  fetchApiRef,
} from '@backstage/frontend-plugin-api';
import { Entity } from '@backstage/catalog-model';
import { EntityContentBlueprint } from '@backstage/plugin-catalog-react/alpha';
import {
  PLUGIN_ID_ANNOTATION,
  PluginLifecycleClient,
} from '@internal/plugin-lifecycle-common';
import { pluginLifecycleApiRef } from './api';
import { PluginLifecycleNotifier } from './components/live/PluginLifecycleNotifier';

/**
 * Whether an entity is linked to a managed plugin.
 *
 * @alpha
 */
export function isPluginLifecycleAvailable(entity: Entity): boolean {
  return Boolean(entity.metadata.annotations?.[PLUGIN_ID_ANNOTATION]);
}

/**
 * The plugin-lifecycle backend client as a utility API.
 *
 * @alpha
 */
export const pluginLifecycleApi = ApiBlueprint.make({
  params: defineParams =>
    defineParams({
      api: pluginLifecycleApiRef,
      deps: { discoveryApi: discoveryApiRef, fetchApi: fetchApiRef },
      factory: ({ discoveryApi, fetchApi }) =>
        new PluginLifecycleClient({ discoveryApi, fetchApi }),
    }),
});

/**
 * The "Lifecycle" tab of entities annotated with
 * `plugin-lifecycle.backstage.io/plugin-id`.
 *
 * @alpha
 */
export const entityLifecycleContent = EntityContentBlueprint.make({
  name: 'lifecycle',
  params: {
    path: 'lifecycle',
    title: 'Lifecycle',
    filter: isPluginLifecycleAvailable,
    loader: () =>
      import('./components/LifecycleTab').then(m => (
        <m.EntityLifecycleContent />
      )),
  },
});

/**
 * The "Configuration" tab of entities annotated with
 * `plugin-lifecycle.backstage.io/plugin-id`: the managed plugin's effective
 * configuration per environment, an editor for its layers and their history.
 *
 * @alpha
 */
export const entityConfigurationContent = EntityContentBlueprint.make({
  name: 'configuration',
  params: {
    path: 'configuration',
    title: 'Configuration',
    filter: isPluginLifecycleAvailable,
    loader: () =>
      import('./components/ConfigurationTab').then(m => (
        <m.EntityConfigurationContent />
      )),
  },
});

/**
 * The "Health" tab of entities annotated with
 * `plugin-lifecycle.backstage.io/plugin-id`: the health monitor's verdict on
 * each running instance of the managed plugin and the state of its probes.
 *
 * @alpha
 */
export const entityHealthContent = EntityContentBlueprint.make({
  name: 'health',
  params: {
    path: 'health',
    title: 'Health',
    filter: isPluginLifecycleAvailable,
    loader: () =>
      import('./components/HealthTab').then(m => <m.EntityHealthContent />),
  },
});

/**
 * Toasts for the signed-in user when an operation or a deployment they
 * started ends, anywhere in the app. Needs Backstage signals (the
 * `@backstage/plugin-signals` app plugin and its backend): without them
 * there are no notices and it shows nothing.
 *
 * @alpha
 */
export const pluginLifecycleNotifier = AppRootElementBlueprint.make({
  name: 'notifier',
  params: { element: <PluginLifecycleNotifier /> },
});

/**
 * The plugin-lifecycle frontend plugin for the new frontend system.
 *
 * @alpha
 */
export default createFrontendPlugin({
  pluginId: 'plugin-lifecycle',
  title: 'Plugin Lifecycle',
  info: { packageJson: () => import('../package.json') },
  extensions: [
    pluginLifecycleApi,
    entityLifecycleContent,
    entityConfigurationContent,
    entityHealthContent,
    pluginLifecycleNotifier,
  ],
});
