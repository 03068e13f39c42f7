/*
 * The demo's permission policy: a role setup to start from.
 *
 * - Members of the platform team (`permissionPolicy.platformTeam` in
 *   app-config: user or group entity refs) may do everything.
 * - The owners of a catalog entity may operate, deploy and configure the
 *   managed plugins linked to it, and write through the proxy to them.
 * - Everyone signed in may read managed plugins and use the rest of the demo
 *   (catalog, scaffolder) as before.
 * - Secrets (config.reveal) and registering services in discovery are for the
 *   platform team only.
 */
import {
  coreServices,
  createBackendModule,
} from '@backstage/backend-plugin-api';
import { Config } from '@backstage/config';
import {
  AuthorizeResult,
  PolicyDecision,
  isResourcePermission,
} from '@backstage/plugin-permission-common';
import {
  PermissionPolicy,
  PolicyQuery,
  PolicyQueryUser,
} from '@backstage/plugin-permission-node';
import { policyExtensionPoint } from '@backstage/plugin-permission-node/alpha';
import {
  PLUGIN_LIFECYCLE_PLUGIN_RESOURCE_TYPE,
  pluginLifecycleConfigurePermission,
  pluginLifecycleDeployPermission,
  pluginLifecycleOperatePermission,
  pluginLifecycleProxyWritePermission,
  pluginLifecycleReadPermission,
} from '@internal/plugin-lifecycle-common';
import {
  createPluginLifecyclePluginConditionalDecision,
  pluginLifecyclePluginConditions,
} from '@internal/plugin-lifecycle-backend';

/** What an entity's owners may do to its managed plugins. */
const OWNER_PERMISSIONS = new Set(
  [
    pluginLifecycleOperatePermission,
    pluginLifecycleDeployPermission,
    pluginLifecycleConfigurePermission,
    pluginLifecycleProxyWritePermission,
  ].map(p => p.name),
);

/** Who is the platform team when app-config does not say. */
const DEFAULT_PLATFORM_TEAM = ['group:default/platform-team'];

/**
 * The demo's role policy (see the top of this file).
 *
 * @public
 */
export class DemoPermissionPolicy implements PermissionPolicy {
  readonly #platformTeam: string[];
  readonly #ownershipOf: (user: PolicyQueryUser) => Promise<string[]>;

  private constructor(options: {
    platformTeam: string[];
    ownershipOf: (user: PolicyQueryUser) => Promise<string[]>;
  }) {
    this.#platformTeam = options.platformTeam;
    this.#ownershipOf = options.ownershipOf;
  }

  static fromConfig(
    config: Config,
    options: { ownershipOf: (user: PolicyQueryUser) => Promise<string[]> },
  ) {
    return new DemoPermissionPolicy({
      platformTeam:
        config.getOptionalStringArray('permissionPolicy.platformTeam') ??
        DEFAULT_PLATFORM_TEAM,
      ownershipOf: options.ownershipOf,
    });
  }

  async handle(
    request: PolicyQuery,
    user?: PolicyQueryUser,
  ): Promise<PolicyDecision> {
    const { permission } = request;
    if (!permission.name.startsWith('plugin-lifecycle.')) {
      return { result: AuthorizeResult.ALLOW };
    }
    if (!user) return { result: AuthorizeResult.DENY };
    const claims = await this.#ownershipOf(user);
    if (this.#platformTeam.some(ref => claims.includes(ref))) {
      return { result: AuthorizeResult.ALLOW };
    }
    if (permission.name === pluginLifecycleReadPermission.name) {
      return { result: AuthorizeResult.ALLOW };
    }
    if (
      OWNER_PERMISSIONS.has(permission.name) &&
      isResourcePermission(permission, PLUGIN_LIFECYCLE_PLUGIN_RESOURCE_TYPE)
    ) {
      return createPluginLifecyclePluginConditionalDecision(
        permission,
        pluginLifecyclePluginConditions.isEntityOwner({ claims }),
      );
    }
    return { result: AuthorizeResult.DENY };
  }
}

/**
 * Installs {@link DemoPermissionPolicy} in the permission backend.
 *
 * @public
 */
export const demoPermissionPolicyModule = createBackendModule({
  pluginId: 'permission',
  moduleId: 'demo-policy',
  register(reg) {
    reg.registerInit({
      deps: {
        policy: policyExtensionPoint,
        config: coreServices.rootConfig,
        userInfo: coreServices.userInfo,
      },
      async init({ policy, config, userInfo }) {
        policy.setPolicy(
          DemoPermissionPolicy.fromConfig(config, {
            ownershipOf: async user =>
              (await userInfo.getUserInfo(user.credentials))
                .ownershipEntityRefs,
          }),
        );
      },
    });
  },
});
