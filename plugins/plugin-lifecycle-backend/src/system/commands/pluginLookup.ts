import { InputError, NotFoundError } from '@backstage/errors';
import {
  pluginIdSchema,
  validationMessage,
} from '@internal/plugin-lifecycle-common';
import { PluginRecord, PluginStore } from '../../database/PluginStore';
import { withinTenantDependencies } from '../../domain/orchestration';
import { inTenantScope, TenantScope } from '../../domain/tenancy';

/** A plugin id as a request gives it: checked against the id rules (400 otherwise). */
export function parsePluginId(pluginId: string): string {
  const parsed = pluginIdSchema.safeParse(pluginId);
  if (!parsed.success) {
    throw new InputError(
      `Invalid plugin id '${pluginId}': ${validationMessage(parsed.error)}`,
    );
  }
  return parsed.data;
}

/**
 * Reads plugins as commands and queries see them: within the caller's
 * tenants, and with the dependencies declared among one tenant's plugins.
 */
export class PluginLookup {
  readonly #plugins: PluginStore;

  static create(options: { plugins: PluginStore }): PluginLookup {
    return new PluginLookup(options.plugins);
  }

  private constructor(plugins: PluginStore) {
    this.#plugins = plugins;
  }

  /** The plugin, when it is in the scope; a 404 otherwise (another tenant's plugin is not there for the caller). */
  async get(pluginId: string, scope: TenantScope): Promise<PluginRecord> {
    const plugin = await this.#plugins.get(parsePluginId(pluginId));
    if (!plugin || !inTenantScope(scope, plugin.tenant)) {
      throw new NotFoundError(`No plugin with id '${pluginId}'`);
    }
    return plugin;
  }

  /** Every plugin with its state and the plugins of its tenant it depends on. */
  async dependencyView() {
    return withinTenantDependencies(await this.#plugins.dependencyView());
  }

  /** The configuration schema of the plugin's installed version, if it has one. */
  async configSchemaOf(
    plugin: PluginRecord,
  ): Promise<Record<string, unknown> | undefined> {
    const version =
      plugin.currentVersion &&
      (await this.#plugins.getVersion(plugin.id, plugin.currentVersion));
    return version ? version.manifest.configSchema : undefined;
  }

  /** Dependencies by plugin id: from the install request's manifest, else the installed version's. */
  async declaredDependencies(
    items: Array<{
      pluginId: string;
      install?: { manifest?: { dependencies?: Array<{ pluginId: string }> } };
    }>,
  ) {
    const declared = new Map<string, string[]>();
    for (const p of await this.dependencyView())
      declared.set(p.id, p.dependencies);
    for (const item of items) {
      const deps = item.install?.manifest?.dependencies;
      if (deps)
        declared.set(
          item.pluginId,
          deps.map(d => d.pluginId),
        );
    }
    return declared;
  }
}
