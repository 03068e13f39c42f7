import {
  CatalogSyncStatus,
  PluginCatalogSync,
} from '@internal/plugin-lifecycle-common';
import { CatalogSyncStore } from '../../database/CatalogSyncStore';
import { TenantScope } from '../../domain/tenancy';
import { PluginLookup } from './pluginLookup';

/** Options of {@link CatalogSyncQueries.create}. */
export interface CatalogSyncQueriesOptions {
  lookup: PluginLookup;
  store: CatalogSyncStore;
  /** The plugins catalog sync acts on (none when it is off). */
  plugins: readonly string[];
}

/** What catalog sync recorded per plugin, within a caller's tenants. */
export class CatalogSyncQueries {
  readonly #o: CatalogSyncQueriesOptions;

  static create(options: CatalogSyncQueriesOptions): CatalogSyncQueries {
    return new CatalogSyncQueries(options);
  }

  private constructor(options: CatalogSyncQueriesOptions) {
    this.#o = options;
  }

  /** Catalog sync of an installed plugin in the scope (404 otherwise). */
  async get(pluginId: string, scope: TenantScope): Promise<PluginCatalogSync> {
    const plugin = await this.#o.lookup.get(pluginId, scope);
    const record = await this.#o.store.get(plugin.id);
    return {
      pluginId: plugin.id,
      enabled: this.#o.plugins.includes(plugin.id),
      ...(record
        ? {
            status: record.status as CatalogSyncStatus,
            ...(record.reason ? { reason: record.reason } : {}),
            ...(record.entityRef ? { entityRef: record.entityRef } : {}),
            ...(record.deploymentId
              ? { deploymentId: record.deploymentId }
              : {}),
            updatedAt: record.updatedAt,
          }
        : {}),
    };
  }
}
