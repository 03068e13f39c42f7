import { metricsRoutes as routes } from '@internal/plugin-lifecycle-common';
import { Router } from 'express';
import { inTenantScope } from '../../domain/tenancy';
import type { ProxyMetrics } from '../../engines/discovery/ProxyMetrics';
import { EndpointContext } from './EndpointContext';
import { mount } from './mount';

/**
 * Metrics: the system's counts, and (when the proxy's metrics are given)
 * proxied requests per instance and version of the caller's tenants.
 */
export function bindMetricsEndpoints(
  router: Router,
  context: EndpointContext & { proxyMetrics?: ProxyMetrics },
) {
  const { system, authorize, proxyMetrics } = context;

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
