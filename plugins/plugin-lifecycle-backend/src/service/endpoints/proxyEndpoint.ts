import {
  AFFINITY_HEADER,
  TENANT_HEADER,
  proxyRoute,
} from '@internal/plugin-lifecycle-common';
import { Request, Router } from 'express';
import type { ServiceProxy } from '../../engines/discovery/ServiceProxy';
import { RouteAccess } from '../routeAccess';

/** What the proxy endpoint borrows from the router. */
export interface ProxyEndpointContext extends RouteAccess {
  /** The data plane behind Backstage's middleware. */
  proxy: Pick<ServiceProxy, 'handle'>;
}

/**
 * The two Express paths of {@link proxyRoute}: the service's root, and
 * anything below it.
 */
export const PROXY_EXPRESS_PATHS = [
  '/proxy/:serviceName',
  '/proxy/:serviceName/*',
];

function header(req: Request, name: string): string | undefined {
  const value = req.headers[name];
  return typeof value === 'string' ? value : undefined;
}

/**
 * `ALL /proxy/{serviceName}/...`: a request forwarded to one instance. It
 * goes through Backstage's middleware and permission check on every
 * request; the data plane listener ({@link ServiceProxy.startDataPlane})
 * skips both.
 *
 * Bind it before the router's own `express.json()`: the proxy then streams
 * request bodies untouched (after it, a JSON body that was already parsed
 * is serialized again).
 */
export function bindProxyEndpoint(
  router: Router,
  context: ProxyEndpointContext,
) {
  const { proxy, authorize } = context;
  router.all(PROXY_EXPRESS_PATHS, async (req, res) => {
    // Reading needs read; anything that may change something needs proxy.write.
    const { scope } = await authorize(
      req,
      ['GET', 'HEAD'].includes(req.method)
        ? proxyRoute.readPermission
        : proxyRoute.writePermission,
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
  });
}
