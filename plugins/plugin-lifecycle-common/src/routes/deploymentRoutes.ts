import { z } from 'zod';
import {
  Deployment,
  DeploymentAction,
  deploymentActionRequestSchema,
  listDeploymentsQuerySchema,
} from '../api/deployments';
import { Page, pluginIdSchema } from '../api/schemas';
import { OperationAccepted } from '../api/types';
import {
  pluginLifecycleDeployPermission,
  pluginLifecycleDeploymentApprovePermission,
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

/** A route of one action on a deployment. */
const action = (
  name: DeploymentAction,
  summary: string,
  extra: { successNote?: string } = {},
) =>
  defineRoute({
    method: 'post',
    path: `/deployments/{deploymentId}/${name}`,
    summary,
    permission:
      name === 'approve' || name === 'reject'
        ? pluginLifecycleDeploymentApprovePermission
        : pluginLifecycleDeployPermission,
    permissionNote:
      "on the deployment's plugin (on every plugin for an unknown id)",
    params: deploymentParams,
    query: undefined,
    body: deploymentActionRequestSchema,
    response: described<DeploymentActionResult>(
      name === 'rollback' ? 'Deployment | OperationAccepted' : 'Deployment',
    ),
    responseDescription: 'The deployment as the action left it',
    responses: {
      ...(extra.successNote
        ? { '202': { description: extra.successNote } }
        : {}),
      '400': 'error',
      '403': 'error',
      '404': 'error',
      '409': {
        error: true,
        description: "The deployment's phase does not allow the action",
      },
    },
  });

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
    permissionNote: "a conditional decision keeps the deployments of the plugins it allows",
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
  approveDeployment: action(
    'approve',
    'Approve a deployment at its approval gate (recorded with who and why)',
  ),
  rejectDeployment: action(
    'reject',
    'Reject a deployment at its approval gate: it rolls back',
  ),
  promoteDeployment: action(
    'promote',
    'End the current pause, wait or analysis (full: skip to the final steps; winner: an A/B winner)',
  ),
  pauseDeployment: action('pause', 'Pause a progressing deployment'),
  resumeDeployment: action('resume', 'Resume a paused deployment'),
  abortDeployment: action(
    'abort',
    'Stop a deployment: traffic back to the old version, then it ends aborted',
  ),
  retryDeployment: action(
    'retry',
    'Start a rolled-back, aborted or failed deployment again from its first step',
  ),
  rollbackDeployment: action(
    'rollback',
    'Roll a deployment back (an active one: traffic back to the old version; a succeeded one: its update is rolled back)',
    {
      successNote:
        'A succeeded deployment: the update operation that rolls it back was queued (OperationAccepted)',
    },
  ),
};

/** The route of each deployment action. @public */
export const deploymentActionRoutes: Record<
  DeploymentAction,
  (typeof deploymentRoutes)['approveDeployment']
> = {
  approve: deploymentRoutes.approveDeployment,
  reject: deploymentRoutes.rejectDeployment,
  promote: deploymentRoutes.promoteDeployment,
  pause: deploymentRoutes.pauseDeployment,
  resume: deploymentRoutes.resumeDeployment,
  abort: deploymentRoutes.abortDeployment,
  retry: deploymentRoutes.retryDeployment,
  rollback: deploymentRoutes.rollbackDeployment,
};
