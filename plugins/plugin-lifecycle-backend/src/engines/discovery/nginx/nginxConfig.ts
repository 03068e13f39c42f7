import {
  AFFINITY_HEADER,
  DATA_PLANE_TOKEN_HEADER,
  TENANT_HEADER,
} from '@internal/plugin-lifecycle-common';
import {
  NginxPool,
  headerVariable,
  key,
  matchBlocks,
  millis,
  subsetBlocks,
  upstreamBlock,
} from './nginxUpstreams';

export type { NginxPool, NginxServer, NginxSubset } from './nginxUpstreams';

/**
 * Renders the nginx configuration of the native data plane from discovery's
 * routing table. Pure: no I/O, so every rule is tested on the text.
 *
 * Each pool (a service name in one tenant) with a routable instance is an
 * `upstream plo_<index>` block; each service name is a prefix location that
 * picks the pool by the tenant header. Requests nginx answers itself (bad
 * token, unknown service, none available) get Backstage's error JSON.
 */

export interface NginxConfigOptions {
  host: string;
  port: number;
  /** Where the pid file, the logs and nginx's temporary files live. */
  directory: string;
  workers: number;
  token?: string;
  /** Further attempts on other servers after a failed connection or a timeout. */
  maxRetries: number;
  connectTimeoutMs: number;
  /** Between two reads from the upstream (the response headers included). */
  readTimeoutMs: number;
  /** nginx's own passive check: this many failures in `failTimeoutMs` take a server out for `failTimeoutMs`. */
  maxFails: number;
  failTimeoutMs: number;
  /** Idle keep-alive connections per worker and upstream. */
  keepAlive: number;
  /**
   * How long an idle upstream connection is kept: below the upstreams' own
   * keep-alive timeout (Node's default is 5 s), so nginx never reuses a
   * connection the upstream is closing (a failed try, an ejection).
   */
  keepAliveTimeoutMs: number;
  /** Access log buffering: written at least this often. */
  logFlushMs: number;
  pools: NginxPool[];
  /**
   * The tenant a request without the tenant header gets when a name is
   * served in several tenants (as the Node data plane does); without a pool
   * there, the caller is asked to say which, without naming any tenant.
   */
  defaultTenant?: string;
  /** Answered at {@link GENERATION_PATH}: tells when a reload took effect. */
  generation: number;
}

/** Where the data plane says which configuration it runs. */
export const GENERATION_PATH = '/.plugin-lifecycle/generation';

/** The access log line, `|`-separated; parsed by `parseAccessLogLine`. */
export const ACCESS_LOG_FORMAT =
  '$msec|$plo_pool|$upstream_addr|$upstream_status|$upstream_header_time|$status|$request_method';

export const ACCESS_LOG_FILE = 'access.log';
export const PID_FILE = 'nginx.pid';
export const ERROR_LOG_FILE = 'error.log';

const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
// Characters that need no escaping inside an nginx string: no quotes,
// backslashes, `$` (variables) or whitespace.
const SAFE_VALUE = /^[A-Za-z0-9_.:@/+=~-]+$/;

/** Whether a tenant or token can be written into the configuration as is. */
export function isSafeNginxValue(value: string): boolean {
  return SAFE_VALUE.test(value);
}

/** A string in single quotes, with nginx's escapes; `$` cannot be escaped, so it is dropped. */
function quote(text: string): string {
  return `'${text
    .replace(/\$/g, '')
    .replace(/\\/g, '\\\\')
    .replace(/'/g, "\\'")}'`;
}

function errorBody(status: number, name: string, message: string): string {
  return JSON.stringify({
    error: { name, message },
    response: { statusCode: status },
  });
}

function returnError(status: number, name: string, message: string) {
  return `return ${status} ${quote(errorBody(status, name, message))};`;
}

/**
 * A map key matching exactly `value`, case-sensitively: nginx compares
 * plain map keys without regard to case.
 */
function exactly(value: string): string {
  return `"~^${value.replace(/[^A-Za-z0-9_ -]/g, c => `\\${c}`)}$"`;
}

// Names a map key cannot have as they are (they are map parameters).
const MAP_PARAMETERS = new Set(['default', 'hostnames', 'include', 'volatile']);

/**
 * A map from `entries`, as O(1) hash lookups. nginx compares plain keys
 * without regard to case, so keys that differ only in case are written as
 * exact, case-sensitive regular expressions instead (evaluated in order).
 */
