import { useCallback } from 'react';
import useAsyncRetry from 'react-use/esm/useAsyncRetry';
import { useApi } from '@backstage/frontend-plugin-api';
import {
  PluginHealth,
  PluginVersionMetrics,
} from '@internal/plugin-lifecycle-common';
import { pluginLifecycleApiRef } from '../../api';
import { isNotFoundError } from '../LifecycleTab/usePluginLifecycle';

/**
 * Sampled results per probe the tab asks for: the most the API gives, the
 * length of the instance charts (at the default 10 s period, ~17 minutes).
 */
export const RECENT_RESULTS_PER_PROBE = 100;

/** What the health tab shows for one plugin. */
export interface PluginHealthData {
  /** Undefined when the plugin has never been installed (the API answers 404). */
  health?: PluginHealth;
}

/**
 * Loads the health of a plugin's instances, with their probes' recent
 * results, and the history of its traffic per version; `refresh` reloads
 * both (keeping what is shown until the answers come). A failure of the
 * version history does not hide the health: it comes apart, in
 * `versionsError`.
 */
export function usePluginHealth(pluginId: string) {
  const api = useApi(pluginLifecycleApiRef);

  const health = useAsyncRetry(async (): Promise<PluginHealthData> => {
    try {
      return {
        health: await api.getPluginHealth(pluginId, {
          recent: RECENT_RESULTS_PER_PROBE,
        }),
      };
    } catch (e) {
      if (isNotFoundError(e)) {
        return { health: undefined };
      }
      throw e;
    }
  }, [api, pluginId]);

  const versions = useAsyncRetry(async (): Promise<
    PluginVersionMetrics | undefined
  > => {
    try {
      return await api.getPluginVersionMetrics(pluginId);
    } catch (e) {
      if (isNotFoundError(e)) {
        return undefined;
      }
      throw e;
    }
  }, [api, pluginId]);

  const retryHealth = health.retry;
  const retryVersions = versions.retry;
  const refresh = useCallback(() => {
    retryHealth();
    retryVersions();
  }, [retryHealth, retryVersions]);

  return {
    value: health.value,
    error: health.error,
    versions: versions.value,
    versionsError: versions.error,
    refresh,
  };
}
