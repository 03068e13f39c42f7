import { InputError } from '@backstage/errors';
import {
  AFFINITY_HEADER,
  TENANT_HEADER,
  heartbeatsRequestSchema,
  listServicesQuerySchema,
  registerServicesRequestSchema,
  pluginLifecycleProxyWritePermission,
  pluginLifecycleReadPermission,
  pluginLifecycleServiceRegisterPermission,
  resolveQuerySchema,
} from '@internal/plugin-lifecycle-common';
import express, { Request, Router } from 'express';
import {
  ServiceDiscovery,
  ServiceListKey,
} from '../engines/discovery/ServiceDiscovery';
import { ServiceProxy } from '../engines/discovery/ServiceProxy';
import { RouteAccess, parseInput } from './routeAccess';

/** What the discovery routes borrow from the main router. */
export interface DiscoveryRoutesContext extends RouteAccess {
  discovery: ServiceDiscovery;
  proxy: ServiceProxy;
}

/** Services in a page of `GET /services` unless the caller says `limit`. */
const DEFAULT_SERVICES_PAGE = 500;

/** Opaque to callers: where the page before ended. */
function writeCursor(key: ServiceListKey): string {
  return Buffer.from(JSON.stringify(key)).toString('base64url');
}

function readCursor(cursor: string): ServiceListKey {
  try {
    const key = JSON.parse(Buffer.from(cursor, 'base64url').toString());
    if (
      Array.isArray(key) &&
      key.length === 3 &&
      key.every(k => typeof k === 'string')
    ) {
      return key as ServiceListKey;
    }
  } catch {
    // reported below
  }
  throw new InputError(
    'Invalid query: cursor: not a cursor from an earlier page (use its nextCursor)',
  );
}

function header(req: Request, name: string): string | undefined {
  const value = req.headers[name];
  return typeof value === 'string' ? value : undefined;
}

/**
 * Service discovery's routes: register, list, heartbeat, change and
 * deregister service instances, resolve a name to one instance, and proxy
 * requests to one (`ALL /proxy/{serviceName}/...`).
 *
 * The proxy route goes through Backstage's middleware and permission check
 * on every request; the data plane listener
 * ({@link ServiceProxy.startDataPlane}) skips both.
 *
 * Call it before the router's own `express.json()`: the proxy then streams
 * request bodies untouched (after it, a JSON body that was already parsed
 * is serialized again).
 */
export function addDiscoveryRoutes(
  router: Router,
  context: DiscoveryRoutesContext,
) {
  const { discovery, proxy, authorize, audited } = context;
  /** Registering, changing and removing services in discovery. */
  const register = { permission: pluginLifecycleServiceRegisterPermission };
  const json = express.json({ limit: '1mb' });
  // A bulk of 1,000 registrations with health checks and metadata.
  const bulkJson = express.json({ limit: '10mb' });

  router.get('/services', async (req, res) => {
    const { scope } = await authorize(req, pluginLifecycleReadPermission);
    const query = parseInput(listServicesQuerySchema, req.query, 'query');
    const page = await discovery.listServices(
      {
        scope,
        name: query.name,
        tenant: query.tenant,
        limit: query.limit ?? DEFAULT_SERVICES_PAGE,
        after:
          query.cursor === undefined ? undefined : readCursor(query.cursor),
      },
      true,
    );
    res.json({
      items: page.items,
      ...(page.next ? { nextCursor: writeCursor(page.next) } : {}),
    });
  });

  // Many registrations or heartbeats in one call, for fleets: one
  // transaction and one update of the view instead of one per service.
  router.post('/services/batch', bulkJson, async (req, res) => {
    const { services } = parseInput(
      registerServicesRequestSchema,
      req.body,
      'body',
    );
    const registered = await audited(
      req,
      register,
      'service-register',
      { count: String(services.length) },
      ({ scope }) => discovery.registerServices(services, { scope }),
    );
    res.status(201).json({ items: registered });
  });

  // Not audited, like the heartbeat of one service.
  router.post('/services/heartbeats', json, async (req, res) => {
    const { scope } = await authorize(
      req,
      pluginLifecycleServiceRegisterPermission,
    );
    const { serviceIds } = parseInput(
      heartbeatsRequestSchema,
      req.body,
      'body',
    );
    res.json(await discovery.heartbeats(serviceIds, { scope }));
  });

  router.post('/services', json, async (req, res) => {
    const serviceName =
      typeof req.body?.serviceName === 'string' ? req.body.serviceName : '';
    const registered = await audited(
      req,
      register,
      'service-register',
      { serviceName },
      ({ scope }) => discovery.registerService(req.body, { scope }),
    );
    res.status(201).json(registered);
  });

  router.delete('/services/:serviceId', async (req, res) => {
    const { serviceId } = req.params;
    await audited(
      req,
      register,
      'service-deregister',
      { serviceId },
      ({ scope }) => discovery.deregisterService(serviceId, { scope }),
    );
    res.status(204).end();
  });

  // Not audited: instances heartbeat every few seconds.
  router.post('/services/:serviceId/heartbeat', async (req, res) => {
    const { scope } = await authorize(
      req,
      pluginLifecycleServiceRegisterPermission,
    );
    res.json(await discovery.heartbeat(req.params.serviceId, { scope }));
  });

  router.patch('/services/:serviceId', json, async (req, res) => {
    const { serviceId } = req.params;
    const updated = await audited(
      req,
      register,
      'service-update',
      { serviceId },
      ({ scope }) => discovery.updateService(serviceId, req.body, { scope }),
    );
    res.json(updated);
  });

  // A managed plugin's service has its id for a name: its resource ref.
  router.get('/services/:serviceName/resolve', async (req, res) => {
    const { scope } = await authorize(
      req,
      pluginLifecycleReadPermission,
      req.params.serviceName,
    );
    const query = parseInput(resolveQuerySchema, req.query, 'query');
    res.json(
      await discovery.getLoadBalancedService(
        req.params.serviceName,
        { ip: req.ip, ...(query.key ? { key: query.key } : {}) },
        query.strategy,
        { scope, tenant: query.tenant },
      ),
    );
  });

  router.all(
    ['/proxy/:serviceName', '/proxy/:serviceName/*'],
    async (req, res) => {
      // Reading needs read; anything that may change something needs proxy.write.
      const { scope } = await authorize(
        req,
        ['GET', 'HEAD'].includes(req.method)
          ? pluginLifecycleReadPermission
          : pluginLifecycleProxyWritePermission,
        req.params.serviceName,
      );
      // The raw rest of the URL, as the client encoded it, query included.
      const rest = /^\/proxy\/[^/?#]+(.*)$/s.exec(req.url)?.[1] ?? '';
      const affinity = header(req, AFFINITY_HEADER);
      const tenant = header(req, TENANT_HEADER);
      await proxy.handle(
        req,
        res,
        req.params.serviceName,
        rest === '' || rest.startsWith('?') ? `/${rest}` : rest,
        { ip: req.ip, ...(affinity ? { key: affinity } : {}) },
        scope,
        tenant ? { tenant } : {},
      );
    },
  );
}
