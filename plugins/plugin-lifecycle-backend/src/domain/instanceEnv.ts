import { ConfigurationEntry } from '@internal/plugin-lifecycle-common';

/**
 * The environment a plugin instance gets: who it is, and its configuration
 * both as one JSON document (`PLUGIN_CONFIG`) and one variable per key
 * (`database.url` becomes `PLUGIN_CONFIG_DATABASE_URL`).
 */
export function buildInstanceEnv(options: {
  pluginId: string;
  version: string;
  instanceId: string;
  environment?: string;
  configuration: ConfigurationEntry[];
}): Record<string, string> {
  const env: Record<string, string> = {
    PLUGIN_ID: options.pluginId,
    PLUGIN_VERSION: options.version,
    PLUGIN_INSTANCE_ID: options.instanceId,
  };
  if (options.environment) env.PLUGIN_ENVIRONMENT = options.environment;
  const document: Record<string, unknown> = {};
  for (const entry of options.configuration) {
    document[entry.key] = entry.value;
    env[configEnvName(entry.key)] =
      typeof entry.value === 'string'
        ? entry.value
        : JSON.stringify(entry.value);
  }
  env.PLUGIN_CONFIG = JSON.stringify(document);
  return env;
}

/** `database.url` -> `PLUGIN_CONFIG_DATABASE_URL` */
export function configEnvName(key: string): string {
  return `PLUGIN_CONFIG_${key.replace(/[^A-Za-z0-9]/g, '_').toUpperCase()}`;
}
