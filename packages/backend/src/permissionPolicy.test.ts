import { ConfigReader } from '@backstage/config';
import {
  AuthorizeResult,
  Permission,
  createPermission,
} from '@backstage/plugin-permission-common';
import { PolicyQueryUser } from '@backstage/plugin-permission-node';
import {
  pluginLifecycleConfigRevealPermission,
  pluginLifecycleConfigurePermission,
  pluginLifecycleDeployPermission,
  pluginLifecycleOperatePermission,
  pluginLifecycleProxyWritePermission,
  pluginLifecycleReadPermission,
  pluginLifecycleServiceRegisterPermission,
} from '@internal/plugin-lifecycle-common';
import { DemoPermissionPolicy } from './permissionPolicy';

/** Users by entity ref, with their ownership refs (the user and its groups). */
const claims: Record<string, string[]> = {
  'user:default/pat': ['user:default/pat', 'group:default/platform-team'],
  'user:default/owen': ['user:default/owen', 'group:default/guests'],
  'user:development/guest': ['user:development/guest'],
};

const userOf = (ref: string) => ({ ref } as unknown as PolicyQueryUser);

function policy(config: object = {}) {
  return DemoPermissionPolicy.fromConfig(new ConfigReader(config), {
    ownershipOf: async user =>
      claims[(user as unknown as { ref: string }).ref] ?? [],
  });
}

const decide = (
  p: DemoPermissionPolicy,
  permission: Permission,
  ref?: string,
) => p.handle({ permission }, ref ? userOf(ref) : undefined);

describe('DemoPermissionPolicy', () => {
  const every = [
    pluginLifecycleReadPermission,
    pluginLifecycleOperatePermission,
    pluginLifecycleDeployPermission,
    pluginLifecycleConfigurePermission,
    pluginLifecycleConfigRevealPermission,
    pluginLifecycleProxyWritePermission,
    pluginLifecycleServiceRegisterPermission,
  ];

  it('gives the platform team everything', async () => {
    for (const permission of every) {
      expect(await decide(policy(), permission, 'user:default/pat')).toEqual({
        result: AuthorizeResult.ALLOW,
      });
    }
  });

  it("gives an entity's owners operate, deploy, configure and proxy writes on its plugins only", async () => {
    for (const permission of [
      pluginLifecycleOperatePermission,
      pluginLifecycleDeployPermission,
      pluginLifecycleConfigurePermission,
      pluginLifecycleProxyWritePermission,
    ]) {
      expect(await decide(policy(), permission, 'user:default/owen')).toEqual({
        result: AuthorizeResult.CONDITIONAL,
        pluginId: 'plugin-lifecycle',
        resourceType: 'plugin-lifecycle-plugin',
        conditions: {
          rule: 'IS_ENTITY_OWNER',
          resourceType: 'plugin-lifecycle-plugin',
          params: { claims: claims['user:default/owen'] },
        },
      });
    }
  });

  it('lets everyone signed in read, and keeps secrets and discovery for the platform team', async () => {
    const owen = (permission: Permission) =>
      decide(policy(), permission, 'user:default/owen');
    expect((await owen(pluginLifecycleReadPermission)).result).toBe(
      AuthorizeResult.ALLOW,
    );
    expect((await owen(pluginLifecycleConfigRevealPermission)).result).toBe(
      AuthorizeResult.DENY,
    );
    expect((await owen(pluginLifecycleServiceRegisterPermission)).result).toBe(
      AuthorizeResult.DENY,
    );
    // Signed out: nothing of plugin-lifecycle.
    expect((await decide(policy(), pluginLifecycleReadPermission)).result).toBe(
      AuthorizeResult.DENY,
    );
  });

  it('leaves the rest of Backstage open to everyone, as the demo was', async () => {
    const catalogRead = createPermission({
      name: 'catalog.entity.read',
      attributes: { action: 'read' },
    });
    expect(
      (await decide(policy(), catalogRead, 'user:development/guest')).result,
    ).toBe(AuthorizeResult.ALLOW);
  });

  it('takes the platform team from app-config (the development guest in the demo)', async () => {
    const configured = policy({
      permissionPolicy: {
        platformTeam: ['group:default/platform-team', 'user:development/guest'],
      },
    });
    const guest = (p: DemoPermissionPolicy) =>
      decide(
        p,
        pluginLifecycleConfigRevealPermission,
        'user:development/guest',
      );
    expect((await guest(configured)).result).toBe(AuthorizeResult.ALLOW);
    expect((await guest(policy())).result).toBe(AuthorizeResult.DENY);
  });
});
