/*
 * The plugin's instruments, as Backstage's MetricsService sees them in a
 * test backend: created under the contract's names when
 * pluginLifecycle.metrics.export is on (the default), none when it is off;
 * the gauges' callbacks read the plugin's real database at collection time.
 */
import { metricsServiceMock } from '@backstage/backend-test-utils/alpha';
import { startLifecycleBackend } from './__testUtils__/testBackend';

jest.setTimeout(120_000);

describe('the metrics export in a test backend', () => {
  it('creates the contract instruments and reads the database when a gauge is collected', async () => {
    const metrics = metricsServiceMock.mock();
    const { stop } = await startLifecycleBackend({
      pluginId: 'metrics-wiring',
      features: [metrics.factory],
    });
    try {
      const names = (mock: jest.MockInstance<unknown, any[]>) =>
        mock.mock.calls.map(c => c[0] as string);
      expect(names(metrics.createCounter).sort()).toEqual([
        'plugin_lifecycle_config_changes_total',
        'plugin_lifecycle_deployments_total',
        'plugin_lifecycle_health_transitions_total',
        'plugin_lifecycle_instance_restarts_total',
        'plugin_lifecycle_probe_results_total',
        'plugin_lifecycle_proxy_errors_total',
        'plugin_lifecycle_proxy_requests_total',
      ]);
      expect(names(metrics.createHistogram).sort()).toEqual([
        'plugin_lifecycle_operation_duration_seconds',
        'plugin_lifecycle_probe_duration_seconds',
        'plugin_lifecycle_proxy_request_duration_seconds',
      ]);
      const gauges = names(metrics.createObservableGauge);
      expect([...gauges].sort()).toEqual([
        'plugin_lifecycle_config_version',
        'plugin_lifecycle_config_watchers',
        'plugin_lifecycle_deployment_seconds_since_progress',
        'plugin_lifecycle_deployments_active',
        'plugin_lifecycle_instances',
        'plugin_lifecycle_operation_queue_depth',
        'plugin_lifecycle_plugin_state',
        'plugin_lifecycle_plugins',
      ]);
      // A collection: the callback the plugin registered, run as the SDK would.
      const index = gauges.indexOf('plugin_lifecycle_operation_queue_depth');
      const gauge = metrics.createObservableGauge.mock.results[index].value;
      const callback = gauge.addCallback.mock.calls[0][0];
      const observe = jest.fn();
      await callback({ observe });
      expect(observe.mock.calls).toEqual([
        [0, { status: 'queued' }],
        [0, { status: 'running' }],
      ]);
    } finally {
      await stop();
    }
  });

  it('creates none with pluginLifecycle.metrics.export false', async () => {
    const metrics = metricsServiceMock.mock();
    const { stop } = await startLifecycleBackend({
      pluginId: 'metrics-off',
      config: { metrics: { export: false } },
      features: [metrics.factory],
    });
    try {
      expect(metrics.createCounter).not.toHaveBeenCalled();
      expect(metrics.createHistogram).not.toHaveBeenCalled();
      expect(metrics.createObservableGauge).not.toHaveBeenCalled();
    } finally {
      await stop();
    }
  });
});
