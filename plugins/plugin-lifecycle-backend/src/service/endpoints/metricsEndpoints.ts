import { NotFoundError } from '@backstage/errors';
import {
  PluginVersionMetrics,
  metricsRoutes as routes,
} from '@internal/plugin-lifecycle-common';
import { Router } from 'express';
import { inTenantScope } from '../../domain/tenancy';
import type { ProxyMetrics } from '../../engines/discovery/ProxyMetrics';
import type { VersionMetricsSampler } from '../../engines/metrics/VersionMetricsSampler';
import { parseInput } from '../routeAccess';
import { EndpointContext } from './EndpointContext';
import { mount } from './mount';

/**
 * Metrics: the system's counts, (when the proxy's metrics are given)
 * proxied requests per instance and version of the caller's tenants, and
 * (with the sampler) a plugin's recent history per version.
 */
export function bindMetricsEndpoints(
  router: Router,
  context: EndpointContext & {
    proxyMetrics?: ProxyMetrics;
    versionHistory?: VersionMetricsSampler;
  },
) {
  const { system, authorize, proxyMetrics, versionHistory } = context;

  if (versionHistory) {
    mount(router, routes.getPluginVersionMetrics, async (req, res) => {
      const { pluginId } = req.params;
      const { scope } = await authorize(
        req,
        routes.getPluginVersionMetrics.permission,
        pluginId,
      );
      const query = parseInput(
        routes.getPluginVersionMetrics.query,
        req.query,
        'query',
      );
      const plugin = await system.findPluginRecord(pluginId);
      if (!plugin || !inTenantScope(scope, plugin.tenant)) {
        throw new NotFoundError(`No plugin with id '${pluginId}'`);
      }
      // A managed plugin's service is named after it, in its tenant.
      const result: PluginVersionMetrics = {
        pluginId,
        sampleIntervalMs: versionHistory.intervalMs,
        retentionMs: versionHistory.retentionMs,
        generatedAt: new Date().toISOString(),
        versions: versionHistory.series({
          serviceName: pluginId,
          tenant: plugin.tenant,
          sinceMs: query.since ? Date.parse(query.since) : undefined,
        }),
      };
      res.json(result);
    });
  }

  mount(router, routes.getSystemMetrics, async (req, res) => {
    const { scope } = await authorize(req, routes.getSystemMetrics.permission);
    res.json(await system.getSystemMetrics(scope));
  });

  if (!proxyMetrics) return;
  // Per instance and per version of each service, as this replica proxied them.
  mount(router, routes.getServiceMetrics, async (req, res) => {
    const { scope } = await authorize(req, routes.getServiceMetrics.permission);
    const visible = (tenant?: string) =>
      scope.all === true ||
      (tenant !== undefined && inTenantScope(scope, tenant));
    const { instances, versions } = proxyMetrics.snapshot();
    res.json({
      instances: instances.filter(i => visible(i.tenant)),
      versions: versions.filter(v => visible(v.tenant)),
    });
  });
}
