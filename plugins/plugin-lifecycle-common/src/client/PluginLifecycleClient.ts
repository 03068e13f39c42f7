import { ResponseError } from '@backstage/errors';
import { LifecycleState } from '../lifecycle/states';
import {
  BatchRequest,
  InstallRequest,
  MAX_PAGE_SIZE,
  Page,
  UpdateRequest,
  UpdateRollbackRequest,
} from '../api/schemas';
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
import {
  BatchAccepted,
  Operation,
  OperationAccepted,
  PluginDetails,
  PluginSummary,
  StateTransition,
} from '../api/types';
import { PluginHealth, PluginHealthQuery } from '../api/health';

/**
 * The annotation that links a catalog entity to a managed plugin.
 *
 * @public
 */
export const PLUGIN_ID_ANNOTATION = 'plugin-lifecycle.backstage.io/plugin-id';

/** @public */
export type LifecycleCommand = 'start' | 'stop' | 'restart' | 'uninstall';

/**
 * The typed HTTP client of the plugin-lifecycle backend, usable in the browser
 * and in Node.
 *
 * @public
 */
export class PluginLifecycleClient {
  readonly #discoveryApi: { getBaseUrl(pluginId: string): Promise<string> };
  readonly #fetchApi: { fetch: typeof fetch };

  constructor(options: {
    discoveryApi: { getBaseUrl(pluginId: string): Promise<string> };
    fetchApi?: { fetch: typeof fetch };
  }) {
    this.#discoveryApi = options.discoveryApi;
    this.#fetchApi = options.fetchApi ?? { fetch: (...a) => fetch(...a) };
  }

