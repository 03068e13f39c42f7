import { createBackendModule } from '@backstage/backend-plugin-api';
import { scaffolderActionsExtensionPoint } from '@backstage/plugin-scaffolder-node';
import { pluginLifecycleServiceRef } from '@internal/plugin-lifecycle-node';
import { createInstallAction } from './actions/install';

/**
 * Scaffolder actions for managed plugins.
 *
 * @public
 */
export const scaffolderModulePluginLifecycle = createBackendModule({
  pluginId: 'scaffolder',
  moduleId: 'plugin-lifecycle',
  register(env) {
    env.registerInit({
      deps: {
        scaffolder: scaffolderActionsExtensionPoint,
        pluginLifecycle: pluginLifecycleServiceRef,
      },
      async init({ scaffolder, pluginLifecycle }) {
        scaffolder.addActions(createInstallAction({ pluginLifecycle }));
      },
    });
  },
});
