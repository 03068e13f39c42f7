/*
 * The demo Backstage backend: catalog, scaffolder, permissions, guest auth
 * and the plugin-lifecycle plugin with its scaffolder actions.
 */
import { createBackend } from '@backstage/backend-defaults';
import { managedPluginDiscoveryServiceFactory } from '@internal/plugin-lifecycle-backend';

const backend = createBackend();

// discovery.getBaseUrl('<managed plugin>') goes through the plugin-lifecycle
// load balancer; every other plugin id resolves as before.
backend.add(managedPluginDiscoveryServiceFactory);

backend.add(import('@backstage/plugin-app-backend'));

// auth: guest sign-in for local use (see app-config.production.yaml for more)
backend.add(import('@backstage/plugin-auth-backend'));
backend.add(import('@backstage/plugin-auth-backend-module-guest-provider'));

// catalog
backend.add(import('@backstage/plugin-catalog-backend'));
backend.add(
  import('@backstage/plugin-catalog-backend-module-scaffolder-entity-model'),
);
backend.add(import('@backstage/plugin-catalog-backend-module-logs'));

// permissions; replace the allow-all policy with your own
backend.add(import('@backstage/plugin-permission-backend'));
backend.add(
  import('@backstage/plugin-permission-backend-module-allow-all-policy'),
);

// scaffolder, with the plugin-lifecycle actions
backend.add(import('@backstage/plugin-scaffolder-backend'));
backend.add(import('@internal/scaffolder-backend-module-plugin-lifecycle'));

// plugin lifecycle orchestration
backend.add(import('@internal/plugin-lifecycle-backend'));

backend.start();
