import { InputError } from '@backstage/errors';
import {
  discoveryRoutes as routes,
  pluginLifecycleServiceRegisterPermission,
} from '@internal/plugin-lifecycle-common';
import express, { Router } from 'express';
import type { ServiceListKey } from '../../engines/discovery/ServiceDiscovery';
import type { DiscoveryCommands } from '../../system/commands/discoveryCommands';
import { RouteAccess, parseInput } from '../routeAccess';
import { mount } from './mount';

/** What the discovery endpoints borrow from the router. */
export interface DiscoveryEndpointsContext extends RouteAccess {
  /** The facade's discovery commands. */
  discovery: Pick<
    DiscoveryCommands,
    | 'listServices'
    | 'registerService'
    | 'registerServices'
    | 'updateService'
    | 'deregisterService'
    | 'heartbeat'
    | 'heartbeats'
    | 'getLoadBalancedService'
  >;
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

/**
 * Service discovery's routes: register, list, heartbeat, change and
 * deregister service instances, and resolve a name to one instance.
 *
 * Bound before the router's own `express.json()`: these routes parse their
 * bodies themselves, and the proxy beside them streams bodies untouched.
 * The request body envelopes are checked here; discovery validates the
 * registrations themselves.
 */
export function bindDiscoveryEndpoints(
  router: Router,
  context: DiscoveryEndpointsContext,
) {
  const { discovery, authorize, audited } = context;
  /** Registering, changing and removing services in discovery. */
  const register = { permission: pluginLifecycleServiceRegisterPermission };
  const json = express.json({ limit: '1mb' });
  // A bulk of 1,000 registrations with health checks and metadata.
  const bulkJson = express.json({ limit: '10mb' });

  mount(router, routes.listServices, async (req, res) => {
    const { scope } = await authorize(req, routes.listServices.permission);
    const query = parseInput(routes.listServices.query, req.query, 'query');
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
  mount(router, routes.registerServices, bulkJson, async (req, res) => {
    const { services } = parseInput(
      routes.registerServices.body,
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
  mount(router, routes.heartbeats, json, async (req, res) => {
    const { scope } = await authorize(req, routes.heartbeats.permission);
    const { serviceIds } = parseInput(routes.heartbeats.body, req.body, 'body');
    res.json(await discovery.heartbeats(serviceIds, { scope }));
  });

  mount(router, routes.registerService, json, async (req, res) => {
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

  mount(router, routes.deregisterService, async (req, res) => {
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
  mount(router, routes.heartbeat, async (req, res) => {
    const { scope } = await authorize(req, routes.heartbeat.permission);
    res.json(await discovery.heartbeat(req.params.serviceId, { scope }));
  });

  mount(router, routes.updateService, json, async (req, res) => {
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
  mount(router, routes.resolveService, async (req, res) => {
    const { scope } = await authorize(
      req,
      routes.resolveService.permission,
      req.params.serviceName,
    );
    const query = parseInput(routes.resolveService.query, req.query, 'query');
    res.json(
      await discovery.getLoadBalancedService(
        req.params.serviceName,
        { ip: req.ip, ...(query.key ? { key: query.key } : {}) },
        query.strategy,
        // A traffic split's header or cookie match reads the caller's.
        { scope, tenant: query.tenant, headers: req.headers },
      ),
    );
  });
}
