import { z } from 'zod';
import {
  Page,
  actionRequestSchema,
  installRequestSchema,
  listPluginsQuerySchema,
  pageQuerySchema,
  pluginIdSchema,
  updateRequestSchema,
  updateRollbackRequestSchema,
} from '../api/schemas';
import {
  Operation,
  OperationAccepted,
  PluginDetails,
  PluginSummary,
  StateTransition,
} from '../api/types';
import { availableVersionsSchema } from '../api/versions';
import { PluginCatalogSync } from '../api/catalogSync';
import {
  pluginLifecycleDeployPermission,
  pluginLifecyclePermissionForAction,
  pluginLifecycleReadPermission,
} from '../permissions';
import { RouteAnswer, defineRoute, described } from './route';

const pluginParams = z.object({ pluginId: pluginIdSchema });

/** The answers of a route that queues an operation. */
const queued: Record<string, RouteAnswer> = {
  '400': 'error',
  '403': 'error',
  '404': 'error',
  '409': 'error',
};

const accepted = {
  successStatus: 202,
  responseDescription: 'Accepted: the operation was queued',
  response: described<OperationAccepted>('OperationAccepted'),
  responses: queued,
};

/**
 * A command on a plugin (start, stop, restart, uninstall, maintenance-on,
 * maintenance-off, configure), queued as an operation of its name.
 */
const command = (
  name:
    | 'start'
    | 'stop'
    | 'restart'
    | 'uninstall'
    | 'maintenance-on'
    | 'maintenance-off'
    | 'configure',
  summary: string,
) =>
  defineRoute({
    method: 'post',
    path: `/plugins/{pluginId}/${name}`,
    summary,
    permission: pluginLifecyclePermissionForAction(name),
    params: pluginParams,
    query: undefined,
    body: actionRequestSchema,
    ...accepted,
  });

/**
 * The routes of managed plugins: list, read, history, available versions, install, update,
 * roll an update back, the commands, and a plugin's operations.
 *
 * @public
 */
export const pluginRoutes = {
  listPlugins: defineRoute({
    method: 'get',
    path: '/plugins',
    summary: 'List managed plugins by id, a page at a time',
    permission: pluginLifecycleReadPermission,
    permissionNote: 'a conditional decision keeps the plugins it allows',
    params: z.object({}),
    query: listPluginsQuerySchema,
    body: undefined,
    response: described<Page<PluginSummary>>('Page<PluginSummary>'),
    responseDescription:
      '{ items: PluginSummary[], nextCursor?: string } (nextCursor: pass as cursor for the next page)',
    responses: { '400': 'error' },
  }),
  getPlugin: defineRoute({
    method: 'get',
    path: '/plugins/{pluginId}',
    summary: 'State, versions, instances and available actions of a plugin',
    permission: pluginLifecycleReadPermission,
    params: pluginParams,
    query: undefined,
    body: undefined,
    response: described<PluginDetails>('PluginDetails'),
    responseDescription: 'PluginDetails',
    responses: { '404': 'error' },
  }),
  getHistory: defineRoute({
    method: 'get',
    path: '/plugins/{pluginId}/history',
    summary: 'State transitions of a plugin, oldest first, a page at a time',
    permission: pluginLifecycleReadPermission,
    params: pluginParams,
    query: pageQuerySchema,
    body: undefined,
    response: described<Page<StateTransition>>('Page<StateTransition>'),
    responseDescription: '{ items: StateTransition[], nextCursor?: string }',
    responses: { '404': 'error' },
  }),
  listAvailableVersions: defineRoute({
    method: 'get',
    path: '/plugins/{pluginId}/versions',
    summary:
      "The versions the plugin's artifact source offers, newest first: its configured list, the files its tarball path template matches, or the npm registry's versions; none for a command artifact without a list. Answers for a configured plugin that was never installed",
    permission: pluginLifecycleReadPermission,
    params: pluginParams,
    query: undefined,
    body: undefined,
    response: availableVersionsSchema,
    responseDescription: 'AvailableVersions',
    responses: { '403': 'error', '404': 'error' },
  }),
  getPluginCatalogSync: defineRoute({
    method: 'get',
    path: '/plugins/{pluginId}/catalog-sync',
    summary:
      'Catalog sync of the plugin: whether it follows the version its linked entity declares, and what the last pass did and why',
    permission: pluginLifecycleReadPermission,
    params: pluginParams,
    query: undefined,
    body: undefined,
    response: described<PluginCatalogSync>('PluginCatalogSync'),
    responseDescription: 'PluginCatalogSync',
    responses: { '404': 'error' },
  }),
  installPlugin: defineRoute({
    method: 'post',
    path: '/plugins/{pluginId}/install',
    summary: 'Install a version of a plugin',
    permission: pluginLifecycleDeployPermission,
    permissionNote:
      'a plugin that does not exist yet is judged as the request would create it',
    params: pluginParams,
    query: undefined,
    body: installRequestSchema,
    bodyRequired: true,
    ...accepted,
  }),
  updatePlugin: defineRoute({
    method: 'post',
    path: '/plugins/{pluginId}/update',
    summary:
      'Move to another version (rolling when running; restored on failure)',
    permission: pluginLifecycleDeployPermission,
    params: pluginParams,
    query: undefined,
    body: updateRequestSchema,
    bodyRequired: true,
    ...accepted,
  }),
  rollbackUpdate: defineRoute({
    method: 'post',
    path: '/plugins/{pluginId}/update/{operationId}/rollback',
    summary:
      'Roll a succeeded update back: the version it replaced runs again with the configuration that version ran with (restored as new versions). 409 when the plugin no longer runs the version the update installed',
    permission: pluginLifecycleDeployPermission,
    params: z.object({
      pluginId: pluginIdSchema,
      operationId: z.string().describe('The update operation to roll back'),
    }),
    query: undefined,
    body: updateRollbackRequestSchema,
    ...accepted,
  }),
  startPlugin: command('start', 'Start the installed version'),
  stopPlugin: command('stop', 'Stop every instance'),
  restartPlugin: command('restart', 'Stop, then start'),
  uninstallPlugin: command('uninstall', 'Remove every installed version'),
  enterMaintenance: command(
    'maintenance-on',
    'Put the plugin in maintenance: its instances keep running but get no traffic (the proxy and discovery answer 503), and no automation acts on it (no crash restart, health restart or error, auto-recovery or configuration apply). From installed, running or error; 409 otherwise',
  ),
  exitMaintenance: command(
    'maintenance-off',
    'End maintenance: running (back in rotation) when instances still run, installed otherwise. 409 when the plugin is not in maintenance',
  ),
  configurePlugin: command(
    'configure',
    "Re-apply the plugin's effective configuration to its running instances by its reload strategy; instances restart or reload only when a value they get changed (a configuration written during maintenance, for instance). From installed (nothing runs: recorded only) or running; 409 otherwise",
  ),
  listPluginOperations: defineRoute({
    method: 'get',
    path: '/plugins/{pluginId}/operations',
    summary: "The plugin's operations, newest first, a page at a time",
    permission: pluginLifecycleReadPermission,
    params: pluginParams,
    query: pageQuerySchema,
    body: undefined,
    response: described<Page<Operation>>('Page<Operation>'),
    responseDescription: '{ items: Operation[], nextCursor?: string }',
    responses: { '404': 'error' },
  }),
};
