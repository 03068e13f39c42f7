import { Config } from '@backstage/config';
import { ReservedEndpoint } from './TargetPolicy';

const DEFAULT_PORTS: Record<string, number> = {
  pg: 5432,
  postgres: 5432,
  postgresql: 5432,
  mysql: 3306,
  mysql2: 3306,
};

/** host and port of a knex connection (a URL or an object), if it has them. */
function connectionEndpoint(
  client: string | undefined,
  connection: unknown,
): { host: string; port: number } | undefined {
  const fallbackPort = DEFAULT_PORTS[client ?? ''];
  if (typeof connection === 'string') {
    try {
      const url = new URL(connection);
      if (!url.hostname) return undefined;
      const port =
        Number(url.port) ||
        DEFAULT_PORTS[url.protocol.replace(/:$/, '')] ||
        fallbackPort;
      return port ? { host: url.hostname, port } : undefined;
    } catch {
      return undefined; // a file name (SQLite), not a URL
    }
  }
  if (connection && typeof connection === 'object') {
    const c = connection as { host?: unknown; port?: unknown };
    if (typeof c.host !== 'string' || !c.host || c.host.startsWith('/')) {
      return undefined; // no host, or a Unix socket
    }
    const port = Number(c.port) || fallbackPort;
    return port ? { host: c.host, port } : undefined;
  }
  return undefined;
}

/**
 * The backend's own listeners, which no registered target may be: its HTTP
 * port (`backend.listen.port`, default 7007, and the port its own base URL
 * names) and its databases (`backend.database.connection`, and each
 * plugin's under `backend.database.plugin`).
 */
export function backendEndpointsOf(
  config: Config,
  options: { ownBaseUrl?: string; dataPlanePort?: number } = {},
): ReservedEndpoint[] {
  const endpoints: ReservedEndpoint[] = [];
  const listen = config.getOptional('backend.listen');
  let listenPort = 7007;
  let listenHost = '127.0.0.1';
  if (typeof listen === 'string') {
    const [, host, port] = /^(?:(.*):)?(\d+)$/.exec(listen) ?? [];
    if (port) listenPort = Number(port);
    if (host) listenHost = host;
  } else if (listen && typeof listen === 'object') {
    const l = listen as { port?: unknown; host?: unknown };
    if (l.port !== undefined && Number(l.port) > 0) listenPort = Number(l.port);
    if (typeof l.host === 'string' && l.host) listenHost = l.host;
  }
  const own = "the backend's own listener";
  endpoints.push({ what: own, host: '127.0.0.1', port: listenPort });
  if (listenHost !== '127.0.0.1') {
    endpoints.push({ what: own, host: listenHost, port: listenPort });
  }
  if (options.ownBaseUrl) {
    try {
      const url = new URL(options.ownBaseUrl);
      const port = Number(url.port) || (url.protocol === 'https:' ? 443 : 80);
      endpoints.push({ what: own, host: '127.0.0.1', port });
      endpoints.push({ what: own, host: url.hostname, port });
    } catch {
      // not a URL: nothing to add
    }
  }
  if (options.dataPlanePort) {
    endpoints.push({
      what: "the backend's own data plane",
      host: '127.0.0.1',
      port: options.dataPlanePort,
    });
  }
  const database = config.getOptionalConfig('backend.database');
  if (database) {
    const client = database.getOptionalString('client');
    const found = connectionEndpoint(
      client,
      database.getOptional('connection'),
    );
    if (found) endpoints.push({ what: "the backend's database", ...found });
    const plugins = database.getOptionalConfig('plugin');
    for (const id of plugins?.keys() ?? []) {
      const plugin = plugins!.getConfig(id);
      const theirs = connectionEndpoint(
        plugin.getOptionalString('client') ?? client,
        plugin.getOptional('connection'),
      );
      if (theirs) {
        endpoints.push({ what: `the database of plugin '${id}'`, ...theirs });
      }
    }
  }
  return endpoints;
}
