import type { MetricsService } from '@backstage/backend-plugin-api/alpha';
import { PrometheusSerializer } from '@opentelemetry/exporter-prometheus';
import { MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import { Deployment } from '@internal/plugin-lifecycle-common';
import { SystemEvents } from '../../events/SystemEvents';
import { ProxyMetrics } from '../discovery/ProxyMetrics';
import { MetricsExporter } from './MetricsExporter';
import { MetricsSnapshot, healthLabel } from './MetricsReadModel';

/** Collects on demand, as the Prometheus exporter does per scrape. */
class ScrapeReader extends MetricReader {
  protected async onShutdown() {}
  protected async onForceFlush() {}
}

/** The real OpenTelemetry SDK behind a MetricsService, as Backstage's default factory builds it. */
function realMetrics() {
  const reader = new ScrapeReader();
  const provider = new MeterProvider({ readers: [reader] });
  const meter = provider.getMeter('backstage-plugin-plugin-lifecycle');
  const metrics: MetricsService = {
    createCounter: (name, opts) => meter.createCounter(name, opts),
    createUpDownCounter: (name, opts) => meter.createUpDownCounter(name, opts),
    createHistogram: (name, opts) => meter.createHistogram(name, opts),
    createGauge: (name, opts) => meter.createGauge(name, opts),
    createObservableCounter: (name, opts) =>
      meter.createObservableCounter(name, opts),
    createObservableUpDownCounter: (name, opts) =>
      meter.createObservableUpDownCounter(name, opts),
    createObservableGauge: (name, opts) =>
      meter.createObservableGauge(name, opts),
  };
  /** The text a Prometheus scrape gets, as samples. */
  const scrape = async () => {
    const { resourceMetrics } = await reader.collect();
    const text = new PrometheusSerializer(
      undefined,
      false,
      undefined,
      true,
      true,
    ).serialize(resourceMetrics);
    return text
      .split('\n')
      .filter(line => line && !line.startsWith('#'))
      .map(line => {
        const match = /^([a-z_]+)(?:\{(.*)\})? (\S+)$/.exec(line);
        if (!match) throw new Error(`not a sample: ${line}`);
        const labels = Object.fromEntries(
          [...(match[2] ?? '').matchAll(/([a-z_]+)="([^"]*)"/g)].map(m => [
            m[1],
            m[2],
          ]),
        );
        return { name: match[1], labels, value: Number(match[3]) };
      });
  };
  return { metrics, scrape, shutdown: () => provider.shutdown() };
}

const snapshot = (
  overrides: Partial<MetricsSnapshot> = {},
): MetricsSnapshot => ({
  plugins: [
    { id: 'a', state: 'running' },
    { id: 'b', state: 'error' },
  ],
  instances: [
    { id: 'a-1', pluginId: 'a', health: 'healthy' },
    { id: 'a-2', pluginId: 'a', health: 'healthy' },
    { id: 'a-3', pluginId: 'a', health: 'degraded' },
  ],
  operations: { queued: 3, running: 1 },
  activeDeployments: [
    {
      pluginId: 'a',
      strategy: 'canary',
      phase: 'paused',
      lastProgressMs: 1_000_000 - 90_000,
    },
  ],
  configVersions: [{ pluginId: 'a', layer: 'base', version: 4 }],
  configWatchers: 2,
  ...overrides,
});

const deployment = (phase: string, id = 'd1') =>
  ({ id, phase, strategy: 'blue-green' } as unknown as Deployment);
/** What every deploymentManager:* event carries. */
const ended = (phase: string, id = 'd1') => ({
  deploymentId: id,
  pluginId: 'a',
  deployment: deployment(phase, id),
});

const op = (operationId: string, type = 'install') =>
  ({
    operationId,
    pluginId: 'a',
    tenant: 'default',
    type,
    status: 'running',
    attempts: 1,
  } as any);

