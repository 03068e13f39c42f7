import { useRef } from 'react';
import useAsyncRetry from 'react-use/esm/useAsyncRetry';
import { useApi } from '@backstage/frontend-plugin-api';
import {
  Deployment,
  PluginDetails,
  PluginHealth,
  isTransitional,
} from '@internal/plugin-lifecycle-common';
import { pluginLifecycleApiRef } from '../../api';
import { isNotFoundError } from '../LifecycleTab/usePluginLifecycle';
import { useLiveRefresh } from '../live/useLiveRefresh';

/** What the overview card shows of one managed plugin. */
export interface PluginOverview {
  /** Undefined when the plugin has never been installed. */
  details?: PluginDetails;
  /** Undefined when not installed, uninstalled, or its health could not be read. */
  verdict?: PluginHealth['verdict'];
  /** The newest deployment that has not ended. */
  deployment?: Deployment;
}

/**
 * Loads a plugin's state, health verdict and active deployment, and keeps
 * them current through the plugin's signals (or polling without them).
 */
export function usePluginOverview(pluginId: string) {
  const api = useApi(pluginLifecycleApiRef);
  const { value, error, retry } =
    useAsyncRetry(async (): Promise<PluginOverview> => {
      let details: PluginDetails;
      try {
        details = await api.getPlugin(pluginId);
      } catch (e) {
        if (isNotFoundError(e)) {
          return {};
        }
        throw e;
      }
      const [health, deployments] = await Promise.all([
        details.state === 'inactive'
          ? undefined
          : // The verdict is a summary: an error reading it is not the card's error.
            api.getPluginHealth(pluginId, { recent: 0 }).catch(() => undefined),
        api.listPluginDeployments(pluginId, { active: true, limit: 1 }),
      ]);
      return { details, verdict: health?.verdict, deployment: deployments[0] };
    }, [api, pluginId]);

  // A failed reload keeps what was last loaded on screen.
  const last = useRef<PluginOverview>();
  if (value) {
    last.current = value;
  }
  const overview = value ?? last.current;
  const busy = Boolean(
    overview?.deployment ||
      (overview?.details && isTransitional(overview.details.state)),
  );
  useLiveRefresh({ pluginId, refresh: retry, busy });

  return { overview, error, refresh: retry };
}
