import {
  LoadBalancingStrategy,
  NameValue,
} from '../../../domain/loadBalancing';

/**
 * The upstream blocks of the nginx configuration: a pool's servers with
 * their weights and limits, or, for a pool split by version subsets, one
 * upstream per subset and the `split_clients` that picks one per request.
 * Pure, like the rest of the renderer.
 */

/** One upstream server, its host already resolved to an address. */
export interface NginxServer {
  /** `ip:port` or `[ipv6]:port`: what nginx logs in `$upstream_addr`. */
  address: string;
  weight: number;
  maxConnections?: number;
}

/** One version subset of a pool: its servers and its share of the traffic. */
export interface NginxSubset {
  /** `track/version`. */
  key?: string;
  weight: number;
  servers: NginxServer[];
}

export interface NginxPool {
  /** Stable for the pool's life: it names the upstream block and goes into the access log. */
  index: number;
  tenant: string;
  serviceName: string;
  strategy: LoadBalancingStrategy;
  protocol: 'http' | 'https';
  /** The Host header upstreams receive. */
  hostHeader: string;
  /**
   * Only a pool of instances a runtime started for a managed plugin (they
   * verify Backstage tokens themselves); a registered service never sees
   * the caller's credentials, whatever pluginId it names.
   */
  forwardAuthorization: boolean;
  /** Cookie goes upstream and Set-Cookie comes back (`discovery.proxy.passCookies`). Default false. */
  passCookies?: boolean;
  servers: NginxServer[];
  /**
   * Version subsets that share the traffic by weight (two or more): each
   * becomes an upstream of its own and `split_clients` picks one per
   * request. Absent for a pool of one subset, rendered as before.
   */
  subsets?: NginxSubset[];
  /**
   * Requests with this header (or cookie) value go to the servers of the
   * subset `subset` (those of its split upstream when it is one of
   * `subsets`); the others as without it.
   */
  match?: NginxMatch;
  /** Set when nothing is routable: the 503 message. */
  unavailable?: string;
}

/** A header or cookie match and the servers of its subset. */
export interface NginxMatch {
  subset: string;
  header?: NameValue;
  cookie?: NameValue;
  servers: NginxServer[];
}

/** What every upstream block takes from the data plane's settings. */
export interface UpstreamSettings {
  maxFails: number;
  failTimeoutMs: number;
  keepAlive: number;
  keepAliveTimeoutMs: number;
}

/** The name of a pool's upstream (and its key in the maps). */
export function key(pool: NginxPool): string {
  return String(pool.index);
}

export function millis(ms: number): string {
  return `${Math.max(1, Math.ceil(ms))}ms`;
}

/** For the directives that take whole seconds only (fail_timeout). */
export function seconds(ms: number): string {
  return `${Math.max(1, Math.ceil(ms / 1000))}s`;
}

function serverWeight(
  pool: NginxPool,
  server: NginxServer,
): number | undefined {
  switch (pool.strategy) {
    case 'round-robin':
    case 'ip-hash':
      return undefined;
    default:
      // nginx weights are positive integers; a drained server is never listed.
      return Math.max(1, Math.round(server.weight));
  }
}

export function upstreamBlock(
  pool: NginxPool,
  options: UpstreamSettings,
  name: string = key(pool),
  servers: NginxServer[] = pool.servers,
): string {
  const lines = [`  upstream plo_${name} {`];
  // Shared by the workers, so max_conns and failures count across them.
  lines.push(`    zone plo_${name} 64k;`);
  if (pool.strategy === 'least-connections') lines.push('    least_conn;');
  if (pool.strategy === 'ip-hash')
    lines.push('    hash $plo_affinity consistent;');
  for (const server of servers) {
    const weight = serverWeight(pool, server);
    lines.push(
      `    server ${server.address}${
        weight !== undefined ? ` weight=${weight}` : ''
      }${
        server.maxConnections !== undefined
          ? ` max_conns=${server.maxConnections}`
          : ''
      } max_fails=${options.maxFails} fail_timeout=${seconds(
        options.failTimeoutMs,
      )};`,
    );
  }
  lines.push(`    keepalive ${options.keepAlive};`);
  lines.push('    keepalive_requests 1000000;');
  lines.push(`    keepalive_timeout ${millis(options.keepAliveTimeoutMs)};`);
  lines.push('  }');
  return lines.join('\n');
}

/** Percentages of `weights` for split_clients, rounded down to hundredths (the last one takes the rest). */
function percentages(weights: number[]): string[] {
  const total = weights.reduce((sum, w) => sum + w, 0);
  return weights.map(
    w => `${(Math.floor((w / total) * 10_000) / 100).toFixed(2)}%`,
  );
}

/**
 * The upstreams of a pool split by version subsets and the split itself:
 * `split_clients` hashes the request id (a sticky pool: its affinity key,
 * so a client stays in one subset) into the subsets by weight.
 */
export function subsetBlocks(
  pool: NginxPool,
  options: UpstreamSettings,
): string {
  const subsets = pool.subsets ?? [];
  const blocks = subsets.map((subset, i) =>
    upstreamBlock(pool, options, `${key(pool)}_${i}`, subset.servers),
  );
  const shares = percentages(subsets.map(s => s.weight));
  const source = pool.strategy === 'ip-hash' ? '$plo_affinity' : '$request_id';
  const lines = [`  split_clients "${source}" $plo_split_${key(pool)} {`];
  subsets.forEach((_, i) => {
    const share = i === subsets.length - 1 ? '*' : shares[i];
    lines.push(`    ${share} ${key(pool)}_${i};`);
  });
  lines.push('  }');
  return [...blocks, lines.join('\n')].join('\n');
}

/** `X-Variant` → `x_variant`, as in nginx's `$http_…` variables. */
export function headerVariable(header: string): string {
  return header.toLowerCase().replace(/-/g, '_');
}

/**
 * Text matched literally inside a regular expression in a quoted nginx
 * string: every character but letters and digits as `\xHH`, which neither
 * nginx's string escapes nor a `$` variable can touch.
 */
function literal(text: string): string {
  return text.replace(
    /[^A-Za-z0-9]/g,
    c => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`,
  );
}

/**
 * A pool's header or cookie match: a map from the request's header (or its
 * Cookie header) to the match subset's upstream, or else to where the pool
 * sends requests without the match (`fallback`: its split or its upstream).
 * The subset's own upstream is the split's when the subset has weight;
 * otherwise one of its own, `<pool>_m`.
 */
export function matchBlocks(
  pool: NginxPool,
  options: UpstreamSettings,
  fallback: string,
): string {
  const match = pool.match!;
  const blocks: string[] = [];
  const inSplit = (pool.subsets ?? []).findIndex(s => s.key === match.subset);
  let target: string;
  if (pool.subsets && pool.subsets.length > 1 && inSplit >= 0) {
    target = `${key(pool)}_${inSplit}`;
  } else {
    target = `${key(pool)}_m`;
    blocks.push(upstreamBlock(pool, options, target, match.servers));
  }
  const [source, pattern] = match.header
    ? [
        `$http_${headerVariable(match.header.name)}`,
        `~^${literal(match.header.value)}$`,
      ]
    : [
        '$http_cookie',
        `~(?:^|;) *${literal(match.cookie!.name)}=${literal(
          match.cookie!.value,
        )} *(?:;|$)`,
      ];
  blocks.push(`  map ${source} $plo_match_${key(pool)} {
    "${pattern}" ${target};
    default ${fallback};
  }`);
  return blocks.join('\n');
}
