import { mockCredentials } from '@backstage/backend-test-utils';
import { ConfigReader } from '@backstage/config';
import request from 'supertest';
import { startLifecycleBackend } from './__testUtils__/testBackend';
import {
  catalogSyncPluginsOf,
  execProbePolicyOf,
  readPluginLifecycleConfig,
} from './config';

const read = (discovery: object) =>
  readPluginLifecycleConfig(
    new ConfigReader({ pluginLifecycle: { discovery } }),
  ).discovery;

describe('readPluginLifecycleConfig: the data plane', () => {
  it('defaults to the Node engine and fills in nginx defaults', () => {
    expect(read({}).dataPlane).toBeUndefined();
    expect(read({ dataPlane: { port: 7008 } }).dataPlane).toEqual({
      port: 7008,
      host: '127.0.0.1',
      engine: 'node',
      allowUnauthenticated: false,
      nginx: { workers: 1 },
    });
    expect(
      read({
        dataPlane: {
          port: 7008,
          engine: 'nginx',
          token: 'a-long-enough-token.v1',
          nginx: { workers: 2, binary: '/opt/nginx/sbin/nginx' },
        },
      }).dataPlane,
    ).toMatchObject({
      engine: 'nginx',
      nginx: { workers: 2, binary: '/opt/nginx/sbin/nginx' },
    });
  });

  it('names the key of a bad value', () => {
    expect(() => read({ dataPlane: { port: 7008, engine: 'envoy' } })).toThrow(
      /pluginLifecycle\.discovery\.dataPlane\.engine/,
    );
    expect(() =>
      read({ dataPlane: { port: 7008, nginx: { workers: 0 } } }),
    ).toThrow(/pluginLifecycle\.discovery\.dataPlane\.nginx\.workers/);
    // nginx's configuration cannot hold a token with quotes or spaces.
    expect(() =>
      read({
        dataPlane: {
          port: 7008,
          engine: 'nginx',
          token: 'with spaces and "quotes"',
        },
      }),
    ).toThrow(
      /pluginLifecycle\.discovery\.dataPlane\.token: with the nginx engine, the token must be letters, digits/,
    );
    // The Node engine takes any token.
    expect(
      read({ dataPlane: { port: 7008, token: 'with spaces and "quotes"' } })
        .dataPlane?.token,
    ).toBe('with spaces and "quotes"');
  });
});

describe('readPluginLifecycleConfig: discovery security', () => {
  it('refuses a data plane beyond loopback without a token, naming the key', () => {
    for (const engine of ['node', 'nginx']) {
      expect(() =>
        read({ dataPlane: { port: 7008, host: '0.0.0.0', engine } }),
      ).toThrow(
        /pluginLifecycle\.discovery\.dataPlane\.token: is required when the data plane listens beyond loopback/,
      );
    }
    expect(
      read({ dataPlane: { port: 7008, host: '::1' } }).dataPlane?.host,
    ).toBe('::1');
    expect(
      read({
        dataPlane: { port: 7008, host: '0.0.0.0', allowUnauthenticated: true },
      }).dataPlane?.allowUnauthenticated,
    ).toBe(true);
  });

  it('defaults allowedTargets to loopback and private ranges and refuses a bad CIDR', () => {
    expect(read({}).allowedTargets).toEqual([
      '127.0.0.0/8',
      '::1/128',
      '10.0.0.0/8',
      '172.16.0.0/12',
      '192.168.0.0/16',
      'fc00::/7',
    ]);
    expect(read({}).reservedServiceNames).toContain('catalog');
    expect(read({}).proxy.passCookies).toEqual([]);
    expect(() => read({ allowedTargets: ['10.0.0.0/33'] })).toThrow(
      /pluginLifecycle\.discovery\.allowedTargets: '10\.0\.0\.0\/33' is not a CIDR/,
    );
  });
});

