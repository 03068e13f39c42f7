import { useState } from 'react';
import useAsyncFn from 'react-use/esm/useAsyncFn';
import useAsyncRetry from 'react-use/esm/useAsyncRetry';
import useInterval from 'react-use/esm/useInterval';
import { useApi } from '@backstage/frontend-plugin-api';
import { ResponseError } from '@backstage/errors';
import {
  PluginDetails,
  StateTransition,
  isTransitional,
} from '@internal/plugin-lifecycle-common';
import { pluginLifecycleApiRef } from '../../api';

/** The actions the lifecycle tab offers as buttons. */
export const SUPPORTED_ACTIONS = [
  'install',
  'start',
  'stop',
  'restart',
  'uninstall',
] as const;

/** One of {@link SUPPORTED_ACTIONS}. */
export type SupportedAction = (typeof SUPPORTED_ACTIONS)[number];

/** What the lifecycle tab shows for one plugin. */
export interface PluginLifecycleData {
  /** Undefined when the plugin has never been installed (the API answers 404). */
  details?: PluginDetails;
  history: StateTransition[];
}

/** Whether an error is the API saying the plugin is unknown to it. */
export function isNotFoundError(error: unknown): boolean {
  return ResponseError.is(error) && error.statusCode === 404;
}

/**
 * Loads the details and history of a plugin, and reloads them every
 * `pollIntervalMs` while the plugin is in a transitional state.
 */
export function usePluginLifecycle(pluginId: string, pollIntervalMs: number) {
  const api = useApi(pluginLifecycleApiRef);

  const { value, loading, error, retry } =
    useAsyncRetry(async (): Promise<PluginLifecycleData> => {
      try {
        const [details, history] = await Promise.all([
          api.getPlugin(pluginId),
          api.getHistory(pluginId),
        ]);
        return { details, history };
      } catch (e) {
        if (isNotFoundError(e)) {
          return { details: undefined, history: [] };
        }
        throw e;
      }
    }, [api, pluginId]);

  const polling = Boolean(
    value?.details && isTransitional(value.details.state),
  );
  useInterval(retry, polling ? pollIntervalMs : null);

  return { value, loading, error, polling, refresh: retry };
}

/**
 * Runs a lifecycle action against a plugin and calls `onDone` once the API
 * answered (accepted or refused), so that the caller can reload.
 */
export function useLifecycleAction(
  pluginId: string,
  options: { entityRef?: string; onDone: () => void },
) {
  const api = useApi(pluginLifecycleApiRef);
  const { entityRef, onDone } = options;
  const [lastAction, setLastAction] = useState<SupportedAction>();

  const [state, perform] = useAsyncFn(
    async (action: SupportedAction, version?: string) => {
      setLastAction(action);
      try {
        if (action === 'install') {
          await api.installPlugin(pluginId, {
            version: version ?? '',
            ...(entityRef ? { entityRef } : {}),
          });
        } else {
          await api.runCommand(pluginId, action);
        }
      } finally {
        onDone();
      }
    },
    [api, pluginId, entityRef, onDone],
  );

  return {
    pending: state.loading,
    error: state.error,
    lastAction,
    perform,
  };
}
