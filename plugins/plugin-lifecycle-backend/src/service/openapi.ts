import {
  actionRequestSchema,
  configDiffQuerySchema,
  configLayerSchema,
  configReadQuerySchema,
  configRollbackRequestSchema,
  configWatchQuerySchema,
  patchConfigurationRequestSchema,
  setConfigurationRequestSchema,
  batchRequestSchema,
  installRequestSchema,
  listPluginsQuerySchema,
  pageQuerySchema,
  pluginIdSchema,
  updateRequestSchema,
  updateRollbackRequestSchema,
  heartbeatsRequestSchema,
  listServicesQuerySchema,
  registerServicesRequestSchema,
  registerServiceRequestSchema,
  resolveQuerySchema,
  serviceIdSchema,
  serviceNameSchema,
  updateServiceRequestSchema,
} from '@internal/plugin-lifecycle-common';
import { healthQuerySchema, setProbesRequestSchema } from './healthRoutes';
import { z } from 'zod';

const schema = (s: z.ZodType) =>
  z.toJSONSchema(s, { io: 'input', unrepresentable: 'any' });

const error = {
  description: 'Error in the Backstage error shape',
  content: {
    'application/json': {
      schema: {
        type: 'object',
        properties: {
          error: {
            type: 'object',
            properties: {
              name: { type: 'string' },
              message: { type: 'string' },
            },
          },
          response: {
            type: 'object',
            properties: { statusCode: { type: 'integer' } },
          },
        },
      },
    },
  },
};

const pluginIdParam = {
  name: 'pluginId',
  in: 'path',
  required: true,
  schema: schema(pluginIdSchema),
};

const layerParam = (name: 'layer' | 'environment') => ({
  name,
  in: 'path',
  required: true,
  description:
    name === 'layer'
      ? '`base` or an environment'
      : 'an environment (development, staging, production by default)',
  schema: schema(configLayerSchema),
});

const queryParams = (s: z.ZodType) =>
  Object.entries((schema(s) as any).properties ?? {}).map(([name, p]) => ({
    name,
    in: 'query',
    required: false,
    schema: p,
  }));

const read = { '400': error, '403': error, '404': error };

const writeResponses = {
  '200': {
    description:
      'ConfigWriteResult with `changed: false` (the layer already has this content: no new version), or ConfigWritePreview for `dryRun: true` (nothing stored)',
  },
  '201': { description: 'ConfigWriteResult: a new version' },
  ...read,
  '409': error,
};

const pathParam = (name: string, s: z.ZodType) => ({
  name,
  in: 'path',
  required: true,
  schema: schema(s),
});

const jsonBody = (s: z.ZodType) => ({
  content: { 'application/json': { schema: schema(s) } },
});

const proxied = (method: string) => ({
  summary: `${method} forwarded to an instance picked by the load balancer (idempotent requests are retried on another instance when a connection fails)`,
  parameters: [
    pathParam('serviceName', serviceNameSchema),
    {
      name: 'x-plugin-lifecycle-tenant',
      in: 'header',
      required: false,
      schema: { type: 'string' },
    },
    {
      name: 'x-plugin-lifecycle-affinity',
      in: 'header',
      required: false,
      description: 'The key ip-hash hashes, instead of the client address',
      schema: { type: 'string' },
    },
  ],
  responses: {
    default: { description: "The instance's answer" },
    '404': error,
    '502': error,
    '503': error,
  },
});

const accepted = {
  '202': { description: 'Accepted: the operation was queued' },
  '400': error,
  '403': error,
  '404': error,
  '409': error,
};

/**
 * The OpenAPI document of the HTTP API, generated from the zod schemas the
 * router validates with, so the two cannot drift apart.
 */
