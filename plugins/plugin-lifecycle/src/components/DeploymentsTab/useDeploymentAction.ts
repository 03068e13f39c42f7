import { useState } from 'react';
import useAsyncFn from 'react-use/esm/useAsyncFn';
import { useApi } from '@backstage/frontend-plugin-api';
import { ResponseError } from '@backstage/errors';
import {
  DeploymentAction,
  DeploymentActionRequest,
} from '@internal/plugin-lifecycle-common';
import { pluginLifecycleApiRef } from '../../api';

/**
 * An error for display: for an answer of the API, the reason the backend
 * gave (a 409 names the deployment's phase) with the status.
 */
export function describeError(error: Error): string {
  if (ResponseError.is(error)) {
    const reason = error.body?.error?.message;
    if (reason) {
      return `${reason} (${error.statusCode} ${error.statusText})`;
    }
  }
  return error.message;
}

/**
 * Runs actions on deployments and keeps the last one's error; `onDone`
 * runs once the API answered either way, so that the tab reloads.
 */
export function useDeploymentAction(onDone: () => void) {
  const api = useApi(pluginLifecycleApiRef);
  const [lastAction, setLastAction] = useState<DeploymentAction>();
  const [state, run] = useAsyncFn(
    async (
      deploymentId: string,
      action: DeploymentAction,
      request: DeploymentActionRequest,
    ) => {
      setLastAction(action);
      try {
        return await api.deploymentAction(deploymentId, action, request);
      } finally {
        onDone();
      }
    },
    [api, onDone],
  );
  return {
    pending: state.loading,
    error: state.error,
    lastAction,
    run,
  };
}
