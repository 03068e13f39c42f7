import {
  ConfigDiff,
  ConfigRollbackRequest,
  ConfigVersion,
  ConfigVersionSummary,
  ConfigWatchResult,
  ConfigWritePreview,
  ConfigWriteResult,
  PatchConfigurationRequest,
  EffectiveConfiguration,
  SetConfigurationRequest,
} from '../api/configuration';
import { ConfigEnvironments } from '../routes/configRoutes';
import { pluginLifecycleRoutes as routes } from '../routes';
import { RequestCore } from './requestCore';

/**
 * The requests of the configuration manager: effective configuration,
 * writes to a layer (and their previews), versions, rollback, watching, and
 * export/import. Documented where callers see them, on
 * {@link PluginLifecycleClient}.
 */
export class ConfigurationCalls {
  readonly #core: RequestCore;

  constructor(core: RequestCore) {
    this.#core = core;
  }

  getConfigEnvironments(): Promise<ConfigEnvironments> {
    return this.#core.call(routes.getConfigEnvironments, {});
  }

  getConfiguration(
    pluginId: string,
    environment: string,
    options?: { reveal?: boolean; at?: string },
  ): Promise<EffectiveConfiguration> {
    return this.#core.call(routes.getConfiguration, {
      params: { pluginId, environment },
      query: {
        reveal: options?.reveal ? 'true' : undefined,
        at: options?.at || undefined,
      },
    });
  }

  setConfiguration(
    pluginId: string,
    layer: string,
    request: Omit<SetConfigurationRequest, 'dryRun'>,
  ): Promise<ConfigWriteResult> {
    return this.#core.call(routes.setConfiguration, {
      params: { pluginId, environment: layer },
      // A dry run answers a preview instead: see previewConfiguration.
      body: { ...request, dryRun: undefined },
    }) as Promise<ConfigWriteResult>;
  }

  patchConfiguration(
    pluginId: string,
    layer: string,
    request: Omit<PatchConfigurationRequest, 'dryRun'>,
  ): Promise<ConfigWriteResult> {
    return this.#core.call(routes.patchConfiguration, {
      params: { pluginId, environment: layer },
      body: { ...request, dryRun: undefined },
    }) as Promise<ConfigWriteResult>;
  }

  previewConfiguration(
    pluginId: string,
    layer: string,
    mode: 'replace' | 'merge',
    request: SetConfigurationRequest | PatchConfigurationRequest,
  ): Promise<ConfigWritePreview> {
    return this.#core.call(
      mode === 'replace' ? routes.setConfiguration : routes.patchConfiguration,
      {
        params: { pluginId, environment: layer },
        body: { ...request, dryRun: true },
      },
    ) as Promise<ConfigWritePreview>;
  }

  async listConfigVersions(
    pluginId: string,
    layer: string,
  ): Promise<ConfigVersionSummary[]> {
    const body = await this.#core.call(routes.listConfigVersions, {
      params: { pluginId, layer },
    });
    return body.items;
  }

  getConfigVersion(
    pluginId: string,
    layer: string,
    version: number,
  ): Promise<ConfigVersion> {
    return this.#core.call(routes.getConfigVersion, {
      params: { pluginId, layer, version },
    });
  }

  diffConfigVersions(
    pluginId: string,
    layer: string,
    from: number,
    to: number,
  ): Promise<ConfigDiff> {
    return this.#core.call(routes.diffConfigVersions, {
      params: { pluginId, layer },
      query: { from, to },
    });
  }

  rollbackConfiguration(
    pluginId: string,
    layer: string,
    request: ConfigRollbackRequest,
  ): Promise<ConfigWriteResult> {
    return this.#core.call(routes.rollbackConfiguration, {
      params: { pluginId, layer },
      body: request,
    });
  }

  watchConfiguration(
    pluginId: string,
    environment: string,
    options: {
      afterRevision: number;
      key?: string;
      timeoutMs?: number;
      signal?: AbortSignal;
    },
  ): Promise<ConfigWatchResult> {
    return this.#core.call(routes.watchConfiguration, {
      params: { pluginId, environment },
      query: {
        afterRevision: options.afterRevision,
        key: options.key || undefined,
        timeoutMs: options.timeoutMs,
      },
      signal: options.signal,
    });
  }

  exportConfiguration(): Promise<unknown> {
    return this.#core.call(routes.exportConfiguration, {});
  }

  importConfiguration(exported: unknown): Promise<unknown> {
    return this.#core.call(routes.importConfiguration, { body: exported });
  }
}