export function buildOpenApiDocument() {
  const command = (summary: string) => ({
    post: {
      summary,
      parameters: [pluginIdParam],
      requestBody: {
        content: {
          'application/json': { schema: schema(actionRequestSchema) },
        },
      },
      responses: accepted,
    },
  });
  return {
    openapi: '3.1.0',
    info: { title: 'plugin-lifecycle', version: '0.1.0' },
    servers: [{ url: '/api/plugin-lifecycle' }],
    paths: {
      '/plugins': {
        get: {
          summary: 'List managed plugins by id, a page at a time',
          parameters: Object.entries(
            (schema(listPluginsQuerySchema) as any).properties ?? {},
          ).map(([name, s]) => ({
            name,
            in: 'query',
            required: false,
            schema: s,
          })),
          responses: {
            '200': {
              description:
                '{ items: PluginSummary[], nextCursor?: string } (nextCursor: pass as cursor for the next page)',
            },
            '400': error,
          },
        },
      },
      '/plugins/{pluginId}': {
        get: {
          summary:
            'State, versions, instances and available actions of a plugin',
          parameters: [pluginIdParam],
          responses: { '200': { description: 'PluginDetails' }, '404': error },
        },
      },
      '/plugins/{pluginId}/history': {
        get: {
          summary:
            'State transitions of a plugin, oldest first, a page at a time',
          parameters: [pluginIdParam, ...queryParams(pageQuerySchema)],
          responses: {
            '200': {
              description: '{ items: StateTransition[], nextCursor?: string }',
            },
            '404': error,
          },
        },
      },
      '/plugins/{pluginId}/install': {
        post: {
          summary: 'Install a version of a plugin',
          parameters: [pluginIdParam],
          requestBody: {
            required: true,
            content: {
              'application/json': { schema: schema(installRequestSchema) },
            },
          },
          responses: accepted,
        },
      },
      '/plugins/{pluginId}/update': {
        post: {
          summary:
            'Move to another version (rolling when running; restored on failure)',
          parameters: [pluginIdParam],
          requestBody: {
            required: true,
            content: {
              'application/json': { schema: schema(updateRequestSchema) },
            },
          },
          responses: accepted,
        },
      },
      '/plugins/{pluginId}/update/{operationId}/rollback': {
        post: {
          summary:
            'Roll a succeeded update back: the version it replaced runs again with the configuration that version ran with (restored as new versions). 409 when the plugin no longer runs the version the update installed',
          parameters: [
            pluginIdParam,
            {
              name: 'operationId',
              in: 'path',
              required: true,
              description: 'The update operation to roll back',
              schema: { type: 'string' },
            },
          ],
          requestBody: jsonBody(updateRollbackRequestSchema),
          responses: accepted,
        },
      },
      '/plugins/{pluginId}/start': command('Start the installed version'),
      '/plugins/{pluginId}/stop': command('Stop every instance'),
      '/plugins/{pluginId}/restart': command('Stop, then start'),
      '/plugins/{pluginId}/uninstall': command(
        'Remove every installed version',
      ),
      '/plugins/{pluginId}/operations': {
        get: {
          summary: "The plugin's operations, newest first, a page at a time",
          parameters: [pluginIdParam, ...queryParams(pageQuerySchema)],
          responses: {
            '200': {
              description: '{ items: Operation[], nextCursor?: string }',
            },
            '404': error,
          },
        },
      },
      '/operations/batch': {
        post: {
          summary:
            "Queue several operations, ordered by the plugins' dependencies",
          requestBody: {
            required: true,
            content: {
              'application/json': { schema: schema(batchRequestSchema) },
            },
          },
          responses: accepted,
        },
      },
      '/operations/{operationId}/cancel': {
        post: {
          summary: 'Cancel a queued operation (and what waits on it)',
          parameters: [
            {
              name: 'operationId',
              in: 'path',
              required: true,
              schema: { type: 'string' },
            },
          ],
          responses: {
            '200': { description: 'Operation' },
            '404': error,
            '409': error,
          },
        },
      },
      '/operations/{operationId}': {
        get: {
          summary: 'Status, attempts, error and result of an operation',
          parameters: [
            {
              name: 'operationId',
              in: 'path',
              required: true,
              schema: { type: 'string' },
            },
            {
              name: 'waitSeconds',
              in: 'query',
              required: false,
              description:
                'Answer once the operation has ended, or after this many seconds (at most 60)',
              schema: { type: 'integer', minimum: 0, maximum: 60 },
            },
          ],
          responses: {
            '200': { description: 'Operation' },
            '400': error,
            '404': error,
            '429': {
              ...error,
              description:
                'With waitSeconds: too many held requests (pluginLifecycle.heldRequests)',
            },
          },
        },
      },
      '/config/environments': {
        get: {
          summary: 'Environments a configuration layer may target',
          responses: { '200': { description: 'Environments and the default' } },
        },
      },
      '/config/export': {
        get: {
          summary: 'Signed export of all configuration (secrets stay sealed)',
          responses: { '200': { description: 'ConfigExport' }, ...read },
        },
      },
      '/config/import': {
        post: {
          summary: 'Restore an export; refuses one that does not verify',
          responses: { '200': { description: 'ConfigImportResult' }, ...read },
        },
      },
      '/plugins/{pluginId}/config/{environment}': {
        get: {
          summary: 'Effective configuration with the layer of each value',
          parameters: [
            pluginIdParam,
            layerParam('environment'),
            ...queryParams(configReadQuerySchema),
          ],
          responses: {
            '200': { description: 'EffectiveConfiguration' },
            ...read,
          },
        },
        put: {
          summary:
            'Replace the content of a layer (`base` or an environment); 400 if that drops a required key, 409 on a stale expectedVersion',
          parameters: [pluginIdParam, layerParam('layer')],
          requestBody: {
            content: {
              'application/json': {
                schema: schema(setConfigurationRequestSchema),
              },
            },
          },
          responses: writeResponses,
        },
        patch: {
          summary:
            'Set and remove keys of a layer, keeping the others; 400 if that removes a required key, 409 on a stale expectedVersion',
          parameters: [pluginIdParam, layerParam('layer')],
          requestBody: {
            content: {
              'application/json': {
                schema: schema(patchConfigurationRequestSchema),
              },
            },
          },
          responses: writeResponses,
        },
      },
      '/plugins/{pluginId}/config/{layer}/versions': {
        get: {
          summary: 'Versions of a layer, newest first',
          parameters: [pluginIdParam, layerParam('layer')],
          responses: {
            '200': { description: 'ConfigVersionSummary[]' },
            ...read,
          },
        },
      },
      '/plugins/{pluginId}/config/{layer}/versions/{version}': {
        get: {
          summary: 'One version (secrets masked unless reveal=true)',
          parameters: [
            pluginIdParam,
            layerParam('layer'),
            {
              name: 'version',
              in: 'path',
              required: true,
              schema: { type: 'integer', minimum: 1 },
            },
          ],
          responses: { '200': { description: 'ConfigVersion' }, ...read },
        },
      },
      '/plugins/{pluginId}/config/{layer}/diff': {
        get: {
          summary: 'What changed between two versions',
          parameters: [
            pluginIdParam,
            layerParam('layer'),
            ...queryParams(configDiffQuerySchema),
          ],
          responses: { '200': { description: 'ConfigDiff' }, ...read },
        },
      },
      '/plugins/{pluginId}/config/{layer}/rollback': {
        post: {
          summary: 'Write an earlier version as the newest one',
          parameters: [pluginIdParam, layerParam('layer')],
          requestBody: {
            content: {
              'application/json': {
                schema: schema(configRollbackRequestSchema),
              },
            },
          },
          responses: {
            '201': { description: 'ConfigWriteResult' },
            ...read,
            '409': error,
          },
        },
      },
      '/plugins/{pluginId}/config/{environment}/watch': {
        get: {
          summary:
            'Long-poll until the configuration changes (or server-sent events with Accept: text/event-stream)',
          parameters: [
            pluginIdParam,
            layerParam('environment'),
            ...queryParams(configWatchQuerySchema),
          ],
          responses: {
            '200': { description: 'ConfigWatchResult' },
            ...read,
            '429': {
              ...error,
              description:
                'Too many held requests (pluginLifecycle.heldRequests)',
            },
          },
        },
      },
      '/metrics/system': {
        get: {
          summary: 'System metrics',
          responses: { '200': { description: 'SystemMetrics' } },
        },
      },
      '/metrics/services': {
        get: {
          summary:
            'Proxied requests per instance and per version: counts by status class, latency histograms, connections in flight (this replica)',
          responses: {
            '200': { description: '{ instances, versions }' },
            '403': error,
          },
        },
      },
      '/plugins/{pluginId}/health': {
        get: {
          summary:
            'Health per instance and probe: verdict, status, latency, trend',
          parameters: [pluginIdParam, ...queryParams(healthQuerySchema)],
          responses: { '200': { description: 'PluginHealth' }, ...read },
        },
      },
      '/plugins/{pluginId}/probes': {
        put: {
          summary: "Replace a plugin's probe definitions",
          parameters: [pluginIdParam],
          requestBody: jsonBody(setProbesRequestSchema),
          responses: {
            '200': { description: '{ pluginId, probes }' },
            ...read,
          },
        },
      },
      '/services': {
        get: {
          summary: 'Instances of services the caller may see',
          parameters: queryParams(listServicesQuerySchema),
          responses: {
            '200': {
              description:
                '{ items: ServiceRegistration[], nextCursor? } (500 a page unless limit says otherwise)',
            },
            '400': error,
          },
        },
        post: {
          summary:
            'Register (or replace) an instance of a service; a healthCheck sets up its probe',
          requestBody: jsonBody(registerServiceRequestSchema),
          responses: {
            '201': { description: 'ServiceRegistration' },
            '400': error,
            '403': error,
            '409': error,
          },
        },
      },
      '/services/batch': {
        post: {
          summary:
            'Register (or replace) many instances at once (at most 1,000), all or none',
          requestBody: jsonBody(registerServicesRequestSchema),
          responses: {
            '201': { description: '{ items: ServiceRegistration[] }' },
            '400': error,
            '403': error,
            '409': error,
          },
        },
      },
      '/services/heartbeats': {
        post: {
          summary: 'Heartbeats of many registrations at once (at most 1,000)',
          requestBody: jsonBody(heartbeatsRequestSchema),
          responses: {
            '200': { description: '{ renewed: number, unknown: string[] }' },
            '400': error,
            '403': error,
          },
        },
      },
      '/services/{serviceId}': {
        patch: {
          summary:
            'Change weight, maxConnections, metadata of an instance live',
          parameters: [pathParam('serviceId', serviceIdSchema)],
          requestBody: jsonBody(updateServiceRequestSchema),
          responses: {
            '200': { description: 'ServiceRegistration' },
            ...read,
          },
        },
        delete: {
          summary: 'Deregister an instance',
          parameters: [pathParam('serviceId', serviceIdSchema)],
          responses: { '204': { description: 'Deregistered' }, ...read },
        },
      },
      '/services/{serviceId}/heartbeat': {
        post: {
          summary: 'Keep a registration with a TTL alive',
          parameters: [pathParam('serviceId', serviceIdSchema)],
          responses: {
            '200': { description: 'ServiceRegistration' },
            ...read,
          },
        },
      },
      '/services/{serviceName}/resolve': {
        get: {
          summary: 'One instance, as the load balancer picks it',
          parameters: [
            pathParam('serviceName', serviceNameSchema),
            ...queryParams(resolveQuerySchema),
          ],
          responses: {
            '200': { description: 'ResolvedService' },
            ...read,
            '503': error,
          },
        },
      },
      '/proxy/{serviceName}/{path}': Object.fromEntries(
        ['get', 'put', 'post', 'patch', 'delete', 'head', 'options'].map(m => [
          m,
          {
            ...proxied(m.toUpperCase()),
            parameters: [
              ...proxied(m).parameters,
              {
                name: 'path',
                in: 'path',
                required: true,
                description: 'The rest of the URL, passed on as sent',
                schema: { type: 'string' },
              },
            ],
          },
        ]),
      ),
    },
  };
}
