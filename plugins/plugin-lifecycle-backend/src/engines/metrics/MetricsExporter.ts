import { LoggerService } from '@backstage/backend-plugin-api';
import type {
  MetricAttributes,
  MetricsService,
  MetricsServiceCounter,
  MetricsServiceHistogram,
  MetricsServiceObservableCallback,
  MetricsServiceObservableGauge,
} from '@backstage/backend-plugin-api/alpha';
import {
  DEPLOYMENT_STRATEGIES,
  LIFECYCLE_STATES,
  TERMINAL_DEPLOYMENT_PHASES,
} from '@internal/plugin-lifecycle-common';
import { SystemEvents } from '../../events/SystemEvents';
import { SystemEventListeners } from '../../events/eventMap';
import type { ProxyObservation } from '../discovery/ProxyMetrics';
import type { MetricsReadModel, MetricsSnapshot } from './MetricsReadModel';

/** Bucket bounds (seconds) of the request and probe latency histograms. */
export const LATENCY_BUCKETS_SECONDS = [
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
];

/** Bucket bounds (seconds) of the operation duration histogram. */
export const OPERATION_BUCKETS_SECONDS = [
  0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800,
];

/** One probe run, as the health monitor's evaluator reports it. */
export interface ProbeObservation {
  pluginId: string;
  /** startup, readiness or liveness. */
  probeType: string;
  /** http, tcp, grpc, exec or custom. */
  method: string;
  ok: boolean;
  latencyMs: number;
}

/** Options of {@link MetricsExporter.create}. */
export interface MetricsExporterOptions {
  metrics: MetricsService;
  events: SystemEvents;
  /** What the observable gauges read at scrape time. */
  readModel: MetricsReadModel;
  /** This replica: health transitions are counted where they were probed. */
  replicaId: string;
  /** Subscribes to what both data planes record (see `ProxyMetrics.observe`). */
  observeProxy?: (listener: (o: ProxyObservation) => void) => () => void;
  logger?: LoggerService;
  clock?: () => number;
}

/** How many started operations and ended deployments are remembered. */
const MAX_TRACKED = 10_000;

const DEPLOYMENT_OUTCOMES: Record<string, string> = {
  succeeded: 'succeeded',
  failed: 'failed',
  'rolled-back': 'rolled_back',
  aborted: 'aborted',
};

/**
 * The plugin's metrics, through Backstage's MetricsService (OpenTelemetry
 * underneath; whatever exporter the backend's SDK has, e.g. Prometheus).
 * The scraped names are a contract with the dashboards and alert rules in
 * `examples/monitoring/` (docs/architecture.md lists them): counters and
 * histograms are fed from the system's events, the probe hook and the
 * proxy's observations; gauges read the stores at collection time, through
 * a read model that answers every gauge of one scrape from one read.
 */