  /**
   * Every plugin (matching the filter), following the pages of
   * `GET /plugins`; {@link PluginLifecycleClient.listPluginsPage} reads one.
   */
  async listPlugins(filter?: {
    state?: LifecycleState;
    tenant?: string;
    entityRef?: string;
  }): Promise<PluginSummary[]> {
    return this.#allPages(cursor =>
      this.listPluginsPage({ ...filter, limit: MAX_PAGE_SIZE, cursor }),
    );
  }

  /** One page of `GET /plugins`: plugins by id, `nextCursor` when more follow. */
  async listPluginsPage(filter?: {
    state?: LifecycleState;
    tenant?: string;
    entityRef?: string;
    limit?: number;
    cursor?: string;
  }): Promise<Page<PluginSummary>> {
    return this.#request<Page<PluginSummary>>(`/plugins${queryString(filter)}`);
  }

  async getPlugin(pluginId: string): Promise<PluginDetails> {
    return this.#request(`/plugins/${encodeURIComponent(pluginId)}`);
  }

  /** A plugin's whole state history, oldest first, following the pages. */
  async getHistory(pluginId: string): Promise<StateTransition[]> {
    return this.#allPages(cursor =>
      this.getHistoryPage(pluginId, { limit: MAX_PAGE_SIZE, cursor }),
    );
  }

  /** One page of a plugin's state history, oldest first. */
  async getHistoryPage(
    pluginId: string,
    page?: { limit?: number; cursor?: string },
  ): Promise<Page<StateTransition>> {
    return this.#request<Page<StateTransition>>(
      `/plugins/${encodeURIComponent(pluginId)}/history${queryString(page)}`,
    );
  }

  /**
   * The health of a plugin's instances and of each of their probes: status,
   * latency, trend and verdict, with `recent` sampled results per probe.
   */
  async getPluginHealth(
    pluginId: string,
    options?: PluginHealthQuery,
  ): Promise<PluginHealth> {
    const query =
      options?.recent === undefined ? '' : `?recent=${options.recent}`;
    return this.#request(
      `/plugins/${encodeURIComponent(pluginId)}/health${query}`,
    );
  }

  async installPlugin(
    pluginId: string,
    request: InstallRequest,
  ): Promise<OperationAccepted> {
    return this.#request(`/plugins/${encodeURIComponent(pluginId)}/install`, {
      method: 'POST',
      body: request,
    });
  }

  /**
   * Moves an installed plugin to another version. A running plugin is rolled
   * one instance at a time; a failed update restores the previous version.
   */
  async updatePlugin(
    pluginId: string,
    request: UpdateRequest,
  ): Promise<OperationAccepted> {
    return this.#request(`/plugins/${encodeURIComponent(pluginId)}/update`, {
      method: 'POST',
      body: request,
    });
  }

  /**
   * Rolls a succeeded update back: the version it replaced runs again, with
   * the configuration that version ran with.
   */
  async rollbackUpdate(
    pluginId: string,
    operationId: string,
    request: UpdateRollbackRequest = {},
  ): Promise<OperationAccepted> {
    return this.#request(
      `/plugins/${encodeURIComponent(pluginId)}/update/${encodeURIComponent(
        operationId,
      )}/rollback`,
      { method: 'POST', body: request },
    );
  }

  async runCommand(
    pluginId: string,
    command: LifecycleCommand,
    options?: { reason?: string },
  ): Promise<OperationAccepted> {
    return this.#request(
      `/plugins/${encodeURIComponent(pluginId)}/${command}`,
      {
        method: 'POST',
        body: options ?? {},
      },
    );
  }

  /**
   * A plugin's latest operations, newest first: the first page (50 unless
   * `page.limit`); pass its `nextCursor` to
   * {@link PluginLifecycleClient.listOperationsPage} for older ones.
   */
  async listOperations(
    pluginId: string,
    page?: { limit?: number },
  ): Promise<Operation[]> {
    return (await this.listOperationsPage(pluginId, page)).items;
  }

  /** One page of a plugin's operations, newest first. */
  async listOperationsPage(
    pluginId: string,
    page?: { limit?: number; cursor?: string },
  ): Promise<Page<Operation>> {
    return this.#request<Page<Operation>>(
      `/plugins/${encodeURIComponent(pluginId)}/operations${queryString(page)}`,
    );
  }

  async cancelOperation(operationId: string): Promise<Operation> {
    return this.#request(
      `/operations/${encodeURIComponent(operationId)}/cancel`,
      {
        method: 'POST',
        body: {},
      },
    );
  }

  async submitBatch(batch: BatchRequest): Promise<BatchAccepted> {
    return this.#request('/operations/batch', { method: 'POST', body: batch });
  }

  /**
   * An operation; with `waitSeconds`, as it is once it has ended or that many
   * seconds (at most 60) passed.
   */
  async getOperation(
    operationId: string,
    options: { waitSeconds?: number } = {},
  ): Promise<Operation> {
    const query =
      options.waitSeconds !== undefined
        ? `?waitSeconds=${options.waitSeconds}`
        : '';
    return this.#request(
      `/operations/${encodeURIComponent(operationId)}${query}`,
    );
  }

  /** The environments configuration may target, and the default one. */
  async getConfigEnvironments(): Promise<{
    environments: string[];
    defaultEnvironment: string;
  }> {
    return this.#request('/config/environments');
  }

  /**
   * The effective configuration of a plugin in an environment, with the layer
   * each value comes from. Secrets are masked unless `reveal` is asked for and
   * allowed; `at` reads the configuration as it was at a past time.
   */
  async getConfiguration(
    pluginId: string,
    environment: string,
    options?: { reveal?: boolean; at?: string },
  ): Promise<EffectiveConfiguration> {
    const query = new URLSearchParams();
    if (options?.reveal) query.set('reveal', 'true');
    if (options?.at) query.set('at', options.at);
    const q = query.toString();
    return this.#request(
      `${this.#configPath(pluginId, environment)}${q ? `?${q}` : ''}`,
    );
  }

  /**
   * Replaces the content of one layer (`base` or an environment); refused
   * if it would drop a required key. `changed: false` when the content was
   * already that.
   */
  async setConfiguration(
    pluginId: string,
    layer: string,
    request: Omit<SetConfigurationRequest, 'dryRun'>,
  ): Promise<ConfigWriteResult> {
    return this.#request(this.#configPath(pluginId, layer), {
      method: 'PUT',
      // A dry run answers a preview instead: see previewConfiguration.
      body: { ...request, dryRun: undefined },
    });
  }

  /** Sets and removes keys of one layer, leaving its other keys alone. */
  async patchConfiguration(
    pluginId: string,
    layer: string,
    request: Omit<PatchConfigurationRequest, 'dryRun'>,
  ): Promise<ConfigWriteResult> {
    return this.#request(this.#configPath(pluginId, layer), {
      method: 'PATCH',
      body: { ...request, dryRun: undefined },
    });
  }

  /** What a PUT (`replace`) or PATCH (`merge`) would do; nothing is stored. */
  async previewConfiguration(
    pluginId: string,
    layer: string,
    mode: 'replace' | 'merge',
    request: SetConfigurationRequest | PatchConfigurationRequest,
  ): Promise<ConfigWritePreview> {
    return this.#request(this.#configPath(pluginId, layer), {
      method: mode === 'replace' ? 'PUT' : 'PATCH',
      body: { ...request, dryRun: true },
    });
  }

  async listConfigVersions(
    pluginId: string,
    layer: string,
  ): Promise<ConfigVersionSummary[]> {
    const body = await this.#request<{ items: ConfigVersionSummary[] }>(
      `${this.#configPath(pluginId, layer)}/versions`,
    );
    return body.items;
  }

  async getConfigVersion(
    pluginId: string,
    layer: string,
    version: number,
  ): Promise<ConfigVersion> {
    return this.#request(
      `${this.#configPath(pluginId, layer)}/versions/${version}`,
    );
  }

  async diffConfigVersions(
    pluginId: string,
    layer: string,
    from: number,
    to: number,
  ): Promise<ConfigDiff> {
    return this.#request(
      `${this.#configPath(pluginId, layer)}/diff?from=${from}&to=${to}`,
    );
  }

  /** Writes the content of an earlier version as a new version. */
  async rollbackConfiguration(
    pluginId: string,
    layer: string,
    request: ConfigRollbackRequest,
  ): Promise<ConfigWriteResult> {
    return this.#request(`${this.#configPath(pluginId, layer)}/rollback`, {
      method: 'POST',
      body: request,
    });
  }

  /** Long-polls until the effective configuration passes `afterRevision`. */
  async watchConfiguration(
    pluginId: string,
    environment: string,
    options: { afterRevision: number; key?: string; timeoutMs?: number },
  ): Promise<ConfigWatchResult> {
    const query = new URLSearchParams({
      afterRevision: String(options.afterRevision),
    });
    if (options.key) query.set('key', options.key);
    if (options.timeoutMs !== undefined)
      query.set('timeoutMs', String(options.timeoutMs));
    return this.#request(
      `${this.#configPath(pluginId, environment)}/watch?${query}`,
    );
  }

  #configPath(pluginId: string, layer: string) {
    return `/plugins/${encodeURIComponent(
      pluginId,
    )}/config/${encodeURIComponent(layer)}`;
  }

  async #allPages<T>(
    read: (cursor?: string) => Promise<Page<T>>,
  ): Promise<T[]> {
    const items: T[] = [];
    let cursor: string | undefined;
    do {
      const page = await read(cursor);
      items.push(...page.items);
      cursor = page.nextCursor;
    } while (cursor);
    return items;
  }

  async #request<T>(
    path: string,
    init?: { method: string; body: unknown },
  ): Promise<T> {
    const baseUrl = await this.#discoveryApi.getBaseUrl('plugin-lifecycle');
    const response = await this.#fetchApi.fetch(`${baseUrl}${path}`, {
      method: init?.method ?? 'GET',
      headers: init ? { 'Content-Type': 'application/json' } : undefined,
      body: init ? JSON.stringify(init.body) : undefined,
    });
    if (!response.ok) {
      throw await ResponseError.fromResponse(response);
    }
    return (await response.json()) as T;
  }
}

/** `?a=1&b=2` of the defined values, or nothing. */
function queryString(
  params?: Record<string, string | number | undefined>,
): string {
  const query = new URLSearchParams(
    Object.entries(params ?? {})
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => [k, String(v)]),
  ).toString();
  return query ? `?${query}` : '';
}
