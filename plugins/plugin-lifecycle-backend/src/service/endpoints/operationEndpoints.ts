import {
  LifecycleAction,
  operationRoutes as routes,
  pluginLifecyclePermissionForAction,
} from '@internal/plugin-lifecycle-common';
import { Router } from 'express';
import { batchAccess, onOperation } from '../operationAccess';
import { parseInput } from '../routeAccess';
import { EndpointContext } from './EndpointContext';
import { mount } from './mount';
import { withIdempotencyKey } from './requestBody';

/**
 * Operations across plugins: a batch (each operation's permission on its
 * plugin), cancelling one (what queueing it needed), and reading one or
 * waiting for its end.
 */
export function bindOperationEndpoints(
  router: Router,
  context: EndpointContext,
) {
  const { system, authorize, audited, heldRequests } = context;

  mount(router, routes.submitBatch, async (req, res) => {
    const accepted = await audited(
      req,
      await batchAccess(system, req.body),
      'operation-batch',
      {},
      // The facade validates the batch.
      ({ actor, scope }) =>
        system.submitBatch(withIdempotencyKey(req, req.body), {
          userId: actor,
          scope,
        }),
    );
    res.status(202).json(accepted);
  });

  mount(router, routes.cancelOperation, async (req, res) => {
    const { operationId } = req.params;
    const operation = await audited(
      req,
      // Cancelling needs what queueing it needed (operate for an unknown id).
      await onOperation(system, operationId, type =>
        pluginLifecyclePermissionForAction(type as LifecycleAction),
      ),
      'operation-cancel',
      { operationId },
      ({ actor, scope }) =>
        system.cancelOperation(operationId, { userId: actor, scope }),
    );
    res.json(operation);
  });

  mount(router, routes.getOperation, async (req, res) => {
    const { operationId } = req.params;
    const access = await onOperation(
      system,
      operationId,
      () => routes.getOperation.permission,
    );
    const { scope, actor } = await authorize(
      req,
      access.permission,
      access.resourceRef,
    );
    const { waitSeconds } = parseInput(
      routes.getOperation.query,
      req.query,
      'query',
    );
    if (!waitSeconds) {
      res.json(await system.getOperation(operationId, scope));
      return;
    }
    // Taken after the permission check, released when the answer is gone.
    const release = heldRequests?.acquire(actor ?? 'anonymous');
    // A caller that goes away ends its wait.
    const gone = new AbortController();
    res.on('close', () => {
      release?.();
      gone.abort();
    });
    res.json(
      await system.waitForOperation(operationId, {
        scope,
        timeoutMs: waitSeconds * 1000,
        intervalMs: 250,
        signal: gone.signal,
      }),
    );
  });
}
