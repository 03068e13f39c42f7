// The original design's "Dynamic Configuration Management", as written;
// it answers `unwatch` so the caller can stop watching.
import { getPluginConfigurationManager } from '../orchestration';

export async function dynamicConfigurationManagement() {
  const configManager = getPluginConfigurationManager();

  // Set plugin configuration with versioning
  await configManager.setPluginConfiguration('my-plugin', [
    {
      key: 'feature.enabled',
      value: true,
      type: 'boolean',
      description: 'Enable new feature flag'
    },
    {
      key: 'api.key',
      value: 'secret-key-value',
      type: 'secret',
      sensitive: true
    }
  ], {
    environment: 'production',
    userId: 'admin',
    description: 'Enable new feature with API key'
  });

  // Watch for configuration changes
  const unwatch = configManager.watchConfiguration(
    'my-plugin',
    'production',
    undefined,
    (newConfig) => {
      console.log('Configuration updated:', newConfig);
    }
  );

  return unwatch;
}
