import { z } from 'zod';
import { pluginLifecycleReadPermission } from '../permissions';
import { defineRoute, described } from './route';

/**
 * The routes of metrics: the system's, and the proxy's per instance and
 * version.
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
    response: described<unknown>('SystemMetrics'),
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
};
