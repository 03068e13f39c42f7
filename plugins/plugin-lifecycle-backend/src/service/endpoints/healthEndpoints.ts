import {
  ProbeDefinition,
  healthRoutes as routes,
} from '@internal/plugin-lifecycle-common';
import { Router } from 'express';
import type { PluginHealth } from '../../engines/health/HealthMonitor';
import type { HealthQueries } from '../../system/commands/healthQueries';
import { RouteAccess, parseInput } from '../routeAccess';
import { mount } from './mount';

/** What the health endpoints borrow from the router. */
export interface HealthEndpointsContext extends RouteAccess {
  /** The facade's health queries. */
  health: Pick<HealthQueries, 'getPluginHealth' | 'registerPluginProbes'>;
}

/**
 * The health monitor's routes: a plugin's health per instance and probe
 * (status, latency, trend, verdict), and setting its probes.
 */
export function bindHealthEndpoints(
  router: Router,
  context: HealthEndpointsContext,
) {
  const { health, authorize, audited } = context;

  mount(router, routes.getPluginHealth, async (req, res) => {
    const { scope } = await authorize(
      req,
      routes.getPluginHealth.permission,
      req.params.pluginId,
    );
    const query = parseInput(routes.getPluginHealth.query, req.query, 'query');
    const result: PluginHealth = await health.getPluginHealth(
      req.params.pluginId,
      { scope, recentPerProbe: query.recent },
    );
    res.json(result);
  });

  mount(router, routes.setPluginProbes, async (req, res) => {
    const { pluginId } = req.params;
    const probes: ProbeDefinition[] = await audited(
      req,
      { permission: routes.setPluginProbes.permission, resourceRef: pluginId },
      'probes-set',
      { pluginId },
      async ({ scope }) => {
        const body = parseInput(
          routes.setPluginProbes.body,
          req.body,
          'probes',
        );
        return health.registerPluginProbes(pluginId, body.probes, { scope });
      },
    );
    res.json({ pluginId, probes });
  });
}
