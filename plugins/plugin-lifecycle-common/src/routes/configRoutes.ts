import { z } from 'zod';
import {
  ConfigDiff,
  ConfigVersion,
  ConfigVersionSummary,
  ConfigWatchResult,
  ConfigWritePreview,
  ConfigWriteResult,
  EffectiveConfiguration,
  configDiffQuerySchema,
  configLayerSchema,
  configReadQuerySchema,
  configRollbackRequestSchema,
  configWatchQuerySchema,
  patchConfigurationRequestSchema,
  setConfigurationRequestSchema,
} from '../api/configuration';
import { pluginIdSchema } from '../api/schemas';
import {
  pluginLifecycleConfigurePermission,
  pluginLifecycleReadPermission,
} from '../permissions';
import { RouteAnswer, defineRoute, described } from './route';

const layer = configLayerSchema.describe('`base` or an environment');
const environment = configLayerSchema.describe(
  'an environment (development, staging, production by default)',
);
const layerParams = z.object({ pluginId: pluginIdSchema, layer });
const environmentParams = z.object({ pluginId: pluginIdSchema, environment });

const read: Record<string, RouteAnswer> = {
  '400': 'error',
  '403': 'error',
  '404': 'error',
};

/** A write answers 201 with a new version, or 200 when nothing changed. */
const write = {
  response: described<ConfigWriteResult | ConfigWritePreview>(
    'ConfigWriteResult | ConfigWritePreview',
  ),
  successStatus: 201,
  responseDescription: 'ConfigWriteResult: a new version',
  responses: {
    '200': {
      description:
        'ConfigWriteResult with `changed: false` (the layer already has this content: no new version), or ConfigWritePreview for `dryRun: true` (nothing stored)',
    },
    ...read,
    '409': 'error',
  } as Record<string, RouteAnswer>,
};

/** The environments and the default one. @public */
export interface ConfigEnvironments {
  environments: string[];
  defaultEnvironment: string;
}

/**
 * The routes of the configuration manager: environments, export and
 * import, the effective configuration, writes, versions, diff, rollback and
 * watch.
 *
 * @public
 */