function mapBlock(
  source: string,
  variable: string,
  entries: Array<[string, string]>,
  fallback: string,
): string {
  const byLower = new Map<string, number>();
  for (const [k] of entries) {
    byLower.set(k.toLowerCase(), (byLower.get(k.toLowerCase()) ?? 0) + 1);
  }
  const lines = [`  map ${source} ${variable} {`];
  for (const [k, v] of entries) {
    let written: string;
    if ((byLower.get(k.toLowerCase()) ?? 0) > 1) written = exactly(k);
    else if (MAP_PARAMETERS.has(k)) written = `"\\${k}"`;
    else written = `"${k}"`;
    lines.push(`    ${written} ${v};`);
  }
  lines.push(`    default ${fallback};`);
  lines.push('  }');
  return lines.join('\n');
}

/** Text for a JSON string inside an nginx string: no quotes, backslashes or `$`. */
function jsonSafe(text: string): string {
  return text.replace(/["\\$]/g, '');
}

/**
 * How a request finds its pool, as maps (one hash lookup each, however many
 * services): the service name from the URI and the tenant header make the
 * key; the key gives the upstream, the Host, whether Authorization may
 * pass, and the 503 message of a pool with nothing routable.
 */
function routingMaps(
  byName: Map<string, NginxPool[]>,
  defaultTenant: string | undefined,
): string[] {
  const routes: Array<[string, string]> = [];
  for (const [name, pools] of [...byName].sort(([a], [b]) =>
    a.localeCompare(b),
  )) {
    // No tenant header: the only pool, the default tenant's, or ask which
    // (a name squatted in a made-up tenant must not take the others' calls).
    const unnamed =
      pools.length === 1
        ? pools[0]
        : pools.find(p => p.tenant === defaultTenant);
    routes.push([`${name}|`, unnamed ? key(unnamed) : '"*"']);
    for (const pool of pools)
      routes.push([`${name}|${pool.tenant}`, key(pool)]);
  }
  const pools = [...byName.values()].flat();
  return [
    mapBlock(
      `"$plo_name|$http_${headerVariable(TENANT_HEADER)}"`,
      '$plo_key',
      routes,
      '"?"',
    ),
    mapBlock(
      '$plo_key',
      '$plo_az',
      pools
        .filter(p => p.forwardAuthorization)
        .map(p => [key(p), '$plo_authorization']),
      '""',
    ),
    mapBlock(
      '$plo_key',
      '$plo_cookie',
      pools.filter(p => p.passCookies).map(p => [key(p), '$http_cookie']),
      '""',
    ),
    mapBlock(
      '$plo_key',
      '$plo_cookies',
      pools.filter(p => p.passCookies).map(p => [key(p), '1']),
      '""',
    ),
    mapBlock(
      '$plo_key',
      '$plo_host',
      pools.map(p => [key(p), `"${p.hostHeader}"`]),
      '$host',
    ),
    mapBlock(
      '$plo_key',
      '$plo_scheme',
      pools.filter(p => p.protocol === 'https').map(p => [key(p), 'https']),
      'http',
    ),
    mapBlock(
      '$plo_key',
      '$plo_unavailable',
      pools
        .filter(p => p.servers.length === 0)
        .map(p => [
          key(p),
          `"${jsonSafe(
            p.unavailable ?? `Service '${p.serviceName}' is unavailable`,
          )}"`,
        ]),
      '""',
    ),
  ];
}

/**
 * How a request reaches its pool: the same in both proxying locations.
 * `$plo_upstream` names the upstream when a pool is split by subsets.
 */
const proxying = (
  upstream: string,
) => `      # A location's proxy_set_header replaces every one of the server's: all here.
      proxy_set_header Host $plo_host;
      proxy_set_header Authorization $plo_az;
      proxy_set_header Cookie $plo_cookie;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $plo_connection;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Host $plo_forwarded_host;
      proxy_set_header X-Forwarded-Proto $plo_forwarded_proto;
      proxy_set_header ${TENANT_HEADER} "";
      proxy_set_header ${DATA_PLANE_TOKEN_HEADER} "";
      proxy_pass $plo_scheme://plo_${upstream}$plo_rest;`;

/**
 * The one location every service shares: its checks, then the proxying.
 * Set-Cookie from upstreams is dropped there; pools that pass cookies go on
 * to a named location that keeps it (proxy_hide_header cannot depend on a
 * variable).
 */
function proxyLocation(upstream: string): string {
  const json = (status: number, name: string, message: string) =>
    `return ${status} '{"error":{"name":"${name}","message":"${message}"},"response":{"statusCode":${status}}}';`;
  return `    location ^~ /proxy/ {
      # An error_page here replaces the server's: theirs again, and the cookie route.
      error_page 502 = @plo_502;
      error_page 504 = @plo_504;
      error_page 418 = @plo_with_cookies;
      if ($plo_key = "?") { ${json(
        404,
        'NotFoundError',
        "No service named \\'$plo_name\\'",
      )} }
      if ($plo_key = "*") { ${json(
        400,
        'InputError',
        `Service \\'$plo_name\\' exists in several tenants; say which with the ${TENANT_HEADER} header`,
      )} }
      if ($plo_unavailable) { ${json(
        503,
        'ServiceUnavailableError',
        '$plo_unavailable',
      )} }
      set $plo_pool $plo_key;
      set $plo_service $plo_name;
      if ($plo_cookies) { return 418; }
      proxy_hide_header Set-Cookie;
${proxying(upstream)}
    }
    location @plo_with_cookies {
${proxying(upstream)}
    }`;
}

/**
 * The whole nginx.conf. Pools whose names, tenants or token nginx could not
 * hold safely must be filtered out before (see {@link isSafeNginxValue}).
 */
export function renderNginxConfig(options: NginxConfigOptions): string {
  const { directory: dir, token } = options;
  for (const pool of options.pools) {
    if (!SAFE_NAME.test(pool.serviceName) || !SAFE_VALUE.test(pool.tenant)) {
      throw new TypeError(
        `Service '${pool.serviceName}' of tenant '${pool.tenant}' cannot be written into nginx's configuration`,
      );
    }
  }
  if (token !== undefined && !SAFE_VALUE.test(token)) {
    throw new TypeError(
      'The data plane token must be letters, digits and _.:@/+=~- for nginx',
    );
  }

  const byName = new Map<string, NginxPool[]>();
  for (const pool of options.pools) {
    const list = byName.get(pool.serviceName) ?? [];
    list.push(pool);
    byName.set(pool.serviceName, list);
  }

  const http: string[] = [];
  // Before the first map: room in nginx's map hash for every key.
  http.push(`  map_hash_max_size ${Math.max(
    2048,
    4 * (options.pools.length + byName.size),
  )};
  map_hash_bucket_size 128;`);
  http.push(`  access_log off;
  server_tokens off;
  client_body_temp_path ${dir}/client_body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  keepalive_timeout 60s;
  keepalive_requests 1000000;
  default_type application/json;
  # No limit on request bodies, like the Node data plane: they are streamed.
  client_max_body_size 0;
  log_format plo '${ACCESS_LOG_FORMAT}';`);
  // The service name after /proxy/, and the rest of the path as the client
  // sent it (not decoded).
  http.push(`  map $request_uri $plo_name {
    "~^/proxy/(?<name>[A-Za-z0-9][A-Za-z0-9_.-]*)(?:[/?]|$)" $name;
    default "";
  }`);
  http.push(`  map $request_uri $plo_rest {
    "~^/proxy/[^/?]+(?<rest>/.*)$" $rest;
    "~^/proxy/[^/?]+(?<query>\\?.*)$" /$query;
    default /;
  }`);
  http.push(`  map $http_${headerVariable(AFFINITY_HEADER)} $plo_affinity {
    "" $remote_addr;
    default $http_${headerVariable(AFFINITY_HEADER)};
  }`);
  http.push(`  map $http_x_forwarded_host $plo_forwarded_host {
    "" $http_host;
    default $http_x_forwarded_host;
  }`);
  http.push(`  map $http_x_forwarded_proto $plo_forwarded_proto {
    "" $scheme;
    default $http_x_forwarded_proto;
  }`);
  // WebSocket (and other Upgrade) requests keep their Connection: upgrade;
  // all others send none, so upstream connections stay alive.
  http.push(`  map $http_upgrade $plo_connection {
    "" "";
    default upgrade;
  }`);
  // Only requests routed to a pool are logged (they feed the metrics).
  http.push(`  map $plo_pool $plo_logged {
    "" 0;
    default 1;
  }`);
  if (token !== undefined) {
    // The token header wins over a bearer token, as in the Node data plane;
    // a bearer token that was ours does not go upstream.
    http.push(`  map $http_${headerVariable(
      DATA_PLANE_TOKEN_HEADER,
    )} $plo_by_header {
    "" 0;
    ${exactly(token)} 1;
    default 2;
  }
  map $http_authorization $plo_by_bearer {
    ${exactly(`Bearer ${token}`)} 1;
    ${exactly(`bearer ${token}`)} 1;
    default 0;
  }
  map "$plo_by_header$plo_by_bearer" $plo_denied {
    "10" 0;
    "11" 0;
    "01" 0;
    default 1;
  }
  map "$plo_by_header$plo_by_bearer" $plo_authorization {
    "01" "";
    default $http_authorization;
  }`);
  } else {
    http.push(`  map $http_authorization $plo_authorization {
    default $http_authorization;
  }`);
  }

  const servers = options.pools.filter(p => p.servers.length > 0);
  const split = servers.filter(p => (p.subsets?.length ?? 0) > 1);
  const matched = servers.filter(p => p.match && p.match.servers.length > 0);
  const upstreams: Array<[string, string]> = [];
  for (const pool of servers) {
    const isSplit = split.includes(pool);
    http.push(
      isSplit ? subsetBlocks(pool, options) : upstreamBlock(pool, options),
    );
    const weighted = isSplit ? `$plo_split_${key(pool)}` : key(pool);
    if (matched.includes(pool)) {
      http.push(matchBlocks(pool, options, weighted));
      upstreams.push([key(pool), `$plo_match_${key(pool)}`]);
    } else if (isSplit) {
      upstreams.push([key(pool), weighted]);
    }
  }
  // Only with a split or matched pool: the configuration of one without is as it was.
  if (upstreams.length > 0) {
    http.push(mapBlock('$plo_key', '$plo_upstream', upstreams, '$plo_key'));
  }

  http.push(...routingMaps(byName, options.defaultTenant));

  // Without a token nobody is authenticated, so nobody may pick a tenant.
  const denied =
    token !== undefined
      ? `    if ($plo_denied) { ${returnError(
          401,
          'AuthenticationError',
          'Missing or wrong data plane token',
        )} }\n`
      : `    if ($http_${headerVariable(TENANT_HEADER)}) { ${returnError(
          400,
          'InputError',
          `The ${TENANT_HEADER} header needs an authenticated caller: this data plane has no token (pluginLifecycle.discovery.dataPlane.token), so its callers reach only what needs no tenant`,
        )} }\n`;

  return `# Written by the plugin-lifecycle backend from service discovery; edits are overwritten.
worker_processes ${options.workers};
# Old workers of a reload close long-lived connections (WebSockets) after this.
worker_shutdown_timeout 60s;
daemon off;
pid ${dir}/${PID_FILE};
error_log ${dir}/${ERROR_LOG_FILE} warn;
events { worker_connections 4096; }
http {
${http.join('\n')}
  server {
    listen ${options.host.includes(':') ? `[${options.host}]` : options.host}:${
    options.port
  };
    set $plo_pool "";
    set $plo_service "";
    access_log ${dir}/${ACCESS_LOG_FILE} plo buffer=64k flush=${millis(
    options.logFlushMs,
  )} if=$plo_logged;
${denied}    proxy_http_version 1.1;
    # Another instance after a failed connection, a timeout or a gateway
    # error; never a non-idempotent request once sent (nginx's rule).
    proxy_next_upstream error timeout http_502 http_503 http_504;
    proxy_next_upstream_tries ${options.maxRetries + 1};
    proxy_connect_timeout ${millis(options.connectTimeoutMs)};
    proxy_read_timeout ${millis(options.readTimeoutMs)};
    proxy_send_timeout ${millis(options.readTimeoutMs)};
    # Streams responses as they come, like the Node data plane (server-sent events).
    proxy_buffering off;
    proxy_request_buffering off;
    error_page 502 = @plo_502;
    error_page 504 = @plo_504;
    location @plo_502 {
      return 503 '{"error":{"name":"ServiceUnavailableError","message":"Service \\'$plo_service\\' is unavailable: no instance could be reached"},"response":{"statusCode":503}}';
    }
    location @plo_504 {
      return 504 '{"error":{"name":"Error","message":"Service \\'$plo_service\\' did not answer in time"},"response":{"statusCode":504}}';
    }
    location / {
      ${returnError(
        404,
        'NotFoundError',
        'Not found: use /proxy/{serviceName}/...',
      )}
    }
    location = ${GENERATION_PATH} {
      return 200 '${options.generation}';
    }
${proxyLocation(upstreams.length > 0 ? '$plo_upstream' : '$plo_key')}
  }
}
`;
}
