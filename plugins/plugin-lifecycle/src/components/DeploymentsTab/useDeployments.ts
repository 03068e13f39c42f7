import { useRef } from 'react';
import useAsyncRetry from 'react-use/esm/useAsyncRetry';
import { useApi } from '@backstage/frontend-plugin-api';
import { ResponseError } from '@backstage/errors';
import { Deployment, PluginDetails } from '@internal/plugin-lifecycle-common';
import { pluginLifecycleApiRef } from '../../api';
import { useLiveRefresh } from '../live/useLiveRefresh';

/** How many past deployments the tab lists. */
export const PAST_DEPLOYMENTS_LIMIT = 20;

/** What the Deployments tab shows for one plugin. */
export interface DeploymentsData {
  /** Undefined when the plugin has never been installed. */
  plugin?: PluginDetails;
  /** The deployment in progress (at most one per plugin). */
  active?: Deployment;
  /** The newest deployments, newest first (the active one included). */
  recent: Deployment[];
}

function isNotFound(error: unknown): boolean {
  return ResponseError.is(error) && error.statusCode === 404;
}

/**
 * Loads the plugin, its active deployment and its recent ones, and keeps
 * them current (signals, or polling while a deployment is active). The
 * last loaded value stays on screen while a reload runs or fails.
 */
export function useDeployments(pluginId: string) {
  const api = useApi(pluginLifecycleApiRef);
  const state = useAsyncRetry(async (): Promise<DeploymentsData> => {
    try {
      const [plugin, active, recent] = await Promise.all([
        api.getPlugin(pluginId),
        // Asked for apart: a retried old deployment is active but not the newest.
        api.listPluginDeployments(pluginId, { active: true, limit: 1 }),
        api.listPluginDeployments(pluginId, { limit: PAST_DEPLOYMENTS_LIMIT }),
      ]);
      return { plugin, active: active[0], recent };
    } catch (e) {
      if (isNotFound(e)) {
        return { plugin: undefined, active: undefined, recent: [] };
      }
      throw e;
    }
  }, [api, pluginId]);

  const last = useRef<DeploymentsData>();
  if (state.value) {
    last.current = state.value;
  }
  const value = state.value ?? last.current;
  const { mode } = useLiveRefresh({
    pluginId,
    refresh: state.retry,
    busy: Boolean(value?.active),
  });

  return {
    value,
    // A failed reload with something on screen is shown beside it, not instead.
    error: state.error,
    loading: state.loading,
    refresh: state.retry,
    liveMode: mode,
  };
}
