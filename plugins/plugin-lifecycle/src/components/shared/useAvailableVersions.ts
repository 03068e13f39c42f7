import useAsyncRetry from 'react-use/esm/useAsyncRetry';
import { useApi } from '@backstage/frontend-plugin-api';
import { AvailableVersions } from '@internal/plugin-lifecycle-common';
import { pluginLifecycleApiRef } from '../../api';

/**
 * The versions a plugin's artifact source offers, for a {@link VersionField}.
 * A failure leaves the field free text (`error` says why). They load again
 * when `options.key` changes (pass the current version: an install or update
 * moves the "current" mark), and not at all while `options.skip`.
 */
export function useAvailableVersions(
  pluginId: string,
  options: { key?: string; skip?: boolean } = {},
): {
  versions?: AvailableVersions;
  loading: boolean;
  error?: Error;
  reload: () => void;
} {
  const api = useApi(pluginLifecycleApiRef);
  const { key, skip } = options;
  const { value, loading, error, retry } = useAsyncRetry(
    async () => (skip ? undefined : api.listVersions(pluginId)),
    [api, pluginId, key, skip],
  );
  return { versions: value, loading, error, reload: retry };
}

/** The helper text of a version field: why the list is empty or missing. */
export function versionsHint(
  versions: AvailableVersions | undefined,
  error: Error | undefined,
): string | undefined {
  if (error) return 'Could not list the available versions: type one.';
  if (versions?.problem) return `${versions.problem}. Type a version.`;
  return undefined;
}