describe('MetricsExporter', () => {
  let sdk: ReturnType<typeof realMetrics>;
  let events: SystemEvents;
  let proxy: ProxyMetrics;
  let now: number;
  let exporter: MetricsExporter;
  let reads: number;

  beforeEach(() => {
    sdk = realMetrics();
    events = new SystemEvents();
    proxy = ProxyMetrics.create();
    now = 1_000_000;
    reads = 0;
    exporter = MetricsExporter.create({
      metrics: sdk.metrics,
      events,
      replicaId: 'me',
      observeProxy: listener => proxy.observe(listener),
      clock: () => now,
      readModel: {
        snapshot: async () => {
          reads++;
          return snapshot();
        },
      },
    });
    exporter.start();
  });

  afterEach(async () => {
    exporter.stop();
    await sdk.shutdown();
  });

  const find = (
    samples: Awaited<ReturnType<typeof sdk.scrape>>,
    name: string,
    labels: Record<string, string> = {},
  ) =>
    samples.filter(
      s =>
        s.name === name &&
        Object.entries(labels).every(([k, v]) => s.labels[k] === v),
    );

  it('serves the gauges from the read model, every state and strategy included', async () => {
    const samples = await sdk.scrape();
    const plugins = find(samples, 'plugin_lifecycle_plugins');
    expect(plugins.length).toBeGreaterThan(5);
    expect(
      find(samples, 'plugin_lifecycle_plugins', { state: 'running' })[0].value,
    ).toBe(1);
    expect(
      find(samples, 'plugin_lifecycle_plugins', { state: 'stopping' })[0].value,
    ).toBe(0);
    expect(
      find(samples, 'plugin_lifecycle_plugin_state').map(s => s.labels),
    ).toEqual([
      { plugin: 'a', state: 'running' },
      { plugin: 'b', state: 'error' },
    ]);
    expect(
      find(samples, 'plugin_lifecycle_instances').map(s => [
        s.labels.plugin,
        s.labels.health,
        s.value,
      ]),
    ).toEqual([
      ['a', 'healthy', 2],
      ['a', 'degraded', 1],
    ]);
    expect(
      find(samples, 'plugin_lifecycle_operation_queue_depth').map(s => [
        s.labels.status,
        s.value,
      ]),
    ).toEqual([
      ['queued', 3],
      ['running', 1],
    ]);
    expect(
      find(samples, 'plugin_lifecycle_deployments_active', {
        strategy: 'canary',
      })[0].value,
    ).toBe(1);
    expect(
      find(samples, 'plugin_lifecycle_deployments_active', {
        strategy: 'rolling',
      })[0].value,
    ).toBe(0);
    expect(
      find(samples, 'plugin_lifecycle_deployment_seconds_since_progress'),
    ).toEqual([
      {
        name: 'plugin_lifecycle_deployment_seconds_since_progress',
        labels: { plugin: 'a', strategy: 'canary' },
        value: 90,
      },
    ]);
    expect(
      find(samples, 'plugin_lifecycle_config_version', {
        plugin: 'a',
        layer: 'base',
      })[0].value,
    ).toBe(4);
    expect(find(samples, 'plugin_lifecycle_config_watchers')[0].value).toBe(2);
  });

  it('counts what the events, probes and both data planes report, under the contract names', async () => {
    events.publish('runtime', 'instanceRestartScheduled', {
      pluginId: 'a',
      instanceId: 'a-1',
      delayMs: 100,
      crashes: 1,
      maxRestarts: 5,
    });
    const verdict = {
      targetId: 'a-1',
      pluginId: 'a',
      instanceId: 'a-1',
      ready: false,
      live: true,
      healthScore: 0,
      reasons: [],
    };
    // The first verdict is no transition; another replica's is not ours to count.
    events.publish('healthMonitor', 'verdictChanged', {
      ...verdict,
      verdict: 'healthy',
      reportedBy: 'me',
    });
    events.publish('healthMonitor', 'verdictChanged', {
      ...verdict,
      verdict: 'unhealthy',
      previous: 'healthy',
      reportedBy: 'me',
    });
    events.emitLocal('healthMonitor', 'verdictChanged', {
      ...verdict,
      verdict: 'healthy',
      previous: 'unhealthy',
      reportedBy: 'other',
    });
    // Out of rotation and back, the verdict unchanged: two more.
    events.publish('healthMonitor', 'verdictChanged', {
      ...verdict,
      verdict: 'unhealthy',
      ready: true,
      previous: 'unhealthy',
      reportedBy: 'me',
    });
    events.publish('healthMonitor', 'verdictChanged', {
      ...verdict,
      verdict: 'unhealthy',
      ready: false,
      healthScore: 0.5,
      previous: 'unhealthy',
      reportedBy: 'me',
    });
    // A score change alone is none.
    events.publish('healthMonitor', 'verdictChanged', {
      ...verdict,
      verdict: 'unhealthy',
      ready: false,
      healthScore: 0.9,
      previous: 'unhealthy',
      reportedBy: 'me',
    });
    events.publish('configurationManager', 'changed', {
      pluginId: 'a',
      layer: 'base',
      version: 2,
      revision: 7,
      keys: ['x'],
    });
    events.publish('orchestrator', 'operationQueued', op('op-1'));
    now += 1_000;
    events.publish('orchestrator', 'operationStarted', op('op-1'));
    now += 2_500;
    events.publish('orchestrator', 'operationCompleted', op('op-1'));
    // Queued and cancelled before it ran: from the queueing.
    events.publish('orchestrator', 'operationQueued', op('op-2', 'start'));
    now += 500;
    events.publish('orchestrator', 'operationCancelled', op('op-2', 'start'));
    // Started on another replica: not recorded here.
    events.publish('orchestrator', 'operationFailed', {
      ...op('op-3'),
      error: 'x',
      failureKind: 'permanent',
    } as any);
    events.publish('deploymentManager', 'deploymentStepCompleted', {
      ...ended('progressing'),
      step: {} as any,
    });
    events.publish('deploymentManager', 'deploymentActionTaken', {
      ...ended('aborted'),
      action: 'abort',
    });
    // The same end heard twice counts once.
    events.publish('deploymentManager', 'deploymentFailed', {
      ...ended('aborted'),
    });
    events.publish('deploymentManager', 'deploymentRolledBack', {
      ...ended('rolled-back', 'd2'),
    });

    exporter.recordProbe({
      pluginId: 'a',
      probeType: 'readiness',
      method: 'http',
      ok: true,
      latencyMs: 4,
    });
    exporter.recordProbe({
      pluginId: 'a',
      probeType: 'readiness',
      method: 'http',
      ok: false,
      latencyMs: 2_000,
    });

    const v1 = proxy.target({
      serviceId: 'a-1',
      serviceName: 'a',
      version: '1.0.0',
    });
    proxy.responded(v1, 200, 3);
    proxy.responded(v1, 204, 7);
    proxy.responded(v1, 503, 20, 'nginx');
    proxy.failed(v1, 'nginx');

    const samples = await sdk.scrape();
    const value = (name: string, labels: Record<string, string> = {}) => {
      const found = find(samples, name, labels);
      if (found.length !== 1) {
        throw new Error(
          `${name} ${JSON.stringify(labels)}: ${found.length} samples`,
        );
      }
      return found[0].value;
    };
    expect(
      value('plugin_lifecycle_instance_restarts_total', { plugin: 'a' }),
    ).toBe(1);
    expect(
      value('plugin_lifecycle_health_transitions_total', { plugin: 'a' }),
    ).toBe(3);
    expect(
      value('plugin_lifecycle_config_changes_total', { plugin: 'a' }),
    ).toBe(1);
    expect(
      value('plugin_lifecycle_operation_duration_seconds_sum', {
        type: 'install',
        outcome: 'succeeded',
      }),
    ).toBe(2.5);
    expect(
      value('plugin_lifecycle_operation_duration_seconds_sum', {
        type: 'start',
        outcome: 'cancelled',
      }),
    ).toBe(0.5);
    expect(
      find(samples, 'plugin_lifecycle_operation_duration_seconds_count', {
        outcome: 'failed',
      }),
    ).toEqual([]);
    expect(
      value('plugin_lifecycle_deployments_total', {
        strategy: 'blue-green',
        outcome: 'aborted',
      }),
    ).toBe(1);
    expect(
      value('plugin_lifecycle_deployments_total', {
        strategy: 'blue-green',
        outcome: 'rolled_back',
      }),
    ).toBe(1);
    expect(
      value('plugin_lifecycle_probe_results_total', {
        plugin: 'a',
        probe_type: 'readiness',
        result: 'failure',
      }),
    ).toBe(1);
    const probe = { plugin: 'a', probe_type: 'readiness', method: 'http' };
    expect(value('plugin_lifecycle_probe_duration_seconds_count', probe)).toBe(
      2,
    );
    expect(value('plugin_lifecycle_probe_duration_seconds_sum', probe)).toBe(
      2.004,
    );
    expect(
      value('plugin_lifecycle_probe_duration_seconds_bucket', {
        ...probe,
        le: '0.005',
      }),
    ).toBe(1);

    const node = { service: 'a', version: '1.0.0', data_plane: 'node' };
    const nginx = { ...node, data_plane: 'nginx' };
    expect(
      value('plugin_lifecycle_proxy_requests_total', {
        ...node,
        code_class: '2xx',
      }),
    ).toBe(2);
    expect(
      value('plugin_lifecycle_proxy_requests_total', {
        ...nginx,
        code_class: '5xx',
      }),
    ).toBe(1);
    expect(
      value('plugin_lifecycle_proxy_requests_total', {
        ...nginx,
        code_class: 'error',
      }),
    ).toBe(1);
    expect(value('plugin_lifecycle_proxy_errors_total', nginx)).toBe(2);
    expect(find(samples, 'plugin_lifecycle_proxy_errors_total', node)).toEqual(
      [],
    );
    expect(
      value('plugin_lifecycle_proxy_request_duration_seconds_count', node),
    ).toBe(2);
    // A request with no answer has no latency.
    expect(
      value('plugin_lifecycle_proxy_request_duration_seconds_count', nginx),
    ).toBe(1);

    // Nothing but the contract's names (histograms with their suffixes).
    const names = new Set(
      samples.map(s => s.name.replace(/_(bucket|sum|count)$/, '')),
    );
    expect([...names].sort()).toEqual(
      [
        'plugin_lifecycle_config_changes_total',
        'plugin_lifecycle_config_version',
        'plugin_lifecycle_config_watchers',
        'plugin_lifecycle_deployment_seconds_since_progress',
        'plugin_lifecycle_deployments_active',
        'plugin_lifecycle_deployments_total',
        'plugin_lifecycle_health_transitions_total',
        'plugin_lifecycle_instance_restarts_total',
        'plugin_lifecycle_instances',
        'plugin_lifecycle_operation_duration_seconds',
        'plugin_lifecycle_operation_queue_depth',
        'plugin_lifecycle_plugin_state',
        'plugin_lifecycle_plugins',
        'plugin_lifecycle_probe_duration_seconds',
        'plugin_lifecycle_probe_results_total',
        'plugin_lifecycle_proxy_errors_total',
        'plugin_lifecycle_proxy_request_duration_seconds',
        'plugin_lifecycle_proxy_requests_total',
      ].sort(),
    );
  });

  it('stops hearing and reading once stopped', async () => {
    exporter.stop();
    events.publish('runtime', 'instanceRestartScheduled', {
      pluginId: 'a',
      instanceId: 'a-1',
      delayMs: 100,
      crashes: 1,
      maxRestarts: 5,
    });
    proxy.responded(
      proxy.target({ serviceId: 'a-1', serviceName: 'a' }),
      200,
      1,
    );
    const samples = await sdk.scrape();
    expect(reads).toBe(0);
    expect(samples).toEqual([]);
  });

  it('leaves a gauge out of a scrape whose read failed', async () => {
    const failing = realMetrics();
    const logger = { warn: jest.fn() } as any;
    const broken = MetricsExporter.create({
      metrics: failing.metrics,
      events: new SystemEvents(),
      replicaId: 'me',
      logger,
      readModel: { snapshot: async () => Promise.reject(new Error('db down')) },
    });
    broken.start();
    expect(await failing.scrape()).toEqual([]);
    expect(logger.warn).toHaveBeenCalledWith(
      expect.stringContaining('db down'),
    );
    broken.stop();
    await failing.shutdown();
  });
});

describe('healthLabel', () => {
  it('labels verdicts as the metrics do', () => {
    expect(healthLabel('healthy', true)).toBe('healthy');
    expect(healthLabel('degrading', true)).toBe('degraded');
    expect(healthLabel('flapping', true)).toBe('degraded');
    expect(healthLabel('unhealthy', true)).toBe('unhealthy');
    expect(healthLabel('starting', true)).toBe('unknown');
    expect(healthLabel(undefined, true)).toBe('unknown');
    expect(healthLabel(undefined, false)).toBe('not_checked');
  });
});
