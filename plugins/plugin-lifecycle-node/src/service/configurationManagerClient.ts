import { LoggerService } from '@backstage/backend-plugin-api';
import {
  ConfigurationEntry,
  ConfigWriteResult,
  EffectiveConfiguration,
  PluginLifecycleClient,
} from '@internal/plugin-lifecycle-common';

/**
 * The configuration manager, as `getPluginConfigurationManager()` answers it.
 *
 * @public
 */
export interface PluginConfigurationManagerClient {
  /**
   * Sets these keys of one layer (`environment`; default: the default
   * environment), leaving its other keys alone: a new version.
   */
  setPluginConfiguration(
    pluginId: string,
    entries: ConfigurationEntry[],
    options?: {
      environment?: string;
      userId?: string;
      description?: string;
      expectedVersion?: number;
      remove?: string[];
    },
  ): Promise<ConfigWriteResult>;
  /** The effective configuration (secrets masked unless `reveal` and allowed). */
  getPluginConfiguration(
    pluginId: string,
    environment?: string,
    options?: { reveal?: boolean },
  ): Promise<EffectiveConfiguration>;
  /**
   * Calls `callback` with the effective configuration each time it changes
   * from now on (a long-poll held open, renewed after each answer); answers
   * the function that stops watching. The third argument is the design's
   * (`undefined` in its example); a string there narrows the watch to one
   * key, as the in-process manager's does.
   */
  watchConfiguration(
    pluginId: string,
    environment: string,
    key: string | undefined,
    callback: (configuration: EffectiveConfiguration) => void,
  ): () => void;
}

/**
 * The configuration manager over the HTTP API; `client` is made per call.
 * A watch that fails is retried (with backoff) and the failure logged.
 */
export function createConfigurationManagerClient(options: {
  client: () => PluginLifecycleClient;
  logger: LoggerService;
}): PluginConfigurationManagerClient {
  const { client, logger } = options;
  const environmentOf = async (environment?: string) =>
    environment ?? (await client().getConfigEnvironments()).defaultEnvironment;
  return {
    setPluginConfiguration: async (pluginId, entries, writeOptions = {}) =>
      client().patchConfiguration(
        pluginId,
        await environmentOf(writeOptions.environment),
        {
          entries,
          description: writeOptions.description,
          expectedVersion: writeOptions.expectedVersion,
          remove: writeOptions.remove,
        },
      ),
    getPluginConfiguration: async (pluginId, environment, readOptions) =>
      client().getConfiguration(
        pluginId,
        await environmentOf(environment),
        readOptions,
      ),
    watchConfiguration: (pluginId, environment, key, callback) =>
      watch({ client, logger, pluginId, environment, key, callback }),
  };
}

/**
 * A long-poll loop: the current revision first, then one held request
 * after another (each up to a minute), until `unwatch`.
 */
function watch(options: {
  client: () => PluginLifecycleClient;
  logger: LoggerService;
  pluginId: string;
  environment: string;
  key: string | undefined;
  callback: (configuration: EffectiveConfiguration) => void;
}): () => void {
  const { pluginId, environment, key, callback } = options;
  const abort = new AbortController();
  const loop = async () => {
    let revision: number | undefined;
    let backoffMs = 500;
    while (!abort.signal.aborted) {
      try {
        const client = options.client();
        if (revision === undefined) {
          revision = (await client.getConfiguration(pluginId, environment))
            .revision;
        }
        const result = await client.watchConfiguration(pluginId, environment, {
          afterRevision: revision,
          key,
          timeoutMs: 60_000,
          signal: abort.signal,
        });
        backoffMs = 500;
        if (abort.signal.aborted) return;
        revision = result.configuration.revision;
        if (result.changed) callback(result.configuration);
      } catch (error) {
        if (abort.signal.aborted) return;
        options.logger.warn(
          `watching the configuration of ${pluginId} (${environment}) failed, retrying in ${backoffMs} ms: ${error}`,
        );
        const delayMs = backoffMs;
        await new Promise(r => setTimeout(r, delayMs));
        backoffMs = Math.min(backoffMs * 2, 30_000);
      }
    }
  };
  loop();
  return () => abort.abort();
}
