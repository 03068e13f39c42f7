import { NotFoundError } from '@backstage/errors';
import {
  BatchRequest,
  pluginLifecycleDeployPermission,
  pluginLifecyclePermissionForAction,
} from '@internal/plugin-lifecycle-common';
import type { PluginLifecycleOrchestrationSystem } from '../system/PluginLifecycleOrchestrationSystem';
import type { Access } from './RouteAuthorizer';

type Plugins = Pick<
  PluginLifecycleOrchestrationSystem,
  'findPluginRecord' | 'getOperation'
>;

/**
 * Deploy on a plugin. One that does not exist yet is judged as the
 * request would create it (its entityRef and tenant), so that the owners
 * of an entity may install a plugin for it under a conditional policy.
 */
export async function deployOn(
  system: Plugins,
  pluginId: string,
  body: unknown,
): Promise<Access> {
  const access = {
    permission: pluginLifecycleDeployPermission,
    resourceRef: pluginId,
  };
  if (await system.findPluginRecord(pluginId)) return access;
  const { tenant, entityRef } = (body ?? {}) as Record<string, unknown>;
  return {
    ...access,
    candidate: {
      id: pluginId,
      tenant: typeof tenant === 'string' ? tenant : '',
      entityRef: typeof entityRef === 'string' ? entityRef : undefined,
    },
  };
}

/**
 * The access an operation's route needs: `permission` on its plugin, or
 * (an unknown id) the permission on every plugin, so that only a caller
 * who could see it anyway learns that it does not exist.
 */
export async function onOperation(
  system: Plugins,
  operationId: string,
  permission: (type: string) => Access['permission'],
): Promise<Access> {
  const operation = await system.getOperation(operationId).catch(error => {
    if (error instanceof NotFoundError) return undefined;
    throw error;
  });
  return operation
    ? ({
        permission: permission(operation.type),
        resourceRef: operation.pluginId,
      } as Access)
    : ({ permission: permission('') } as Access);
}

/**
 * A batch needs, on each of its plugins, the permission of its action. A
 * body that is not a batch needs deploy on every plugin (it is refused as
 * a 400 after that).
 */
export async function batchAccess(
  system: Plugins,
  body: unknown,
): Promise<Access[]> {
  // A release train: deploy on each plugin it updates.
  const updates = (body as { updates?: unknown } | undefined)?.updates;
  if (Array.isArray(updates)) {
    const ids = updates
      .map(u => (u as { pluginId?: unknown } | undefined)?.pluginId)
      .filter((id): id is string => typeof id === 'string');
    return ids.length === 0
      ? [{ permission: pluginLifecycleDeployPermission }]
      : ids.map(id => ({
          permission: pluginLifecycleDeployPermission,
          resourceRef: id,
        }));
  }
  const operations = (body as Partial<BatchRequest> | undefined)?.operations;
  const items = Array.isArray(operations)
    ? operations.filter(
        (o): o is BatchRequest['operations'][0] =>
          typeof o?.pluginId === 'string' && typeof o?.action === 'string',
      )
    : [];
  if (items.length === 0) {
    return [{ permission: pluginLifecycleDeployPermission }];
  }
  // A plugin the batch installs is judged, for its later actions too, as
  // the install describes it.
  const created = new Map<string, Access>();
  const accesses: Access[] = [];
  for (const o of items) {
    if (o.action === 'install') {
      const access = await deployOn(system, o.pluginId, o.install);
      if ('candidate' in access && access.candidate) {
        created.set(o.pluginId, access);
      }
      accesses.push(access);
      continue;
    }
    const candidate = created.get(o.pluginId);
    accesses.push({
      permission: pluginLifecyclePermissionForAction(o.action),
      resourceRef: o.pluginId,
      ...(candidate && 'candidate' in candidate
        ? { candidate: candidate.candidate }
        : {}),
    });
  }
  return accesses;
}
