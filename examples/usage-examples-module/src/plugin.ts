import { createBackendPlugin } from '@backstage/backend-plugin-api';
import { pluginLifecycleServiceRef } from '@internal/plugin-lifecycle-node';
import { setPluginLifecycleOrchestrationSystem } from './orchestration';

/**
 * A backend plugin of its own (`plugin-lifecycle-examples`), so the calls
 * of the examples are made as another plugin would make them: with its
 * plugin-to-plugin token. (A module needs a plugin to belong to, and one of
 * plugin-lifecycle itself would call its own API as itself.) Its init
 * hands the service to `./orchestration`, whose functions the examples
 * import.
 *
 * @public
 */
export const pluginLifecycleExamplesPlugin = createBackendPlugin({
  pluginId: 'plugin-lifecycle-examples',
  register(env) {
    env.registerInit({
      deps: { pluginLifecycle: pluginLifecycleServiceRef },
      async init({ pluginLifecycle }) {
        setPluginLifecycleOrchestrationSystem(pluginLifecycle);
      },
    });
  },
});
