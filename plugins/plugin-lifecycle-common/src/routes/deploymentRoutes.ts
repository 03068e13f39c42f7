import { z } from 'zod';
import {
  DEPLOYMENT_ACTIONS,
  Deployment,
  deploymentActionRequestSchema,
  listDeploymentsQuerySchema,
} from '../api/deployments';
import { Page, pluginIdSchema } from '../api/schemas';
import { OperationAccepted } from '../api/types';
import {
  pluginLifecycleDeployPermission,
  pluginLifecycleReadPermission,
} from '../permissions';
import { defineRoute, described } from './route';

const deploymentParams = z.object({
  deploymentId: z.string().describe('The id of the deployment'),
});

/**
 * What a deployment action answers: the deployment as the action left it,
 * or, for the rollback of a succeeded deployment, the update operation
 * that rolls it back (202).
 *
 * @public
 */
export type DeploymentActionResult = Deployment | OperationAccepted;

/**
 * The routes of deployments (rollouts of a plugin from one version to
 * another): reading them, and the actions a person takes on one.
 *
 * @public
 */
export const deploymentRoutes = {
  listDeployments: defineRoute({
    method: 'get',
    path: '/deployments',
    summary: 'Deployments, newest first',
    permission: pluginLifecycleReadPermission,
    permissionNote:
      'a conditional decision keeps the deployments of the plugins it allows',
    params: z.object({}),
    query: listDeploymentsQuerySchema,
    body: undefined,
    response: described<Page<Deployment>>('Page<Deployment>'),
    responseDescription: '{ items: Deployment[], nextCursor?: string }',
    responses: { '400': 'error' },
  }),
  getDeployment: defineRoute({
    method: 'get',
    path: '/deployments/{deploymentId}',
    summary:
      'A deployment: phase, steps, traffic per version, analysis and approvals',
    permission: pluginLifecycleReadPermission,
    permissionNote:
      "on the deployment's plugin (on every plugin for an unknown id)",
    params: deploymentParams,
    query: undefined,
    body: undefined,
    response: described<Deployment>('Deployment'),
    responseDescription: 'Deployment',
    responses: { '404': 'error' },
  }),
  listPluginDeployments: defineRoute({
    method: 'get',
    path: '/plugins/{pluginId}/deployments',
    summary: "The plugin's deployments, newest first",
    permission: pluginLifecycleReadPermission,
    params: z.object({ pluginId: pluginIdSchema }),
    query: listDeploymentsQuerySchema.omit({ pluginId: true }),
    body: undefined,
    response: described<Page<Deployment>>('Page<Deployment>'),
    responseDescription: '{ items: Deployment[], nextCursor?: string }',
    responses: { '400': 'error', '404': 'error' },
  }),
  deploymentAction: defineRoute({
    method: 'post',
    path: '/deployments/{deploymentId}/{action}',
    summary:
      'An action on a deployment: approve or reject it at an approval gate; promote (full: skip to the final steps; winner: an A/B winner), pause, resume, abort, retry; rollback (an active one: traffic back to the old version; a succeeded one: its update is rolled back)',
    permission: pluginLifecycleDeployPermission,
    permissionNote:
      "on the deployment's plugin (on every plugin for an unknown id); approve and reject need plugin-lifecycle.deployment.approve instead",
    params: deploymentParams.extend({
      action: z
        .enum(DEPLOYMENT_ACTIONS, {
          error: `must be one of ${DEPLOYMENT_ACTIONS.join(', ')}`,
        })
        .describe('What to do'),
    }),
    query: undefined,
    body: deploymentActionRequestSchema,
    response: described<DeploymentActionResult>('Deployment'),
    responseDescription: 'The deployment as the action left it',
    responses: {
      '202': {
        description:
          'rollback of a succeeded deployment: the update operation that rolls it back was queued (OperationAccepted)',
      },
      '400': 'error',
      '403': 'error',
      '404': 'error',
      '409': {
        error: true,
        description: "The deployment's phase does not allow the action",
      },
    },
  }),
};