describe('readPluginLifecycleConfig: shutdown', () => {
  const shutdown = (value?: object) =>
    readPluginLifecycleConfig(
      new ConfigReader({
        pluginLifecycle: value === undefined ? {} : { shutdown: value },
      }),
    ).shutdown;

  it('defaults to a 10 s grace period and takes 0 (end at once)', () => {
    const kept = { stopInstances: false };
    expect(shutdown()).toEqual({ gracePeriod: 10_000, ...kept });
    expect(shutdown({})).toEqual({ gracePeriod: 10_000, ...kept });
    expect(shutdown({ gracePeriod: 0 })).toEqual({ gracePeriod: 0, ...kept });
    expect(shutdown({ gracePeriod: 2500 })).toEqual({
      gracePeriod: 2500,
      ...kept,
    });
  });

  it('leaves instances running by default; stopInstances stops them', () => {
    expect(shutdown({ stopInstances: true })).toMatchObject({
      stopInstances: true,
    });
    expect(() => shutdown({ stopInstances: 'yes' })).toThrow(
      /pluginLifecycle\.shutdown\.stopInstances/,
    );
  });

  it('names the key of a bad value', () => {
    for (const gracePeriod of [-1, 1.5, '10s']) {
      expect(() => shutdown({ gracePeriod })).toThrow(
        /pluginLifecycle\.shutdown\.gracePeriod/,
      );
    }
    expect(() => shutdown({ gracePeriodMs: 1 })).toThrow(
      /pluginLifecycle\.shutdown/,
    );
  });
});

describe('readPluginLifecycleConfig: npm artifacts', () => {
  const lifecycle = (pluginLifecycle: object) =>
    readPluginLifecycleConfig(new ConfigReader({ pluginLifecycle }));

  it('runs no package scripts unless allowScripts is true', () => {
    expect(lifecycle({}).runtime.process).toEqual({
      host: '127.0.0.1',
      startTimeout: 30_000,
      readyTimeout: 60_000,
      stopGracePeriod: 10_000,
      npm: { allowScripts: false },
      isolation: { userPrefix: 'pl-', users: {}, createUsers: true },
    });
    expect(
      lifecycle({ runtime: { process: { npm: { allowScripts: true } } } })
        .runtime.process.npm.allowScripts,
    ).toBe(true);
    expect(() =>
      lifecycle({ runtime: { process: { npm: { allowScripts: 'yes' } } } }),
    ).toThrow(/pluginLifecycle\.runtime\.process\.npm\.allowScripts/);
  });

  it('takes args and file: specs of configured npm artifacts', () => {
    const artifact = {
      type: 'npm',
      package: 'http-server',
      version: 'file:./packages/http-server-14.1.1.tgz',
      args: ['--port', '${PORT}', './public'],
    };
    expect(
      lifecycle({ plugins: { web: { artifact } } }).plugins.web.artifact,
    ).toEqual(artifact);
  });

  it('names the key of a package name or version npm would not take', () => {
    const plugins = (artifact: object) => ({ plugins: { web: { artifact } } });
    expect(() => lifecycle(plugins({ type: 'npm', package: '--foo' }))).toThrow(
      /pluginLifecycle\.plugins\.web\.artifact\.package/,
    );
    expect(() =>
      lifecycle(plugins({ type: 'npm', package: 'node_modules' })),
    ).toThrow(
      /pluginLifecycle\.plugins\.web\.artifact: artifact\.package 'node_modules' is not an npm package name/,
    );
    expect(() =>
      lifecycle(plugins({ type: 'npm', package: 'x', version: '--tag=y' })),
    ).toThrow(/pluginLifecycle\.plugins\.web\.artifact\.version/);
  });
});

describe("readPluginLifecycleConfig: code execution is the operator's choice", () => {
  const lifecycle = (pluginLifecycle: object) =>
    readPluginLifecycleConfig(new ConfigReader({ pluginLifecycle }));
  const artifact = { type: 'tarball', path: './web-${version}.tgz' };

  it('lets install requests carry external artifacts only, by default', () => {
    expect(lifecycle({}).requestArtifactTypes).toEqual(['external']);
    expect(
      lifecycle({ requestArtifactTypes: ['npm', 'external'] })
        .requestArtifactTypes,
    ).toEqual(['npm', 'external']);
  });

  it('allows no exec probe command by default', () => {
    const config = lifecycle({ plugins: { web: { artifact } } });
    expect(config.health.exec).toEqual({ allowedCommands: [] });
    expect(config.plugins.web.allowExecProbes).toBe(false);
    const policy = execProbePolicyOf(config);
    expect(policy.allows('sh', { kind: 'plugin', pluginId: 'web' })).toBe(
      false,
    );
  });

  it('allows the listed commands, and any command of a plugin allowed to', () => {
    const policy = execProbePolicyOf(
      lifecycle({
        health: { exec: { allowedCommands: ['pg_isready'] } },
        plugins: {
          web: { artifact, allowExecProbes: true },
          api: { artifact },
        },
      }),
    );
    expect(
      policy.allows('pg_isready', { kind: 'plugin', pluginId: 'api' }),
    ).toBe(true);
    expect(policy.allows('sh', { kind: 'plugin', pluginId: 'web' })).toBe(true);
    expect(policy.allows('sh', { kind: 'plugin', pluginId: 'api' })).toBe(
      false,
    );
    expect(policy.allows('sh', { kind: 'service', serviceName: 'web' })).toBe(
      false,
    );
  });

  it('names the key of a bad value', () => {
    expect(() =>
      lifecycle({ health: { exec: { allowedCommands: 'sh' } } }),
    ).toThrow(/pluginLifecycle\.health\.exec\.allowedCommands/);
    expect(() =>
      lifecycle({ plugins: { web: { artifact, allowExecProbes: 'yes' } } }),
    ).toThrow(/pluginLifecycle\.plugins\.web\.allowExecProbes/);
  });
});

