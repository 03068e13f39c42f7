import { z } from 'zod';
import { batchBodySchema, getOperationQuerySchema } from '../api/schemas';
import { BatchAccepted, Operation } from '../api/types';
import {
  pluginLifecycleDeployPermission,
  pluginLifecycleReadPermission,
} from '../permissions';
import { defineRoute, described } from './route';

const operationParams = z.object({ operationId: z.string() });

/**
 * The routes of operations: a batch over several plugins, cancelling one,
 * reading one (or waiting for its end).
 *
 * @public
 */
export const operationRoutes = {
  submitBatch: defineRoute({
    method: 'post',
    path: '/operations/batch',
    summary: "Queue several operations, ordered by the plugins' dependencies",
    permission: pluginLifecycleDeployPermission,
    permissionNote:
      "each operation's action permission on its plugin (deploy on every plugin for a body that is not a batch)",
    params: z.object({}),
    query: undefined,
    body: batchBodySchema,
    bodyRequired: true,
    response: described<BatchAccepted>('BatchAccepted'),
    successStatus: 202,
    responseDescription: 'Accepted: the operation was queued',
    responses: {
      '400': 'error',
      '403': 'error',
      '404': 'error',
      '409': 'error',
    },
  }),
  cancelOperation: defineRoute({
    method: 'post',
    path: '/operations/{operationId}/cancel',
    summary: 'Cancel a queued operation (and what waits on it)',
    permission: undefined,
    permissionNote:
      "the permission of the operation's action on its plugin (operate for an unknown id)",
    params: operationParams,
    query: undefined,
    body: undefined,
    response: described<Operation>('Operation'),
    responseDescription: 'Operation',
    responses: { '404': 'error', '409': 'error' },
  }),
  getOperation: defineRoute({
    method: 'get',
    path: '/operations/{operationId}',
    summary: 'Status, attempts, error and result of an operation',
    permission: pluginLifecycleReadPermission,
    permissionNote:
      "on the operation's plugin (on every plugin for an unknown id)",
    params: operationParams,
    query: getOperationQuerySchema,
    body: undefined,
    response: described<Operation>('Operation'),
    responseDescription: 'Operation',
    responses: {
      '400': 'error',
      '404': 'error',
      '429': {
        error: true,
        description:
          'With waitSeconds: too many held requests (pluginLifecycle.heldRequests)',
      },
    },
  }),
};
