import { z } from 'zod';
import { AFFINITY_HEADER, TENANT_HEADER } from '../api/headers';
import {
  ResolvedService,
  ServiceRegistration,
  heartbeatsRequestSchema,
  listServicesQuerySchema,
  registerServiceRequestSchema,
  registerServicesRequestSchema,
  resolveQuerySchema,
  serviceIdSchema,
  serviceNameSchema,
  updateServiceRequestSchema,
} from '../api/discovery';
import { Page } from '../api/schemas';
import {
  pluginLifecycleProxyWritePermission,
  pluginLifecycleReadPermission,
  pluginLifecycleServiceRegisterPermission,
} from '../permissions';
import { RouteAnswer, defineRoute, described } from './route';

const read: Record<string, RouteAnswer> = {
  '400': 'error',
  '403': 'error',
  '404': 'error',
};
const serviceParams = z.object({ serviceId: serviceIdSchema });
const written: Record<string, RouteAnswer> = {
  '400': 'error',
  '403': 'error',
  '409': 'error',
};

/**
 * The routes of service discovery: register, list, heartbeat, change and
 * deregister instances, and resolve a name to one instance.
 *
 * @public
 */
export const discoveryRoutes = {
  listServices: defineRoute({
    method: 'get',
    path: '/services',
    summary: 'Instances of services the caller may see',
    permission: pluginLifecycleReadPermission,
    params: z.object({}),
    query: listServicesQuerySchema,
    body: undefined,
    response: described<Page<ServiceRegistration>>('Page<ServiceRegistration>'),
    responseDescription:
      '{ items: ServiceRegistration[], nextCursor? } (500 a page unless limit says otherwise)',
    responses: { '400': 'error' },
  }),
  registerService: defineRoute({
    method: 'post',
    path: '/services',
    summary:
      'Register (or replace) an instance of a service; a healthCheck sets up its probe',
    permission: pluginLifecycleServiceRegisterPermission,
    params: z.object({}),
    query: undefined,
    body: registerServiceRequestSchema,
    response: described<ServiceRegistration>('ServiceRegistration'),
    successStatus: 201,
    responseDescription: 'ServiceRegistration',
    responses: written,
  }),
  registerServices: defineRoute({
    method: 'post',
    path: '/services/batch',
    summary:
      'Register (or replace) many instances at once (at most 1,000), all or none',
    permission: pluginLifecycleServiceRegisterPermission,
    params: z.object({}),
    query: undefined,
    body: registerServicesRequestSchema,
    response: described<{ items: ServiceRegistration[] }>(
      '{ items: ServiceRegistration[] }',
    ),
    successStatus: 201,
    responseDescription: '{ items: ServiceRegistration[] }',
    responses: written,
  }),
  heartbeats: defineRoute({
    method: 'post',
    path: '/services/heartbeats',
    summary: 'Heartbeats of many registrations at once (at most 1,000)',
    permission: pluginLifecycleServiceRegisterPermission,
    params: z.object({}),
    query: undefined,
    body: heartbeatsRequestSchema,
    response: described<{ renewed: number; unknown: string[] }>(
      '{ renewed, unknown }',
    ),
    responseDescription: '{ renewed: number, unknown: string[] }',
    responses: { '400': 'error', '403': 'error' },
  }),
  updateService: defineRoute({
    method: 'patch',
    path: '/services/{serviceId}',
    summary: 'Change weight, maxConnections, metadata of an instance live',
    permission: pluginLifecycleServiceRegisterPermission,
    params: serviceParams,
    query: undefined,
    body: updateServiceRequestSchema,
    response: described<ServiceRegistration>('ServiceRegistration'),
    responseDescription: 'ServiceRegistration',
    responses: read,
  }),
  deregisterService: defineRoute({
    method: 'delete',
    path: '/services/{serviceId}',
    summary: 'Deregister an instance',
    permission: pluginLifecycleServiceRegisterPermission,
    params: serviceParams,
    query: undefined,
    body: undefined,
    response: z.void(),
    successStatus: 204,
    responseDescription: 'Deregistered',
    responses: read,
  }),
  heartbeat: defineRoute({
    method: 'post',
    path: '/services/{serviceId}/heartbeat',
    summary: 'Keep a registration with a TTL alive',
    permission: pluginLifecycleServiceRegisterPermission,
    params: serviceParams,
    query: undefined,
    body: undefined,
    response: described<ServiceRegistration>('ServiceRegistration'),
    responseDescription: 'ServiceRegistration',
    responses: read,
  }),
  resolveService: defineRoute({
    method: 'get',
    path: '/services/{serviceName}/resolve',
    summary: 'One instance, as the load balancer picks it',
    permission: pluginLifecycleReadPermission,
    permissionNote:
      "on the plugin the service name names (a managed plugin's service has its id for a name)",
    params: z.object({ serviceName: serviceNameSchema }),
    query: resolveQuerySchema,
    body: undefined,
    response: described<ResolvedService>('ResolvedService'),
    responseDescription: 'ResolvedService',
    responses: { ...read, '503': 'error' },
  }),
};

/**
 * `ANY /proxy/{serviceName}/{path}`: a request forwarded to an instance the
 * load balancer picks. It answers any method; the document lists these.
 *
 * @public
 */
export const proxyRoute = {
  path: '/proxy/{serviceName}/{path}',
  methods: ['get', 'put', 'post', 'patch', 'delete', 'head', 'options'],
  summary: (method: string) =>
    `${method} forwarded to an instance picked by the load balancer (idempotent requests are retried on another instance when a connection fails)`,
  /** GET and HEAD need read; any other method proxy.write. */
  readPermission: pluginLifecycleReadPermission,
  writePermission: pluginLifecycleProxyWritePermission,
  params: z.object({
    serviceName: serviceNameSchema,
    path: z.string().describe('The rest of the URL, passed on as sent'),
  }),
  headers: z.object({
    [TENANT_HEADER]: z.string().optional(),
    [AFFINITY_HEADER]: z
      .string()
      .describe('The key ip-hash hashes, instead of the client address')
      .optional(),
  }),
  responseDescription: "The instance's answer",
  responses: { '404': 'error', '502': 'error', '503': 'error' } as Record<
    string,
    RouteAnswer
  >,
} as const;