describe('readPluginLifecycleConfig: restart policy', () => {
  const readAll = (pluginLifecycle: object) =>
    readPluginLifecycleConfig(new ConfigReader({ pluginLifecycle }));

  it('has kubelet-like defaults, and a plugin sets only the keys it names', () => {
    const config = readAll({
      runtime: { restartPolicy: { maxRestarts: 2, backoffMax: 5000 } },
      plugins: {
        p: {
          artifact: { type: 'external', endpoints: [{ host: 'h', port: 1 }] },
          restartPolicy: { maxRestarts: 0 },
        },
      },
    });
    expect(config.runtime.restartPolicy).toEqual({
      backoffBase: 1_000,
      backoffMax: 5_000,
      maxRestarts: 2,
      window: 600_000,
    });
    // Only what the plugin names: the global values stay for the rest.
    expect(config.plugins.p.restartPolicy).toEqual({ maxRestarts: 0 });
  });

  it('names the key of a bad value', () => {
    expect(() =>
      readAll({ runtime: { restartPolicy: { maxRestarts: -1 } } }),
    ).toThrow(/pluginLifecycle\.runtime\.restartPolicy\.maxRestarts/);
    expect(() =>
      readAll({ runtime: { restartPolicy: { backoff: 1 } } }),
    ).toThrow(/pluginLifecycle\.runtime\.restartPolicy/);
  });
});

describe('readPluginLifecycleConfig: process isolation', () => {
  const isolation = (value: object) =>
    readPluginLifecycleConfig(
      new ConfigReader({
        pluginLifecycle: { runtime: { process: { isolation: value } } },
      }),
    ).runtime.process.isolation;

  it('leaves the mode to the backend (root or not) unless set', () => {
    expect(isolation({}).mode).toBeUndefined();
    expect(
      isolation({ mode: 'shared-user', users: { billing: 'svc-billing' } }),
    ).toEqual({
      mode: 'shared-user',
      userPrefix: 'pl-',
      users: { billing: 'svc-billing' },
      createUsers: true,
    });
  });

  it('refuses a mode it does not know and names that are not user names', () => {
    expect(() => isolation({ mode: 'chroot' })).toThrow(
      /pluginLifecycle\.runtime\.process\.isolation\.mode/,
    );
    expect(() => isolation({ users: { billing: 'Root:0' } })).toThrow(
      /pluginLifecycle\.runtime\.process\.isolation\.users\.billing: must be a Unix user name/,
    );
    expect(() => isolation({ userPrefix: 'a-prefix-far-too-long-' })).toThrow(
      /isolation\.userPrefix/,
    );
  });
});

describe('readPluginLifecycleConfig: encryption keys', () => {
  const devKey = {
    id: 'dev-1',
    secret: 'ZGV2LW9ubHkta2V5LWRvLW5vdC11c2UtaW4tcHJvZCE=',
  };
  const prodKey = {
    id: 'prod-1',
    secret: 'cHJvZC1rZXktMzItYnl0ZXMtbG9uZy1mb3ItdGVzdHM=',
  };

  it('refuses an activeKeyId a later config file left behind, saying what to set', () => {
    // As app-config.production.yaml over app-config.yaml once was: its keys
    // replace the list, the development activeKeyId stays.
    const layered = ConfigReader.fromConfigs([
      {
        context: 'app-config.yaml',
        data: {
          pluginLifecycle: {
            configuration: {
              encryption: { keys: [devKey], activeKeyId: 'dev-1' },
            },
          },
        },
      },
      {
        context: 'app-config.production.yaml',
        data: {
          pluginLifecycle: {
            configuration: { encryption: { keys: [prodKey] } },
          },
        },
      },
    ]);
    expect(() => readPluginLifecycleConfig(layered)).toThrow(
      "pluginLifecycle.configuration.encryption.activeKeyId: 'dev-1' is not the id of a configured key ('prod-1'); set pluginLifecycle.configuration.encryption.activeKeyId to one of them",
    );
  });

  it('takes an activeKeyId among the keys, or none', () => {
    const readKeys = (encryption: object) =>
      readPluginLifecycleConfig(
        new ConfigReader({
          pluginLifecycle: { configuration: { encryption } },
        }),
      ).configuration.encryption;
    expect(readKeys({ keys: [devKey, prodKey], activeKeyId: 'dev-1' })).toEqual(
      {
        keys: [devKey, prodKey],
        activeKeyId: 'dev-1',
      },
    );
    expect(readKeys({ keys: [prodKey] }).activeKeyId).toBeUndefined();
  });
});

