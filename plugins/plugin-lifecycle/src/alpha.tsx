import FleetIcon from '@material-ui/icons/DeviceHub';
import {
  ApiBlueprint,
  AppRootElementBlueprint,
  PageBlueprint,
  createFrontendPlugin,
  discoveryApiRef,
  fetchApiRef,
} from '@backstage/frontend-plugin-api';
import { Entity } from '@backstage/catalog-model';
import { Content } from '@backstage/core-components';
import {
  EntityCardBlueprint,
  EntityContentBlueprint,
} from '@backstage/plugin-catalog-react/alpha';
import {
  PLUGIN_ID_ANNOTATION,
  PluginLifecycleClient,
} from '@internal/plugin-lifecycle-common';
import { pluginLifecycleApiRef } from './api';
import { PluginLifecycleNotifier } from './components/live/PluginLifecycleNotifier';
import { fleetRouteRef } from './routes';

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
 * The "Plugin lifecycle" tab (path `lifecycle`) of entities annotated with
 * `plugin-lifecycle.backstage.io/plugin-id`; not just "Lifecycle", which the
 * catalog shows as a field of every entity (`spec.lifecycle`).
 *
 * @alpha
 */
export const entityLifecycleContent = EntityContentBlueprint.make({
  name: 'lifecycle',
  params: {
    path: 'lifecycle',
    title: 'Plugin lifecycle',
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
 * The "Deployments" tab of entities annotated with
 * `plugin-lifecycle.backstage.io/plugin-id`: the managed plugin's rollout
 * in progress, its earlier ones, and a form that starts an update.
 *
 * @alpha
 */
export const entityDeploymentsContent = EntityContentBlueprint.make({
  name: 'deployments',
  params: {
    path: 'deployments',
    title: 'Deployments',
    filter: isPluginLifecycleAvailable,
    loader: () =>
      import('./components/DeploymentsTab').then(m => (
        <m.EntityDeploymentsContent />
      )),
  },
});

/**
 * The fleet page at `/plugin-lifecycle`: every managed plugin with its
 * state, health, rollout and owner. Its title and icon make the app's
 * sidebar list it (nav items come from pages with a route ref).
 *
 * @alpha
 */
export const fleetPage = PageBlueprint.make({
  params: {
    path: '/plugin-lifecycle',
    title: 'Plugin fleet',
    icon: <FleetIcon />,
    routeRef: fleetRouteRef,
    loader: () =>
      import('./components/FleetPage').then(m => (
        <Content>
          <m.PluginLifecycleFleetContent />
        </Content>
      )),
  },
});

/**
 * A card on the Overview tab of entities annotated with
 * `plugin-lifecycle.backstage.io/plugin-id`: state, version, health and
 * active rollout of the managed plugin.
 *
 * @alpha
 */
export const entityOverviewCard = EntityCardBlueprint.make({
  name: 'overview',
  params: {
    // Beside "About": what a reader of the Overview looks at first.
    type: 'info',
    filter: isPluginLifecycleAvailable,
    loader: () =>
      import('./components/OverviewCard').then(m => (
        <m.EntityPluginLifecycleCard />
      )),
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
  routes: { fleet: fleetRouteRef },
  extensions: [
    fleetPage,
    entityOverviewCard,
    pluginLifecycleApi,
    // Tabs in the order of the design: Lifecycle, Health, Deployments,
    // Configuration.
    entityLifecycleContent,
    entityHealthContent,
    entityDeploymentsContent,
    entityConfigurationContent,
    pluginLifecycleNotifier,
  ],
});
