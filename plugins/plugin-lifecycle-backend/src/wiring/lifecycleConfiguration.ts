import { PluginRecord } from '../database/PluginStore';
import { ConfigurationManager } from '../engines/configuration/ConfigurationManager';
import { LifecycleActionsOptions } from '../engines/lifecycle/LifecycleActions';

/**
 * The configuration manager as the lifecycle actions use it: by plugin,
 * in the plugin's environment (the default one when it names none).
 */
export function lifecycleConfiguration(
  configuration: ConfigurationManager,
  defaultEnvironment: string,
): LifecycleActionsOptions['configuration'] {
  const environmentOf = (plugin: PluginRecord) =>
    plugin.environment ?? defaultEnvironment;
  return {
    resolve: plugin => configuration.resolve(plugin.id, environmentOf(plugin)),
    resolveAtRevision: (plugin, revision) =>
      configuration.resolveAtRevision(
        plugin.id,
        environmentOf(plugin),
        revision,
      ),
    revertLayer: (plugin, layer, toVersion, reason, options) =>
      configuration.revertLayer(plugin, layer, toVersion, reason, options),
    restoreAtRevision: (plugin, revision, meta) =>
      configuration.restoreAtRevision(
        plugin,
        environmentOf(plugin),
        revision,
        meta,
      ),
  };
}
