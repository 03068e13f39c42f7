import { useState } from 'react';
import useAsyncFn from 'react-use/esm/useAsyncFn';
import { useApi } from '@backstage/frontend-plugin-api';
import {
  DeploymentAction,
  DeploymentActionRequest,
} from '@internal/plugin-lifecycle-common';
import { pluginLifecycleApiRef } from '../../api';

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
