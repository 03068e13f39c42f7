import {
  IncomingMessage,
  Server,
  ServerResponse,
  createServer,
} from 'node:http';
import { AddressInfo } from 'node:net';
import { LoggerService } from '@backstage/backend-plugin-api';
import { AFFINITY_HEADER } from '@internal/plugin-lifecycle-common';
import { ClientInfo } from '../../../domain/loadBalancing';
import { ALL_TENANTS, TenantScope } from '../../../domain/tenancy';
import { DataPlaneAccess, assertDataPlaneExposure } from '../DataPlaneAccess';
import { discardBody, hasBody, sendError } from './httpMessages';
import { DataPlaneOptions, ProxyRequestOptions } from './proxyTypes';

/** How the listener hands a request on: the proxy's `handle`. */
export type HandleProxyRequest = (
  req: IncomingMessage,
  res: ServerResponse,
  serviceName: string,
  path: string,
  clientInfo: ClientInfo,
  scope: TenantScope,
  options: ProxyRequestOptions,
) => void;

/**
 * Starts the data plane listener: `/proxy/{serviceName}/...` on a
 * node:http server of its own, without Backstage's middleware
 * (authentication, logging) on the hot path. It has no Backstage
 * authentication: it listens on 127.0.0.1 unless told otherwise, and with
 * `token` every request must present it ({@link DataPlaneAccess}).
 */
export async function listenDataPlane(
  options: DataPlaneOptions,
  logger: LoggerService,
  handle: HandleProxyRequest,
): Promise<{ server: Server; port: number }> {
  const { host = '127.0.0.1', token } = options;
  assertDataPlaneExposure({
    host,
    token,
    allowUnauthenticated: options.allowUnauthenticated,
  });
  const scope = options.scope ?? ALL_TENANTS;
  const access = DataPlaneAccess.create({
    token,
    logger,
    warnIntervalMs: options.warnIntervalMs,
  });
  const server: Server = createServer((req, res) => {
    const match = /^\/proxy\/([^/?#]+)(.*)$/s.exec(req.url ?? '/');
    if (!match) {
      sendError(
        req,
        res,
        404,
        'NotFoundError',
        'Not found: use /proxy/{serviceName}/...',
      );
      return;
    }
    const verdict = access.check(req);
    if (!verdict.ok) {
      if (hasBody(req)) discardBody(req);
      sendError(req, res, verdict.status, verdict.name, verdict.message);
      return;
    }
    let serviceName: string;
    try {
      serviceName = decodeURIComponent(match[1]);
    } catch {
      sendError(
        req,
        res,
        400,
        'InputError',
        'Invalid service name in the path',
      );
      return;
    }
    const affinity = req.headers[AFFINITY_HEADER];
    if (!verdict.keepAuthorization) delete req.headers.authorization;
    handle(
      req,
      res,
      serviceName,
      match[2] || '/',
      {
        ip: req.socket.remoteAddress,
        ...(typeof affinity === 'string' ? { key: affinity } : {}),
      },
      scope,
      verdict.tenant !== undefined ? { tenant: verdict.tenant } : {},
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  logger.info(
    `Service proxy data plane listening on ${host}:${port}${
      token ? ' (token required)' : ''
    }`,
  );
  return { server, port };
}

/** Resolves after `ms`, or at once when `ms` is 0; the timer never holds the process. */
export function delay(ms: number): { done: Promise<void>; cancel: () => void } {
  let timer: NodeJS.Timeout | undefined;
  const done = new Promise<void>(resolve => {
    if (ms <= 0) {
      resolve();
      return;
    }
    timer = setTimeout(resolve, ms);
    timer.unref();
  });
  return { done, cancel: () => clearTimeout(timer) };
}

/**
 * Stops a listener taking connections and closes its idle ones; after
 * `graceMs` the connections still open are destroyed.
 */
export async function closeServer(
  server: Server,
  graceMs: number,
): Promise<void> {
  const closed = new Promise<void>(resolve => server.close(() => resolve()));
  server.closeIdleConnections();
  // A keep-alive connection whose response ends during the grace period
  // becomes idle then, not when close() was called.
  const sweep = setInterval(() => server.closeIdleConnections(), 100);
  sweep.unref();
  const grace = delay(graceMs);
  await Promise.race([closed, grace.done]);
  grace.cancel();
  clearInterval(sweep);
  server.closeAllConnections();
  await closed;
}
