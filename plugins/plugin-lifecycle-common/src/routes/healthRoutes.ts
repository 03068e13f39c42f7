import { z } from 'zod';
import {
  PluginHealth,
  healthQuerySchema,
  setProbesRequestSchema,
} from '../api/health';
import { ProbeDefinition, pluginIdSchema } from '../api/schemas';
import {
  pluginLifecycleConfigurePermission,
  pluginLifecycleReadPermission,
} from '../permissions';
import { defineRoute, described } from './route';

const read = { '400': 'error', '403': 'error', '404': 'error' } as const;

/**
 * The routes of the health monitor: a plugin's health and its probes.
 *
 * @public
 */
export const healthRoutes = {
  getPluginHealth: defineRoute({
    method: 'get',
    path: '/plugins/{pluginId}/health',
    summary: 'Health per instance and probe: verdict, status, latency, trend',
    permission: pluginLifecycleReadPermission,
    params: z.object({ pluginId: pluginIdSchema }),
    query: healthQuerySchema,
    body: undefined,
    response: described<PluginHealth>('PluginHealth'),
    responseDescription: 'PluginHealth',
    responses: read,
  }),
  setPluginProbes: defineRoute({
    method: 'put',
    path: '/plugins/{pluginId}/probes',
    summary: "Replace a plugin's probe definitions",
    permission: pluginLifecycleConfigurePermission,
    params: z.object({ pluginId: pluginIdSchema }),
    query: undefined,
    body: setProbesRequestSchema,
    response: described<{ pluginId: string; probes: ProbeDefinition[] }>(
      '{ pluginId, probes }',
    ),
    responseDescription: '{ pluginId, probes }',
    responses: read,
  }),
};