export const configRoutes = {
  getConfigEnvironments: defineRoute({
    method: 'get',
    path: '/config/environments',
    summary: 'Environments a configuration layer may target',
    permission: pluginLifecycleReadPermission,
    permissionNote: 'reading some plugins is enough',
    params: z.object({}),
    query: undefined,
    body: undefined,
    response: described<ConfigEnvironments>('ConfigEnvironments'),
    responseDescription: 'Environments and the default',
    responses: {},
  }),
  exportConfiguration: defineRoute({
    method: 'get',
    path: '/config/export',
    summary: 'Signed export of all configuration (secrets stay sealed)',
    permission: pluginLifecycleConfigurePermission,
    permissionNote: 'on every plugin',
    params: z.object({}),
    query: undefined,
    body: undefined,
    response: described<unknown>('ConfigExport'),
    responseDescription: 'ConfigExport',
    responses: read,
  }),
  importConfiguration: defineRoute({
    method: 'post',
    path: '/config/import',
    summary: 'Restore an export; refuses one that does not verify',
    permission: pluginLifecycleConfigurePermission,
    permissionNote: 'on every plugin',
    params: z.object({}),
    query: undefined,
    body: described<unknown>('ConfigExport'),
    response: described<unknown>('ConfigImportResult'),
    responseDescription: 'ConfigImportResult',
    responses: read,
  }),
  getConfiguration: defineRoute({
    method: 'get',
    path: '/plugins/{pluginId}/config/{environment}',
    summary: 'Effective configuration with the layer of each value',
    permission: pluginLifecycleReadPermission,
    permissionNote: 'and config.reveal for reveal=true',
    params: environmentParams,
    query: configReadQuerySchema,
    body: undefined,
    response: described<EffectiveConfiguration>('EffectiveConfiguration'),
    responseDescription: 'EffectiveConfiguration',
    responses: read,
  }),
  // PUT and PATCH share the path of the GET above: there the name is an
  // environment, here a layer (`base` or an environment).
  setConfiguration: defineRoute({
    method: 'put',
    path: '/plugins/{pluginId}/config/{environment}',
    summary:
      'Replace the content of a layer (`base` or an environment); 400 if that drops a required key, 409 on a stale expectedVersion',
    permission: pluginLifecycleConfigurePermission,
    params: z.object({ pluginId: pluginIdSchema, environment: layer }),
    query: undefined,
    body: setConfigurationRequestSchema,
    ...write,
  }),
  patchConfiguration: defineRoute({
    method: 'patch',
    path: '/plugins/{pluginId}/config/{environment}',
    summary:
      'Set and remove keys of a layer, keeping the others; 400 if that removes a required key, 409 on a stale expectedVersion',
    permission: pluginLifecycleConfigurePermission,
    params: z.object({ pluginId: pluginIdSchema, environment: layer }),
    query: undefined,
    body: patchConfigurationRequestSchema,
    ...write,
  }),
  listConfigVersions: defineRoute({
    method: 'get',
    path: '/plugins/{pluginId}/config/{layer}/versions',
    summary: 'Versions of a layer, newest first',
    permission: pluginLifecycleReadPermission,
    params: layerParams,
    query: undefined,
    body: undefined,
    response: described<{ items: ConfigVersionSummary[] }>(
      '{ items: ConfigVersionSummary[] }',
    ),
    responseDescription: 'ConfigVersionSummary[]',
    responses: read,
  }),
  getConfigVersion: defineRoute({
    method: 'get',
    path: '/plugins/{pluginId}/config/{layer}/versions/{version}',
    summary: 'One version (secrets masked unless reveal=true)',
    permission: pluginLifecycleReadPermission,
    permissionNote: 'and config.reveal for reveal=true',
    params: layerParams.extend({ version: z.number().int().min(1) }),
    query: configReadQuerySchema.pick({ reveal: true }),
    body: undefined,
    response: described<ConfigVersion>('ConfigVersion'),
    responseDescription: 'ConfigVersion',
    responses: read,
  }),
  diffConfigVersions: defineRoute({
    method: 'get',
    path: '/plugins/{pluginId}/config/{layer}/diff',
    summary: 'What changed between two versions',
    permission: pluginLifecycleReadPermission,
    params: layerParams,
    query: configDiffQuerySchema,
    body: undefined,
    response: described<ConfigDiff>('ConfigDiff'),
    responseDescription: 'ConfigDiff',
    responses: read,
  }),
  rollbackConfiguration: defineRoute({
    method: 'post',
    path: '/plugins/{pluginId}/config/{layer}/rollback',
    summary:
      'Write an earlier version as the newest one; nothing when the layer already has its content',
    permission: pluginLifecycleConfigurePermission,
    params: layerParams,
    query: undefined,
    body: configRollbackRequestSchema,
    response: described<ConfigWriteResult>('ConfigWriteResult'),
    successStatus: 201,
    responseDescription: 'ConfigWriteResult: a new version',
    responses: {
      '200': {
        description:
          'ConfigWriteResult with `changed: false` (the layer already has that content: no new version, nothing applied)',
      },
      ...read,
      '409': 'error',
    },
  }),
  watchConfiguration: defineRoute({
    method: 'get',
    path: '/plugins/{pluginId}/config/{environment}/watch',
    summary:
      'Long-poll until the configuration changes (or server-sent events with Accept: text/event-stream)',
    permission: pluginLifecycleReadPermission,
    params: environmentParams,
    query: configWatchQuerySchema,
    body: undefined,
    response: described<ConfigWatchResult>('ConfigWatchResult'),
    responseDescription: 'ConfigWatchResult',
    responses: {
      ...read,
      '429': {
        error: true,
        description: 'Too many held requests (pluginLifecycle.heldRequests)',
      },
    },
  }),
};