describe('readPluginLifecycleConfig: version metrics history', () => {
  const history = (versionHistory?: object) =>
    readPluginLifecycleConfig(
      new ConfigReader({
        pluginLifecycle:
          versionHistory === undefined ? {} : { metrics: { versionHistory } },
      }),
    ).metrics.versionHistory;

  it('keeps 30 minutes at 5 s by default, for at most 200 versions', () => {
    expect(history()).toEqual({
      sampleInterval: 5_000,
      retention: 1_800_000,
      maxSeries: 200,
    });
    expect(history({ sampleInterval: 1_000, retention: 60_000 })).toEqual({
      sampleInterval: 1_000,
      retention: 60_000,
      maxSeries: 200,
    });
  });

  it('names the key of a bad value', () => {
    expect(() => history({ sampleInterval: 10 })).toThrow(
      /pluginLifecycle\.metrics\.versionHistory\.sampleInterval/,
    );
    expect(() => history({ sampleInterval: 5_000, retention: 1_000 })).toThrow(
      /pluginLifecycle\.metrics\.versionHistory: retention must be at least one sampleInterval/,
    );
  });
});

describe('readPluginLifecycleConfig: metrics export', () => {
  const exportOf = (metrics?: object) =>
    readPluginLifecycleConfig(
      new ConfigReader({
        pluginLifecycle: metrics === undefined ? {} : { metrics },
      }),
    ).metrics.export;

  it('exports by default, and not when switched off', () => {
    expect(exportOf()).toBe(true);
    expect(exportOf({ export: false })).toBe(false);
    expect(() => exportOf({ export: 'yes' })).toThrow(
      /pluginLifecycle\.metrics\.export/,
    );
  });
});

