import {
  decimalIntegerParam,
  ProbeDefinition,
  pluginLifecycleConfigurePermission,
  pluginLifecycleReadPermission,
  probeListSchema,
} from '@internal/plugin-lifecycle-common';
import { Router } from 'express';
import { z } from 'zod';
import type {
  HealthMonitor,
  PluginHealth,
} from '../engines/health/HealthMonitor';
import { RouteAccess, parseInput } from './routeAccess';

/** What the health routes borrow from the main router. */
export interface HealthRoutesContext extends RouteAccess {
  health: Pick<HealthMonitor, 'getPluginHealth' | 'registerPluginProbes'>;
}

/** The body of `PUT /plugins/{id}/probes`. */
export const setProbesRequestSchema = z
  .object({ probes: probeListSchema })
  .strict();

/** The query of `GET /plugins/{id}/health`. */
export const healthQuerySchema = z
  .object({
    /** Sampled results per probe to include, newest first. */
    recent: decimalIntegerParam({ min: 0, max: 100 }).optional(),
  })
  .strict();

/**
 * The health monitor's routes: a plugin's health per instance and probe
 * (status, latency, trend, verdict), and setting its probes.
 */
export function addHealthRoutes(router: Router, context: HealthRoutesContext) {
  const { health, authorize, audited } = context;

  router.get('/plugins/:pluginId/health', async (req, res) => {
    const { scope } = await authorize(
      req,
      pluginLifecycleReadPermission,
      req.params.pluginId,
    );
    const query = parseInput(healthQuerySchema, req.query, 'query');
    const result: PluginHealth = await health.getPluginHealth(
      req.params.pluginId,
      { scope, recentPerProbe: query.recent },
    );
    res.json(result);
  });

  router.put('/plugins/:pluginId/probes', async (req, res) => {
    const { pluginId } = req.params;
    const probes: ProbeDefinition[] = await audited(
      req,
      { permission: pluginLifecycleConfigurePermission, resourceRef: pluginId },
      'probes-set',
      { pluginId },
      async ({ scope }) => {
        const body = parseInput(setProbesRequestSchema, req.body, 'probes');
        return health.registerPluginProbes(pluginId, body.probes, { scope });
      },
    );
    res.json({ pluginId, probes });
  });
}
