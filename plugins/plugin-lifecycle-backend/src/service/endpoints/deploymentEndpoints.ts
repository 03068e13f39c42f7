import { NotFoundError } from '@backstage/errors';
import {
  Deployment,
  DeploymentActionResult,
  deploymentRoutes as routes,
  PluginLifecyclePluginPermission,
  pluginLifecyclePermissionForDeploymentAction,
} from '@internal/plugin-lifecycle-common';
import { Router } from 'express';
import type { PluginLifecycleOrchestrationSystem } from '../../system/PluginLifecycleOrchestrationSystem';
import { nextCursor, readCursor } from '../paging';
import type { Access, ListFilter } from '../RouteAuthorizer';
import { parseInput } from '../routeAccess';
import { EndpointContext } from './EndpointContext';
import { mount } from './mount';
import { objectBody } from './requestBody';

/**
 * Deployments: the list (filtered to the plugins the caller may read), one
 * deployment, a plugin's deployments, and the actions on one, checked
 * on the deployment's plugin (approve and reject with
 * `deployment.approve`, the others with deploy).
 */
export function bindDeploymentEndpoints(
  router: Router,
  context: EndpointContext,
) {
  const { system, authorize, authorizeList, audited } = context;

  mount(router, routes.listDeployments, async (req, res) => {
    const { scope, filter: visible } = await authorizeList(
      req,
      routes.listDeployments.permission,
    );
    const { cursor, ...query } = parseInput(
      routes.listDeployments.query,
      req.query,
      'query',
    );
    const page = await system.listDeployments(
      { ...query, before: before(cursor) },
      scope,
    );
    // The cursor follows the page as read: a conditional policy may keep
    // fewer items than the limit.
    res.json({
      items: await readable(system, visible, page),
      ...nextCursor(page, query.limit, d => d.createdAt),
    });
  });

  mount(router, routes.getDeployment, async (req, res) => {
    const { deploymentId } = req.params;
    const access = await onDeployment(
      system,
      deploymentId,
      routes.getDeployment.permission,
    );
    const { scope } = await authorize(
      req,
      access.permission,
      access.resourceRef,
    );
    res.json(await system.getDeployment(deploymentId, scope));
  });

  mount(router, routes.listPluginDeployments, async (req, res) => {
    const { pluginId } = req.params;
    const { scope } = await authorize(
      req,
      routes.listPluginDeployments.permission,
      pluginId,
    );
    const { cursor, ...query } = parseInput(
      routes.listPluginDeployments.query,
      req.query,
      'query',
    );
    const items = await system.listPluginDeployments(
      pluginId,
      { ...query, before: before(cursor) },
      scope,
    );
    res.json({ items, ...nextCursor(items, query.limit, d => d.createdAt) });
  });

  mount(router, routes.deploymentAction, async (req, res) => {
    const { deploymentId, action } = parseInput(
      routes.deploymentAction.params,
      req.params,
      'path',
    );
    const body = objectBody(
      routes.deploymentAction.body,
      req.body ?? {},
      'request body',
    );
    const result = await audited(
      req,
      await onDeployment(
        system,
        deploymentId,
        pluginLifecyclePermissionForDeploymentAction(action),
      ),
      'deployment-action',
      { deploymentId, action },
      // The facade validates the body.
      ({ actor, scope }) =>
        system.deploymentAction(deploymentId, action, {
          ...body,
          userId: actor,
          scope,
        }),
      summary,
    );
    res.status(isDeployment(result) ? 200 : 202).json(result);
  });
}

/** What the audit record keeps of an action's answer. */
function summary(result: DeploymentActionResult) {
  return isDeployment(result)
    ? {
        deploymentId: result.id,
        phase: result.phase,
        currentStep: result.currentStep,
        message: result.message,
      }
    : result;
}

function isDeployment(result: DeploymentActionResult): result is Deployment {
  return 'phase' in result;
}

/** The creation time a `cursor` names: the next page holds older deployments. */
function before(cursor: string | undefined): string | undefined {
  return cursor === undefined ? undefined : readCursor(cursor, 'string');
}

/**
 * The access a deployment's route needs: `permission` on its plugin, or
 * (an unknown id) on every plugin, so that only a caller who could see it
 * anyway learns that it does not exist.
 */
async function onDeployment(
  system: PluginLifecycleOrchestrationSystem,
  deploymentId: string,
  permission: PluginLifecyclePluginPermission,
): Promise<Access> {
  const deployment = await system.getDeployment(deploymentId).catch(error => {
    if (error instanceof NotFoundError) return undefined;
    throw error;
  });
  return { permission, resourceRef: deployment?.pluginId };
}

/** The deployments of the plugins the list filter keeps. */
async function readable(
  system: PluginLifecycleOrchestrationSystem,
  visible: ListFilter,
  deployments: Deployment[],
): Promise<Deployment[]> {
  const ids = [...new Set(deployments.map(d => d.pluginId))];
  const plugins = (
    await Promise.all(ids.map(id => system.findPluginRecord(id)))
  ).flatMap(p =>
    p ? [{ id: p.id, tenant: p.tenant, entityRef: p.entityRef }] : [],
  );
  const allowed = new Set((await visible(plugins)).map(p => p.id));
  return deployments.filter(d => allowed.has(d.pluginId));
}