describe("readPluginLifecycleConfig: the original design's system configuration", () => {
  // ORIGINAL-DESIGN.md, "System Configuration", as written.
  const designConfig = {
    orchestrator: {
      maxConcurrentOperations: 10,
      defaultTimeout: 300000,
      enableAutoRecovery: true,
    },
    serviceDiscovery: {
      enableHealthChecks: true,
      enableLoadBalancing: true,
      tenantIsolation: true,
    },
    healthMonitor: {
      enableCircuitBreakers: true,
      enableAutoRecovery: true,
      maxConsecutiveFailures: 3,
    },
    configurationManager: {
      enableVersioning: true,
      enableEncryption: true,
      maxVersionHistory: 100,
    },
    globalSettings: {
      enableMetrics: true,
      enableAuditLogging: true,
      defaultEnvironment: 'production',
    },
  };
  // ORIGINAL-DESIGN.md, "Local Development", as written.
  const devConfig = {
    globalSettings: {
      defaultEnvironment: 'development',
    },
    orchestrator: {
      defaultTimeout: 30000, // Reduced for faster development
      enableAutoRecovery: false, // Disable for debugging
    },
    healthMonitor: {
      healthCheckInterval: 10000, // More frequent checks
    },
  };
  const readDesign = (pluginLifecycle: object) => {
    const warnings: string[] = [];
    const config = readPluginLifecycleConfig(
      new ConfigReader({ pluginLifecycle } as any),
      { warn: w => warnings.push(w) },
    );
    return { config, warnings };
  };

  it('maps the System Configuration block onto our keys', () => {
    const { config, warnings } = readDesign(designConfig);
    expect(config.orchestrator).toMatchObject({
      maxConcurrentOperations: 10,
      defaultTimeout: 300000,
      enableAutoRecovery: true,
    });
    expect(config.discovery.healthChecks).toBe(true);
    expect(config.tenancy.enabled).toBe(true);
    expect(config.health.circuitBreakers).toBe(true);
    expect(config.health.remediation).toEqual({
      '*': { onLivenessFailure: 'restart' },
    });
    expect(config.health.probeDefaults).toEqual({ failureThreshold: 3 });
    expect(config.configuration.maxVersionHistory).toBe(100);
    expect(config.metrics.export).toBe(true);
    expect(config.defaultEnvironment).toBe('production');
    // enableEncryption without a key: secrets are refused until one is set.
    expect(warnings).toEqual([
      'pluginLifecycle.configurationManager.enableEncryption is true but pluginLifecycle.configuration.encryption.keys is empty: secret and sensitive values are refused until a key is configured',
    ]);
    // The design's sections are not kept beside ours.
    expect(config).not.toHaveProperty('healthMonitor');
    expect(config).not.toHaveProperty('globalSettings');
  });

  it('maps the Local Development block onto our keys', () => {
    const { config, warnings } = readDesign(devConfig);
    expect(config.defaultEnvironment).toBe('development');
    expect(config.orchestrator).toMatchObject({
      defaultTimeout: 30000,
      enableAutoRecovery: false,
    });
    expect(config.health.probeDefaults).toEqual({ periodSeconds: 10 });
    expect(warnings).toEqual([]);
  });

  it('maps each switch that turns something off', () => {
    const { config } = readDesign({
      serviceDiscovery: { enableHealthChecks: false, tenantIsolation: false },
      healthMonitor: {
        enableCircuitBreakers: false,
        enableAutoRecovery: false,
      },
      globalSettings: { enableMetrics: false },
    });
    expect(config.discovery.healthChecks).toBe(false);
    expect(config.tenancy.enabled).toBe(false);
    expect(config.health.circuitBreakers).toBe(false);
    expect(config.health.remediation['*']).toEqual({
      onLivenessFailure: 'event',
    });
    expect(config.metrics.export).toBe(false);
  });

  it('lets our key win over the design key it maps to, with a warning', () => {
    const { config, warnings } = readDesign({
      defaultEnvironment: 'staging',
      globalSettings: { defaultEnvironment: 'production' },
      health: {
        probeDefaults: { failureThreshold: 5 },
        remediation: { '*': { onLivenessFailure: 'mark-error' } },
      },
      healthMonitor: { maxConsecutiveFailures: 3, enableAutoRecovery: false },
      configuration: { maxVersionHistory: 20 },
      // The same value in both: no warning.
      configurationManager: { maxVersionHistory: 20 },
    });
    expect(config.defaultEnvironment).toBe('staging');
    expect(config.health.probeDefaults.failureThreshold).toBe(5);
    expect(config.health.remediation['*'].onLivenessFailure).toBe('mark-error');
    expect(config.configuration.maxVersionHistory).toBe(20);
    expect(warnings).toEqual([
      'pluginLifecycle.healthMonitor.enableAutoRecovery ("event") is overridden by pluginLifecycle.health.remediation.*.onLivenessFailure ("mark-error"), which is also set',
      'pluginLifecycle.healthMonitor.maxConsecutiveFailures (3) is overridden by pluginLifecycle.health.probeDefaults.failureThreshold (5), which is also set',
      'pluginLifecycle.globalSettings.defaultEnvironment ("production") is overridden by pluginLifecycle.defaultEnvironment ("staging"), which is also set',
    ]);
  });

  it('refuses at start a switch it cannot honour, saying what to do', () => {
    expect(() =>
      readDesign({ configurationManager: { enableVersioning: false } }),
    ).toThrow(
      'Invalid plugin-lifecycle configuration: pluginLifecycle.configurationManager.enableVersioning: false cannot be honoured: every configuration change is a new version',
    );
    expect(() =>
      readDesign({ configurationManager: { enableEncryption: false } }),
    ).toThrow(
      /configurationManager\.enableEncryption: false cannot be honoured: secret and sensitive values are always stored encrypted/,
    );
    expect(() =>
      readDesign({ globalSettings: { enableAuditLogging: false } }),
    ).toThrow(/globalSettings\.enableAuditLogging: false cannot be honoured/);
    expect(() =>
      readDesign({ serviceDiscovery: { enableLoadBalancing: false } }),
    ).toThrow(
      /serviceDiscovery\.enableLoadBalancing: false cannot be honoured/,
    );
  });

  it('names the key of a wrong type or an unknown key', () => {
    expect(() =>
      readDesign({ healthMonitor: { maxConsecutiveFailures: 'three' } }),
    ).toThrow(
      /^Invalid plugin-lifecycle configuration: pluginLifecycle\.healthMonitor\.maxConsecutiveFailures: Invalid input: expected number, received string$/,
    );
    expect(() =>
      readDesign({ serviceDiscovery: { tenantIsolation: 'yes' } }),
    ).toThrow(
      /pluginLifecycle\.serviceDiscovery\.tenantIsolation: Invalid input: expected boolean/,
    );
    expect(() =>
      readDesign({ globalSettings: { enableMetric: true } }),
    ).toThrow(
      /pluginLifecycle\.globalSettings: Unrecognized key: "enableMetric"/,
    );
    expect(() =>
      readDesign({ healthMonitor: { healthCheckInterval: 2.5 } }),
    ).toThrow(
      /healthMonitor\.healthCheckInterval: must be a whole number of milliseconds/,
    );
  });

  it('starts the backend with the design blocks as its configuration', async () => {
    for (const block of [designConfig, devConfig]) {
      const backend = await startLifecycleBackend({
        pluginId: 'my-plugin',
        config: block,
      });
      try {
        const res = await request(backend.server)
          .get('/api/plugin-lifecycle/plugins')
          .set('authorization', mockCredentials.user.header());
        expect(res.status).toBe(200);
      } finally {
        await backend.stop();
      }
    }
  });
});

