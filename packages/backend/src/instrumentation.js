/*
 * OpenTelemetry for the demo backend, as Backstage's OpenTelemetry tutorial
 * sets it up: loaded before anything else with `--require` (the start
 * script: `backstage-cli package start --require ./src/instrumentation.js`;
 * in production: `node --require ./packages/backend/src/instrumentation.js
 * packages/backend`). Backstage's MetricsService creates its instruments on
 * the global meter provider this registers, so the plugin-lifecycle metrics
 * (plugin_lifecycle_*) and Backstage's own are served in the Prometheus text
 * format on http://HOST:PORT/metrics.
 *
 * Environment:
 * - PLUGIN_LIFECYCLE_METRICS_PORT (or OTEL_EXPORTER_PROMETHEUS_PORT): the
 *   exporter's port, default 9464; 0 or `off` starts no exporter.
 * - PLUGIN_LIFECYCLE_METRICS_HOST (or OTEL_EXPORTER_PROMETHEUS_HOST): the
 *   address it listens on, default 127.0.0.1 (set 0.0.0.0 for a Prometheus
 *   on another host; the endpoint has no authentication).
 * - OTEL_TRACES_EXPORTER: traces are exported only when it is set (e.g.
 *   `otlp` with OTEL_EXPORTER_OTLP_ENDPOINT); unset, the SDK exports none.
 */
// Once per process: worker threads load this file too.
const { isMainThread } = require('node:worker_threads');

function exporterPort() {
  const raw =
    process.env.PLUGIN_LIFECYCLE_METRICS_PORT ??
    process.env.OTEL_EXPORTER_PROMETHEUS_PORT;
  if (raw === undefined || raw === '') return 9464;
  if (raw === 'off') return 0;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`PLUGIN_LIFECYCLE_METRICS_PORT is not a port: ${raw}`);
  }
  return port;
}

if (isMainThread) {
  // Only what is asked for: the SDK would otherwise pick OTLP exporters for
  // traces and logs from its defaults and send them to localhost:4318.
  process.env.OTEL_TRACES_EXPORTER ??= 'none';
  process.env.OTEL_LOGS_EXPORTER ??= 'none';

  const port = exporterPort();
  if (port !== 0) {
    const { NodeSDK } = require('@opentelemetry/sdk-node');
    const {
      PrometheusExporter,
    } = require('@opentelemetry/exporter-prometheus');
    const host =
      process.env.PLUGIN_LIFECYCLE_METRICS_HOST ??
      process.env.OTEL_EXPORTER_PROMETHEUS_HOST ??
      '127.0.0.1';
    const prometheus = new PrometheusExporter({ host, port }, error => {
      if (error) {
        // The backend runs on without the exporter (e.g. the port is taken).
        console.error(`metrics exporter on ${host}:${port} failed: ${error}`);
      }
    });
    const sdk = new NodeSDK({ metricReaders: [prometheus] });
    // Backstage ends the process itself after its shutdown (process.exit):
    // the exporter's listener holds nothing, and scrapes have nothing to flush.
    sdk.start();
  }
}
