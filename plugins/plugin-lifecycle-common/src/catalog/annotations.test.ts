import {
  PLUGIN_ID_ANNOTATION,
  PLUGIN_STRATEGY_ANNOTATION,
  PLUGIN_STRATEGY_CONFIG_ANNOTATION,
  PLUGIN_VERSION_ANNOTATION,
  readDeclaredPluginState,
} from './annotations';

describe('readDeclaredPluginState', () => {
  it('declares nothing without a plugin id or a version', () => {
    expect(readDeclaredPluginState(undefined)).toEqual({ kind: 'none' });
    expect(readDeclaredPluginState({ [PLUGIN_ID_ANNOTATION]: 'p' })).toEqual({
      kind: 'none',
    });
    expect(
      readDeclaredPluginState({ [PLUGIN_VERSION_ANNOTATION]: '1.0.0' }),
    ).toEqual({ kind: 'none' });
  });

  it('reads a version with the rolling default', () => {
    expect(
      readDeclaredPluginState({
        [PLUGIN_ID_ANNOTATION]: 'p',
        [PLUGIN_VERSION_ANNOTATION]: ' 1.1.0 ',
      }),
    ).toEqual({
      kind: 'declared',
      state: {
        pluginId: 'p',
        version: '1.1.0',
        strategy: 'rolling',
        config: {},
      },
    });
  });

  it('reads a strategy by wire value or key name, and its settings', () => {
    expect(
      readDeclaredPluginState({
        [PLUGIN_ID_ANNOTATION]: 'p',
        [PLUGIN_VERSION_ANNOTATION]: '2.0.0',
        [PLUGIN_STRATEGY_ANNOTATION]: 'BLUE_GREEN',
        [PLUGIN_STRATEGY_CONFIG_ANNOTATION]: JSON.stringify({
          blueGreen: { scaleDownDelay: 1000 },
        }),
      }),
    ).toMatchObject({
      kind: 'declared',
      state: {
        strategy: 'blue-green',
        config: { blueGreen: { scaleDownDelay: 1000, requireApproval: false } },
      },
    });
  });

  it("reads the README's and examples/entities.yaml's example", () => {
    expect(
      readDeclaredPluginState({
        [PLUGIN_ID_ANNOTATION]: 'sample-http-service',
        [PLUGIN_VERSION_ANNOTATION]: '1.1.0',
        [PLUGIN_STRATEGY_ANNOTATION]: 'canary',
        [PLUGIN_STRATEGY_CONFIG_ANNOTATION]:
          '{"canary":{"trafficIncrement":50,"incrementInterval":30000}}',
      }),
    ).toMatchObject({
      kind: 'declared',
      state: {
        strategy: 'canary',
        config: { canary: { trafficIncrement: 50, incrementInterval: 30000 } },
      },
    });
  });

  it('names the annotation each problem is in', () => {
    expect(
      readDeclaredPluginState({
        [PLUGIN_ID_ANNOTATION]: 'p',
        [PLUGIN_VERSION_ANNOTATION]: '^1.0.0',
        [PLUGIN_STRATEGY_ANNOTATION]: 'big-bang',
      }),
    ).toEqual({
      kind: 'invalid',
      pluginId: 'p',
      message: expect.stringMatching(
        /^plugin-lifecycle\.backstage\.io\/version: must be a semantic version.*; plugin-lifecycle\.backstage\.io\/strategy: must be one of/,
      ),
    });
    expect(
      readDeclaredPluginState({
        [PLUGIN_ID_ANNOTATION]: 'p',
        [PLUGIN_VERSION_ANNOTATION]: '1.0.0',
        [PLUGIN_STRATEGY_CONFIG_ANNOTATION]: '{canary: 1}',
      }),
    ).toMatchObject({
      kind: 'invalid',
      message: expect.stringContaining(
        'plugin-lifecycle.backstage.io/strategy-config: not JSON',
      ),
    });
    expect(
      readDeclaredPluginState({
        [PLUGIN_ID_ANNOTATION]: 'p',
        [PLUGIN_VERSION_ANNOTATION]: '1.0.0',
        [PLUGIN_STRATEGY_CONFIG_ANNOTATION]: '{"canary": {"nope": 1}}',
      }),
    ).toMatchObject({
      kind: 'invalid',
      message: expect.stringContaining(
        'plugin-lifecycle.backstage.io/strategy-config.canary',
      ),
    });
    expect(
      readDeclaredPluginState({
        [PLUGIN_ID_ANNOTATION]: 'p',
        [PLUGIN_VERSION_ANNOTATION]: '1.0.0',
        [PLUGIN_STRATEGY_ANNOTATION]: 'a-b-testing',
      }),
    ).toMatchObject({
      kind: 'invalid',
      message: expect.stringContaining('abTesting: required'),
    });
  });
});
