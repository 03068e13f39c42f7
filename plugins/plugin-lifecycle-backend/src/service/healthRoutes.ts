import { InputError } from '@backstage/errors';
import { BasicPermission } from '@backstage/plugin-permission-common';
import {
  ProbeDefinition,
  pluginLifecycleReadPermission,
  probeSchema,
} from '@internal/plugin-lifecycle-common';
import { Request, Router } from 'express';
import { z } from 'zod';
import type {
  HealthMonitor,
  PluginHealth,
} from '../engines/health/HealthMonitor';
import { TenantScope } from '../system/Tenancy';
import { zodMessage } from '../system/zodMessage';

type Caller = { actor?: string; scope: TenantScope };

/** What the health routes borrow from the main router. */
export interface HealthRoutesContext {
  health: Pick<HealthMonitor, 'getPluginHealth' | 'registerPluginProbes'>;
  authorize: (req: Request, permission: BasicPermission) => Promise<Caller>;
  audited: <T>(
    req: Request,
    eventId: string,
    meta: Record<string, string>,
    fn: (caller: Caller) => Promise<T>,
  ) => Promise<T>;
}

/** The body of `PUT /plugins/{id}/probes`. */
export const setProbesRequestSchema = z
  .object({ probes: z.array(probeSchema) })
  .strict();

/** The query of `GET /plugins/{id}/health`. */
export const healthQuerySchema = z
  .object({
    /** Sampled results per probe to include, newest first. */
    recent: z.coerce.number().int().min(0).max(100).optional(),
  })
  .strict();

function parse<T extends z.ZodType>(
  schema: T,
  value: unknown,
  what: string,
): z.infer<T> {
  const result = schema.safeParse(value ?? {});
  if (!result.success) {
    throw new InputError(`Invalid ${what}: ${zodMessage(result.error)}`);
  }
  return result.data;
}

/**
 * The health monitor's routes: a plugin's health per instance and probe
 * (status, latency, trend, verdict), and setting its probes.
 */
export function addHealthRoutes(router: Router, context: HealthRoutesContext) {
  const { health, authorize, audited } = context;

  router.get('/plugins/:pluginId/health', async (req, res) => {
    const { scope } = await authorize(req, pluginLifecycleReadPermission);
    const query = parse(healthQuerySchema, req.query, 'query');
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
      'probes-set',
      { pluginId },
      async ({ scope }) => {
        const body = parse(setProbesRequestSchema, req.body, 'probes');
        return health.registerPluginProbes(pluginId, body.probes, { scope });
      },
    );
    res.json({ pluginId, probes });
  });
}