export class MetricsExporter {
  readonly #o: MetricsExporterOptions;
  readonly #clock: () => number;
  readonly #unsubscribe: Array<() => void> = [];
  readonly #gauges: Array<{
    gauge: MetricsServiceObservableGauge;
    callback: MetricsServiceObservableCallback;
  }> = [];
  readonly #operationStarts = new Map<string, number>();
  readonly #countedDeployments = new Set<string>();
  readonly #lastHealth = new Map<string, { verdict: string; ready: boolean }>();

  readonly #restarts: MetricsServiceCounter;
  readonly #probeResults: MetricsServiceCounter;
  readonly #probeDuration: MetricsServiceHistogram;
  readonly #healthTransitions: MetricsServiceCounter;
  readonly #proxyRequests: MetricsServiceCounter;
  readonly #proxyErrors: MetricsServiceCounter;
  readonly #proxyDuration: MetricsServiceHistogram;
  readonly #operationDuration: MetricsServiceHistogram;
  readonly #deployments: MetricsServiceCounter;
  readonly #configChanges: MetricsServiceCounter;
  #started = false;

  static create(options: MetricsExporterOptions): MetricsExporter {
    return new MetricsExporter(options);
  }

  private constructor(options: MetricsExporterOptions) {
    this.#o = options;
    this.#clock = options.clock ?? Date.now;
    const m = options.metrics;
    // Counters are named with `_total` already: the Prometheus exporter
    // then keeps the name as it is (it appends `_total` otherwise). No
    // `unit` option anywhere: the unit is in the name, so the scraped names
    // are exactly the contract's.
    this.#restarts = m.createCounter(
      'plugin_lifecycle_instance_restarts_total',
      {
        description: 'Crash restarts scheduled, per plugin',
      },
    );
    this.#probeResults = m.createCounter(
      'plugin_lifecycle_probe_results_total',
      { description: 'Health probe runs per plugin, probe type and result' },
    );
    this.#probeDuration = m.createHistogram(
      'plugin_lifecycle_probe_duration_seconds',
      {
        description: 'Health probe latency in seconds',
        advice: { explicitBucketBoundaries: LATENCY_BUCKETS_SECONDS },
      },
    );
    this.#healthTransitions = m.createCounter(
      'plugin_lifecycle_health_transitions_total',
      { description: 'Health verdict changes per plugin (flapping)' },
    );
    this.#proxyRequests = m.createCounter(
      'plugin_lifecycle_proxy_requests_total',
      {
        description:
          'Proxied request attempts per service, version, status class and data plane',
      },
    );
    this.#proxyErrors = m.createCounter('plugin_lifecycle_proxy_errors_total', {
      description: 'Proxied request attempts answered 5xx or not at all',
    });
    this.#proxyDuration = m.createHistogram(
      'plugin_lifecycle_proxy_request_duration_seconds',
      {
        description: 'Time to the upstream response headers, in seconds',
        advice: { explicitBucketBoundaries: LATENCY_BUCKETS_SECONDS },
      },
    );
    this.#operationDuration = m.createHistogram(
      'plugin_lifecycle_operation_duration_seconds',
      {
        description: 'Duration of finished operations per type and outcome',
        advice: { explicitBucketBoundaries: OPERATION_BUCKETS_SECONDS },
      },
    );
    this.#deployments = m.createCounter('plugin_lifecycle_deployments_total', {
      description: 'Ended deployments per strategy and outcome',
    });
    this.#configChanges = m.createCounter(
      'plugin_lifecycle_config_changes_total',
      { description: 'Configuration versions written, per plugin' },
    );
  }

  /** Subscribes to the events and the proxy, and registers the gauges. */
  start(): void {
    if (this.#started) return;
    this.#started = true;
    this.#listen();
    if (this.#o.observeProxy) {
      this.#unsubscribe.push(this.#o.observeProxy(o => this.recordProxy(o)));
    }
    this.#registerGauges();
  }

  /** Undoes {@link MetricsExporter.start}. */
  stop(): void {
    this.#unsubscribe.splice(0).forEach(fn => fn());
    for (const { gauge, callback } of this.#gauges.splice(0)) {
      gauge.removeCallback(callback);
    }
    this.#started = false;
  }

  /** One probe run; the health monitor calls it for every result. */
  recordProbe(o: ProbeObservation): void {
    this.#probeResults.add(1, {
      plugin: o.pluginId,
      probe_type: o.probeType,
      result: o.ok ? 'success' : 'failure',
    });
    this.#probeDuration.record(Math.max(0, o.latencyMs) / 1000, {
      plugin: o.pluginId,
      probe_type: o.probeType,
      method: o.method,
    });
  }

  /** One proxied request attempt, from either data plane. */
  recordProxy(o: ProxyObservation): void {
    const labels = {
      service: o.serviceName,
      version: o.version ?? '',
      data_plane: o.dataPlane,
    };
    const codeClass =
      o.status === undefined ? 'error' : `${Math.floor(o.status / 100)}xx`;
    this.#proxyRequests.add(1, { ...labels, code_class: codeClass });
    if (o.status === undefined || o.status >= 500) {
      this.#proxyErrors.add(1, labels);
    }
    if (o.latencyMs !== undefined) {
      this.#proxyDuration.record(Math.max(0, o.latencyMs) / 1000, labels);
    }
  }

  #on<K extends keyof SystemEventListeners>(
    event: K,
    listener: SystemEventListeners[K],
  ) {
    this.#o.events.on(event, listener);
    this.#unsubscribe.push(() => this.#o.events.off(event, listener));
  }

  #listen() {
    this.#on('runtime:instanceRestartScheduled', e =>
      this.#restarts.add(1, { plugin: e.pluginId }),
    );
    this.#on('healthMonitor:verdictChanged', e => {
      // Every replica hears every verdict; the prober's replica counts it.
      if (e.reportedBy !== this.#o.replicaId) return;
      // A transition: the verdict or readiness changed (in and out of
      // rotation is what flapping looks like); a score change alone is not.
      const known = this.#lastHealth.get(e.targetId);
      const changed = known
        ? known.verdict !== e.verdict || known.ready !== e.ready
        : e.previous !== undefined && e.previous !== e.verdict;
      if (!known && this.#lastHealth.size >= MAX_TRACKED) {
        this.#lastHealth.clear();
      }
      this.#lastHealth.set(e.targetId, { verdict: e.verdict, ready: e.ready });
      if (changed) this.#healthTransitions.add(1, { plugin: e.pluginId });
    });
    this.#on('configurationManager:changed', e =>
      this.#configChanges.add(1, { plugin: e.pluginId }),
    );
    this.#on('orchestrator:operationQueued', e =>
      this.#remember(e.operationId, false),
    );
    this.#on('orchestrator:operationStarted', e =>
      this.#remember(e.operationId, true),
    );
    this.#on('orchestrator:operationCompleted', e =>
      this.#operationEnded(e.operationId, e.type, 'succeeded'),
    );
    this.#on('orchestrator:operationFailed', e =>
      this.#operationEnded(e.operationId, e.type, 'failed'),
    );
    this.#on('orchestrator:operationCancelled', e =>
      this.#operationEnded(e.operationId, e.type, 'cancelled'),
    );
    const deploymentEnded = (e: {
      deployment: { id: string; phase: string; strategy: string };
    }) => {
      const outcome = DEPLOYMENT_OUTCOMES[e.deployment.phase];
      if (!outcome || this.#countedDeployments.has(e.deployment.id)) return;
      if (this.#countedDeployments.size >= MAX_TRACKED) {
        this.#countedDeployments.clear();
      }
      this.#countedDeployments.add(e.deployment.id);
      this.#deployments.add(1, { strategy: e.deployment.strategy, outcome });
    };
    this.#on('deploymentManager:deploymentCompleted', deploymentEnded);
    this.#on('deploymentManager:deploymentFailed', deploymentEnded);
    this.#on('deploymentManager:deploymentRolledBack', deploymentEnded);
    // An abort is a person's action: no event of its own says it ended.
    this.#on('deploymentManager:deploymentActionTaken', deploymentEnded);
  }

  /**
   * When the operation began: queued (for one cancelled before it ran),
   * then started (overwrites). Bounded: the oldest entries go first.
   */
  #remember(operationId: string, overwrite: boolean) {
    const starts = this.#operationStarts;
    if (starts.has(operationId)) {
      if (!overwrite) return;
      starts.delete(operationId);
    }
    if (starts.size >= MAX_TRACKED) {
      const oldest = starts.keys().next().value;
      if (oldest !== undefined) starts.delete(oldest);
    }
    starts.set(operationId, this.#clock());
  }

  #operationEnded(operationId: string, type: string, outcome: string) {
    const startedAt = this.#operationStarts.get(operationId);
    this.#operationStarts.delete(operationId);
    // Started on another replica: its duration is that replica's to record.
    if (startedAt === undefined) return;
    this.#operationDuration.record(
      Math.max(0, this.#clock() - startedAt) / 1000,
      { type, outcome },
    );
  }

  #gauge(
    name: string,
    description: string,
    observe: (
      snapshot: MetricsSnapshot,
      result: { observe(value: number, attributes?: MetricAttributes): void },
    ) => void,
  ) {
    const gauge = this.#o.metrics.createObservableGauge(name, { description });
    const callback: MetricsServiceObservableCallback = async result => {
      try {
        observe(await this.#o.readModel.snapshot(), result);
      } catch (error) {
        // A failed read leaves the series out of this scrape only.
        this.#o.logger?.warn(`metrics: reading ${name} failed: ${error}`);
      }
    };
    gauge.addCallback(callback);
    this.#gauges.push({ gauge, callback });
  }

  #registerGauges() {
    this.#gauge(
      'plugin_lifecycle_plugins',
      'Managed plugins per lifecycle state',
      (s, r) => {
        const byState = new Map<string, number>(
          LIFECYCLE_STATES.map(state => [state, 0]),
        );
        for (const p of s.plugins) {
          byState.set(p.state, (byState.get(p.state) ?? 0) + 1);
        }
        byState.forEach((n, state) => r.observe(n, { state }));
      },
    );
    this.#gauge(
      'plugin_lifecycle_plugin_state',
      "1 for each managed plugin's current state",
      (s, r) =>
        s.plugins.forEach(p => r.observe(1, { plugin: p.id, state: p.state })),
    );
    this.#gauge(
      'plugin_lifecycle_instances',
      'Active instances per plugin and health',
      (s, r) => {
        const counts = new Map<string, number>();
        for (const i of s.instances) {
          const key = `${i.pluginId}\u0000${i.health}`;
          counts.set(key, (counts.get(key) ?? 0) + 1);
        }
        counts.forEach((n, key) => {
          const [plugin, health] = key.split('\u0000');
          r.observe(n, { plugin, health });
        });
      },
    );
    this.#gauge(
      'plugin_lifecycle_operation_queue_depth',
      'Operations queued and running, whole system',
      (s, r) => {
        r.observe(s.operations.queued, { status: 'queued' });
        r.observe(s.operations.running, { status: 'running' });
      },
    );
    this.#gauge(
      'plugin_lifecycle_deployments_active',
      'Deployments not in a terminal phase, per strategy',
      (s, r) => {
        // Every strategy, 0 included: "none active" is a value, not a gap.
        const byStrategy = new Map<string, number>(
          DEPLOYMENT_STRATEGIES.map(strategy => [strategy, 0]),
        );
        for (const d of s.activeDeployments) {
          byStrategy.set(d.strategy, (byStrategy.get(d.strategy) ?? 0) + 1);
        }
        byStrategy.forEach((n, strategy) => r.observe(n, { strategy }));
      },
    );
    this.#gauge(
      'plugin_lifecycle_deployment_seconds_since_progress',
      'Per active deployment: seconds since its current step started',
      (s, r) => {
        const now = this.#clock();
        for (const d of s.activeDeployments) {
          if (TERMINAL_DEPLOYMENT_PHASES.includes(d.phase as any)) continue;
          r.observe(Math.max(0, (now - d.lastProgressMs) / 1000), {
            plugin: d.pluginId,
            strategy: d.strategy,
          });
        }
      },
    );
    this.#gauge(
      'plugin_lifecycle_config_version',
      'Latest configuration version per plugin and layer',
      (s, r) =>
        s.configVersions.forEach(v =>
          r.observe(v.version, { plugin: v.pluginId, layer: v.layer }),
        ),
    );
    this.#gauge(
      'plugin_lifecycle_config_watchers',
      'Open configuration watches on this replica',
      (s, r) => r.observe(s.configWatchers),
    );
  }
}
