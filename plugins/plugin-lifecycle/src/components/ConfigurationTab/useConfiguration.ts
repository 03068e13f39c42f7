import useAsync from 'react-use/esm/useAsync';
import useAsyncRetry from 'react-use/esm/useAsyncRetry';
import { useApi } from '@backstage/frontend-plugin-api';
import { ResponseError } from '@backstage/errors';
import {
  CONFIG_BASE_LAYER,
  ConfigVersion,
  ConfigVersionSummary,
} from '@internal/plugin-lifecycle-common';
import { pluginLifecycleApiRef } from '../../api';
import { describeError } from '../shared/describeError';

/** The environments configuration may target; never the base layer. */
export function useConfigEnvironments() {
  const api = useApi(pluginLifecycleApiRef);
  return useAsync(async () => {
    const { environments, defaultEnvironment } =
      await api.getConfigEnvironments();
    return {
      environments: environments.filter(e => e !== CONFIG_BASE_LAYER),
      defaultEnvironment,
    };
  }, [api]);
}

/** The effective configuration of a plugin in one environment. */
export function useEffectiveConfiguration(
  pluginId: string,
  environment: string,
  reveal = false,
) {
  const api = useApi(pluginLifecycleApiRef);
  return useAsyncRetry(
    () =>
      reveal
        ? api.getConfiguration(pluginId, environment, { reveal })
        : api.getConfiguration(pluginId, environment),
    [api, pluginId, environment, reveal],
  );
}

/** One layer of a plugin's configuration: its versions and the latest one. */
export interface ConfigLayerData {
  layer: string;
  /** Newest first. */
  versions: ConfigVersionSummary[];
  /** Undefined while the layer has no version. */
  latest?: ConfigVersion;
}

/** Loads the versions of a layer and the content of the latest one. */
export function useConfigLayer(pluginId: string, layer: string) {
  const api = useApi(pluginLifecycleApiRef);
  return useAsyncRetry(async (): Promise<ConfigLayerData> => {
    const versions = [...(await api.listConfigVersions(pluginId, layer))].sort(
      (a, b) => b.version - a.version,
    );
    const latest = versions[0]
      ? await api.getConfigVersion(pluginId, layer, versions[0].version)
      : undefined;
    return { layer, versions, latest };
  }, [api, pluginId, layer]);
}

/** What changed in a layer between two of its versions. */
export function useConfigDiff(
  pluginId: string,
  layer: string,
  from: number,
  to: number,
) {
  const api = useApi(pluginLifecycleApiRef);
  return useAsync(
    () => api.diffConfigVersions(pluginId, layer, from, to),
    [api, pluginId, layer, from, to],
  );
}

/** How the tab reports a failed write (a save or a rollback). */
export interface WriteFailure {
  title: string;
  message: string;
  /** Someone else wrote the layer first (409): reloading helps. */
  conflict: boolean;
}

/**
 * The title and message of a failed write. A conflict and a validation error
 * say what the user can do about them; the backend's message lists the keys
 * that failed validation, so it is shown as it is.
 */
export function describeWriteFailure(
  error: Error,
  action: 'save' | 'roll back',
): WriteFailure {
  const message = describeError(error);
  if (ResponseError.is(error) && error.statusCode === 409) {
    return {
      title: 'Conflict: someone else changed this layer since it was loaded',
      message,
      conflict: true,
    };
  }
  if (ResponseError.is(error) && error.statusCode === 400) {
    return { title: 'Invalid configuration', message, conflict: false };
  }
  return {
    title: `Could not ${action} the configuration`,
    message,
    conflict: false,
  };
}
