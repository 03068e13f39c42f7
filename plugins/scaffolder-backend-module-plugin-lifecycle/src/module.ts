import {
  coreServices,
  createBackendModule,
} from '@backstage/backend-plugin-api';
import { scaffolderActionsExtensionPoint } from '@backstage/plugin-scaffolder-node';
import { pluginLifecycleServiceRef } from '@internal/plugin-lifecycle-node';
import { createPluginLifecycleClientFor } from './actions/client';
import { createConfigureAction } from './actions/configure';
import { createInstallAction } from './actions/install';
import { createMaintenanceAction } from './actions/maintenance';
import { createUninstallAction } from './actions/uninstall';
import { createUpdateAction } from './actions/update';
import { createWaitAction } from './actions/wait';

/**
 * Scaffolder actions for managed plugins: `plugin-lifecycle:install`,
 * `:update`, `:configure`, `:uninstall`, `:maintenance` and `:wait`, each
 * acting with the credentials of the user who runs the template.
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
        auth: coreServices.auth,
        discovery: coreServices.discovery,
      },
      async init({ scaffolder, pluginLifecycle, auth, discovery }) {
        const client = createPluginLifecycleClientFor({ auth, discovery });
        scaffolder.addActions(
          createInstallAction({ pluginLifecycle }),
          createUpdateAction({ client }),
          createConfigureAction({ client }),
          createUninstallAction({ client }),
          createMaintenanceAction({ client }),
          createWaitAction({ client }),
        );
      },
    });
  },
});
