import useAsyncRetry from 'react-use/esm/useAsyncRetry';
import useInterval from 'react-use/esm/useInterval';
import { useApi } from '@backstage/frontend-plugin-api';
import { PluginHealth } from '@internal/plugin-lifecycle-common';
import { pluginLifecycleApiRef } from '../../api';
import { isNotFoundError } from '../LifecycleTab/usePluginLifecycle';

/** Sampled results per probe the tab asks for (the sparklines' length). */
export const RECENT_RESULTS_PER_PROBE = 20;

/** What the health tab shows for one plugin. */
export interface PluginHealthData {
  /** Undefined when the plugin has never been installed (the API answers 404). */
  health?: PluginHealth;
}

/**
 * Loads the health of a plugin's instances and reloads it every
 * `refreshIntervalMs` (never when it is not positive). It keeps reloading
 * after a failure, so the tab recovers by itself once the backend answers
 * again.
 */
export function usePluginHealth(pluginId: string, refreshIntervalMs: number) {
  const api = useApi(pluginLifecycleApiRef);

  const { value, error, retry } =
    useAsyncRetry(async (): Promise<PluginHealthData> => {
      try {
        const health = await api.getPluginHealth(pluginId, {
          recent: RECENT_RESULTS_PER_PROBE,
        });
        return { health };
      } catch (e) {
        if (isNotFoundError(e)) {
          return { health: undefined };
        }
        throw e;
      }
    }, [api, pluginId]);

  useInterval(retry, refreshIntervalMs > 0 ? refreshIntervalMs : null);

  return { value, error, refresh: retry };
}
