import { LifecycleState } from '../lifecycle/states';
import { Page, ProbeDefinition } from '../api/schemas';
import { PluginDetails, PluginSummary, StateTransition } from '../api/types';
import { PluginHealth, PluginHealthQuery } from '../api/health';
import { AvailableVersions } from '../api/versions';
import { SystemMetrics } from '../api/systemMetrics';
import { PluginCatalogSync } from '../api/catalogSync';
import {
  PluginVersionMetrics,
  PluginVersionMetricsQuery,
} from '../api/versionMetrics';
import { pluginLifecycleRoutes as routes } from '../routes';
import { RequestCore } from './requestCore';

/**
 * The requests that read plugins and what is known of them: the plugins,
 * their versions, history, health, probes and metrics (a page at a time;
 * {@link PluginLifecycleClient} follows the pages). Documented where
 * callers see them, on the client.
 */
export class PluginCalls {
  readonly #core: RequestCore;

  constructor(core: RequestCore) {
    this.#core = core;
  }

  listPluginsPage(filter?: {
    state?: LifecycleState;
    tenant?: string;
    entityRef?: string;
    limit?: number;
    cursor?: string;
  }): Promise<Page<PluginSummary>> {
    return this.#core.call(routes.listPlugins, { query: filter });
  }

  getPlugin(pluginId: string): Promise<PluginDetails> {
    return this.#core.call(routes.getPlugin, { params: { pluginId } });
  }

  listVersions(pluginId: string): Promise<AvailableVersions> {
    return this.#core.call(routes.listAvailableVersions, {
      params: { pluginId },
    });
  }

  getHistoryPage(
    pluginId: string,
    page?: { limit?: number; cursor?: string },
  ): Promise<Page<StateTransition>> {
    return this.#core.call(routes.getHistory, {
      params: { pluginId },
      query: page,
    });
  }

  getPluginCatalogSync(pluginId: string): Promise<PluginCatalogSync> {
    return this.#core.call(routes.getPluginCatalogSync, {
      params: { pluginId },
    });
  }

  getPluginHealth(
    pluginId: string,
    options?: PluginHealthQuery,
  ): Promise<PluginHealth> {
    return this.#core.call(routes.getPluginHealth, {
      params: { pluginId },
      query: { recent: options?.recent },
    });
  }

  setPluginProbes(
    pluginId: string,
    probes: ProbeDefinition[],
  ): Promise<{ pluginId: string; probes: ProbeDefinition[] }> {
    return this.#core.call(routes.setPluginProbes, {
      params: { pluginId },
      body: { probes },
    });
  }

  getPluginVersionMetrics(
    pluginId: string,
    options?: PluginVersionMetricsQuery,
  ): Promise<PluginVersionMetrics> {
    return this.#core.call(routes.getPluginVersionMetrics, {
      params: { pluginId },
      query: { since: options?.since },
    });
  }

  getSystemMetrics(): Promise<SystemMetrics> {
    return this.#core.call(routes.getSystemMetrics, {});
  }
}
