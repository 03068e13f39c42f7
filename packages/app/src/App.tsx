import { createApp } from '@backstage/frontend-defaults';
import catalogPlugin from '@backstage/plugin-catalog/alpha';
import orgPlugin from '@backstage/plugin-org/alpha';
import scaffolderPlugin from '@backstage/plugin-scaffolder/alpha';
import signalsPlugin from '@backstage/plugin-signals/alpha';
import userSettingsPlugin from '@backstage/plugin-user-settings/alpha';
import pluginLifecyclePlugin from '@internal/plugin-lifecycle/alpha';
import { navModule } from './modules/nav';

/**
 * The app. With `app.packages: all` in app-config.yaml the build also
 * discovers every frontend plugin in package.json; listing the main ones here
 * keeps them in the app when discovery is not available (tests) and is
 * harmless otherwise, since features are deduplicated by plugin id.
 */
export default createApp({
  features: [
    catalogPlugin,
    scaffolderPlugin,
    orgPlugin,
    userSettingsPlugin,
    // Live updates of the lifecycle tabs and toasts (the UI polls without it).
    signalsPlugin,
    pluginLifecyclePlugin,
    navModule,
  ],
});
