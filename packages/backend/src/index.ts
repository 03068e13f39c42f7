/*
 * The demo Backstage backend: catalog, scaffolder, permissions, guest auth
 * and the plugin-lifecycle plugin with its scaffolder actions.
 */
import { createBackend } from '@backstage/backend-defaults';
import { managedPluginDiscoveryServiceFactory } from '@internal/plugin-lifecycle-backend';
import { demoPermissionPolicyModule } from './permissionPolicy';

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

// permissions: a role policy to start from (platform team, entity owners,
// readers); see permissionPolicy.ts and docs/security/permissions.md
backend.add(import('@backstage/plugin-permission-backend'));
backend.add(demoPermissionPolicyModule);

// scaffolder, with the plugin-lifecycle actions
backend.add(import('@backstage/plugin-scaffolder-backend'));
backend.add(import('@internal/scaffolder-backend-module-plugin-lifecycle'));

// plugin lifecycle orchestration
backend.add(import('@internal/plugin-lifecycle-backend'));
// the kubernetes runtime: adds itself only when pluginLifecycle.runtime.kubernetes is configured
backend.add(import('@internal/plugin-lifecycle-backend-module-kubernetes'));

// signals: pushes the lifecycle's changes to the browser over a websocket
// (without it, the UI polls)
backend.add(import('@backstage/plugin-signals-backend'));

backend.start();