describe("readPluginLifecycleConfig: catalog sync is the operator's choice", () => {
  const artifact = {
    type: 'external',
    endpoints: [{ host: '127.0.0.1', port: 7001 }],
  };
  const readConfig = (pluginLifecycle: object) =>
    readPluginLifecycleConfig(new ConfigReader({ pluginLifecycle }));

  it('is off, and then for no plugin, by default', () => {
    const config = readConfig({ plugins: { a: { artifact } } });
    expect(config.catalogSync).toEqual({
      enabled: false,
      interval: 60_000,
      plugins: [],
    });
    expect(config.plugins.a.catalogSync).toBe(false);
    expect(catalogSyncPluginsOf(config)).toEqual([]);
    expect(
      catalogSyncPluginsOf(readConfig({ catalogSync: { enabled: true } })),
    ).toEqual([]);
  });

  it('acts on the listed plugins and those opted in one by one, once enabled', () => {
    const pluginLifecycle = {
      catalogSync: { plugins: ['listed', 'both'] },
      plugins: {
        both: { artifact, catalogSync: true },
        own: { artifact, catalogSync: true },
        other: { artifact },
      },
    };
    expect(catalogSyncPluginsOf(readConfig(pluginLifecycle))).toEqual([]);
    expect(
      catalogSyncPluginsOf(
        readConfig({
          ...pluginLifecycle,
          catalogSync: { ...pluginLifecycle.catalogSync, enabled: true },
        }),
      ),
    ).toEqual(['both', 'listed', 'own']);
  });

  it('names the key of a bad value', () => {
    expect(() => readConfig({ catalogSync: { interval: 10 } })).toThrow(
      /pluginLifecycle\.catalogSync\.interval/,
    );
    expect(() => readConfig({ catalogSync: { enable: true } })).toThrow(
      /pluginLifecycle\.catalogSync/,
    );
    expect(() =>
      readConfig({ plugins: { a: { artifact, catalogSync: 'yes' } } }),
    ).toThrow(/pluginLifecycle\.plugins\.a\.catalogSync/);
  });
});

describe('readPluginLifecycleConfig: other runtimes', () => {
  it('leaves runtime.kubernetes to its module and takes plugins with an image artifact', () => {
    const config = readPluginLifecycleConfig(
      new ConfigReader({
        pluginLifecycle: {
          runtime: {
            kubernetes: { namespace: 'plugins', namespaces: 'shared' },
          },
          plugins: {
            hello: {
              runtime: 'kubernetes',
              artifact: { type: 'image', image: 'hello:1', port: 8080 },
            },
          },
        },
      }),
    );
    expect(config.plugins.hello.artifact).toEqual({
      type: 'image',
      image: 'hello:1',
      port: 8080,
    });
    expect(() =>
      readPluginLifecycleConfig(
        new ConfigReader({ pluginLifecycle: { runtime: { kubernete: {} } } }),
      ),
    ).toThrow(/pluginLifecycle\.runtime/);
  });
});
