import { z } from 'zod';
import {
  PluginVersionMetrics,
  versionMetricsQuerySchema,
} from '../api/versionMetrics';
import { pluginIdSchema } from '../api/schemas';
import { SystemMetrics } from '../api/systemMetrics';
import { pluginLifecycleReadPermission } from '../permissions';
import { defineRoute, described } from './route';

/**
 * The routes of metrics: the system's, the proxy's per instance and
 * version, and a plugin's recent history per version.
 *
 * @public
 */
export const metricsRoutes = {
  getSystemMetrics: defineRoute({
    method: 'get',
    path: '/metrics/system',
    summary: 'System metrics',
    permission: pluginLifecycleReadPermission,
    params: z.object({}),
    query: undefined,
    body: undefined,
    response: described<SystemMetrics>('SystemMetrics'),
    responseDescription: 'SystemMetrics',
    responses: {},
  }),
  getServiceMetrics: defineRoute({
    method: 'get',
    path: '/metrics/services',
    summary:
      'Proxied requests per instance and per version: counts by status class, latency histograms, connections in flight (this replica)',
    permission: pluginLifecycleReadPermission,
    permissionNote: 'only the tenants in the caller scope',
    params: z.object({}),
    query: undefined,
    body: undefined,
    response: described<{ instances: unknown[]; versions: unknown[] }>(
      '{ instances, versions }',
    ),
    responseDescription: '{ instances, versions }',
    responses: { '403': 'error' },
  }),
  getPluginVersionMetrics: defineRoute({
    method: 'get',
    path: '/plugins/{pluginId}/metrics/versions',
    summary:
      'Request rate, error rate and latency per version of a plugin over the last minutes, sampled from the proxied requests (kept in memory by this replica)',
    permission: pluginLifecycleReadPermission,
    params: z.object({ pluginId: pluginIdSchema }),
    query: versionMetricsQuerySchema,
    body: undefined,
    response: described<PluginVersionMetrics>('PluginVersionMetrics'),
    responseDescription: 'PluginVersionMetrics',
    responses: { '400': 'error', '403': 'error', '404': 'error' },
  }),
};
