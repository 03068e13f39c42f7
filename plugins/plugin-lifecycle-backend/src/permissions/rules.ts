import {
  createConditionExports,
  createPermissionResourceRef,
  createPermissionRule,
} from '@backstage/plugin-permission-node';
import { PLUGIN_LIFECYCLE_PLUGIN_RESOURCE_TYPE } from '@internal/plugin-lifecycle-common';
import { z } from 'zod';

/**
 * A managed plugin as permission rules see it: its id, tenant, linked
 * catalog entity and that entity's owners (entity refs, from the catalog's
 * `ownedBy` relations).
 *
 * @public
 */
export interface PluginLifecyclePluginResource {
  id: string;
  tenant: string;
  entityRef?: string;
  owners: string[];
}

/**
 * What a rule means as a filter on plugins. Lists are filtered in memory with
 * the rules' `apply`, so this is only for policies and tools that inspect
 * the criteria.
 *
 * @public
 */
export type PluginLifecyclePluginFilter = {
  property: 'owners' | 'tenant';
  values: string[];
};

/**
 * The managed plugin resource type of the plugin-lifecycle backend.
 *
 * @public
 */
export const pluginLifecyclePluginResourceRef = createPermissionResourceRef<
  PluginLifecyclePluginResource,
  PluginLifecyclePluginFilter
>().with({
  pluginId: 'plugin-lifecycle',
  resourceType: PLUGIN_LIFECYCLE_PLUGIN_RESOURCE_TYPE,
});

/** The claims of the user: `user.identity.ownershipEntityRefs` in a policy. */
const claimsSchema = z.object({
  claims: z
    .array(z.string())
    .describe(
      'The ownership entity refs of the user (the user and its groups)',
    ),
});

/**
 * Allows a plugin whose catalog entity is owned by one of the claims.
 *
 * @public
 */
export const isEntityOwner = createPermissionRule({
  name: 'IS_ENTITY_OWNER',
  description:
    "Allow managed plugins whose catalog entity (the plugin's entityRef) is owned by the user or one of its groups",
  resourceRef: pluginLifecyclePluginResourceRef,
  paramsSchema: claimsSchema,
  apply: (resource, { claims }) =>
    resource.owners.some(owner => claims.includes(owner)),
  toQuery: ({ claims }) => ({ property: 'owners', values: claims }),
});

/**
 * Allows a plugin in one of the given tenants.
 *
 * @public
 */
export const hasTenant = createPermissionRule({
  name: 'HAS_TENANT',
  description: 'Allow managed plugins in one of the given tenants',
  resourceRef: pluginLifecyclePluginResourceRef,
  paramsSchema: z.object({
    tenants: z.array(z.string()).describe('Tenant ids'),
  }),
  apply: (resource, { tenants }) => tenants.includes(resource.tenant),
  toQuery: ({ tenants }) => ({ property: 'tenant', values: tenants }),
});

/** Every rule of the managed plugin resource type. @public */
export const pluginLifecyclePluginRules = { isEntityOwner, hasTenant };

const { conditions, createConditionalDecision } = createConditionExports({
  resourceRef: pluginLifecyclePluginResourceRef,
  rules: pluginLifecyclePluginRules,
});

/**
 * Conditions for policies: `pluginLifecyclePluginConditions.isEntityOwner({
 * claims: user.identity.ownershipEntityRefs })`.
 *
 * @public
 */
export const pluginLifecyclePluginConditions = conditions;

/**
 * Wraps conditions into a conditional decision for a managed plugin permission.
 *
 * @public
 */
export const createPluginLifecyclePluginConditionalDecision =
  createConditionalDecision;
