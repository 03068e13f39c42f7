import { NotFoundError } from '@backstage/errors';
import { PluginLifecycleConfig } from '../config';
import { PluginStore } from '../database/PluginStore';
import { inTenantScope } from '../domain/tenancy';
import { AvailableVersionsQuery } from '../engines/versions/AvailableVersionsQuery';
import { parsePluginId } from '../system/commands/pluginLookup';

/**
 * The available-versions query over the configuration and the plugin store.
 * Relative tarball paths resolve from the backend's working directory, as
 * the process runtime resolves them when it installs a version.
 */
export function availableVersionsQuery(options: {
  config: PluginLifecycleConfig;
  plugins: PluginStore;
  baseDir?: string;
}): AvailableVersionsQuery {
  const { config, plugins } = options;
  return AvailableVersionsQuery.create({
    baseDir: options.baseDir ?? process.cwd(),
    configured: id => config.plugins[id],
    stored: async (id, scope) => {
      const plugin = await plugins.get(parsePluginId(id));
      if (!plugin) return undefined;
      if (!inTenantScope(scope, plugin.tenant)) {
        throw new NotFoundError(`No plugin with id '${id}'`);
      }
      const versions = await plugins.listVersions(plugin.id);
      return {
        currentVersion: plugin.currentVersion,
        installed: versions.map(v => ({
          version: v.version,
          artifact: v.artifact,
        })),
      };
    },
  });
}
