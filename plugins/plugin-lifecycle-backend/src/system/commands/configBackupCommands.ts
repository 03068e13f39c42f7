import { inTenantScope, TenantScope } from '../../domain/tenancy';
import type { PluginRecord } from '../../database/PluginStore';
import type { ConfigurationManager } from '../../engines/configuration/ConfigurationManager';
import {
  ConfigExport,
  ConfigImportResult,
  exportConfiguration,
  importConfiguration,
} from '../../engines/configuration/configBackup';

/** Options of {@link ConfigBackupCommands.create}. */
export interface ConfigBackupCommandsOptions {
  configuration: ConfigurationManager;
  /** The plugins of a scope, and one plugin whatever its tenant. */
  plugins: {
    listPlugins(
      filter: Record<string, never>,
      scope: TenantScope,
    ): Promise<Array<{ id: string }>>;
    findPluginRecord(pluginId: string): Promise<PluginRecord | undefined>;
  };
}

/**
 * Export and import of all configuration, limited to the plugins of the
 * caller's tenants.
 */
export class ConfigBackupCommands {
  readonly #o: ConfigBackupCommandsOptions;

  static create(options: ConfigBackupCommandsOptions): ConfigBackupCommands {
    return new ConfigBackupCommands(options);
  }

  private constructor(options: ConfigBackupCommandsOptions) {
    this.#o = options;
  }

  /** A signed export of the configuration of every plugin in the scope. */
  async exportConfiguration(scope: TenantScope): Promise<ConfigExport> {
    const ids = scope.all
      ? undefined
      : (await this.#o.plugins.listPlugins({}, scope)).map(p => p.id);
    return exportConfiguration(this.#o.configuration, ids);
  }

  /** Restores an export; plugins outside the scope count as unknown. */
  importConfiguration(
    document: unknown,
    options: { userId?: string; scope: TenantScope },
  ): Promise<ConfigImportResult> {
    const { scope } = options;
    return importConfiguration(this.#o.configuration, document, {
      userId: options.userId,
      findPlugin: async id => {
        const plugin = await this.#o.plugins.findPluginRecord(id);
        return plugin && inTenantScope(scope, plugin.tenant)
          ? plugin
          : undefined;
      },
    });
  }
}
