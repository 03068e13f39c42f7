import { buildInstanceEnv, configEnvName } from './instanceEnv';

describe('buildInstanceEnv', () => {
  it('names each key as an environment variable', () => {
    expect(configEnvName('database.url')).toBe('PLUGIN_CONFIG_DATABASE_URL');
    expect(configEnvName('feature-flags.new_ui')).toBe(
      'PLUGIN_CONFIG_FEATURE_FLAGS_NEW_UI',
    );
  });

  it('passes identity and configuration, strings as they are and the rest as JSON', () => {
    const env = buildInstanceEnv({
      pluginId: 'my-plugin',
      version: '1.0.0',
      instanceId: 'my-plugin-abc',
      environment: 'production',
      configuration: [
        {
          key: 'database.url',
          value: 'postgresql://localhost/db',
          type: 'string',
        },
        { key: 'pool.size', value: 5, type: 'number' },
        { key: 'features', value: { a: true }, type: 'json' },
      ],
    });
    expect(env).toEqual({
      PLUGIN_ID: 'my-plugin',
      PLUGIN_VERSION: '1.0.0',
      PLUGIN_INSTANCE_ID: 'my-plugin-abc',
      PLUGIN_ENVIRONMENT: 'production',
      PLUGIN_CONFIG_DATABASE_URL: 'postgresql://localhost/db',
      PLUGIN_CONFIG_POOL_SIZE: '5',
      PLUGIN_CONFIG_FEATURES: '{"a":true}',
      PLUGIN_CONFIG:
        '{"database.url":"postgresql://localhost/db","pool.size":5,"features":{"a":true}}',
    });
  });
});
