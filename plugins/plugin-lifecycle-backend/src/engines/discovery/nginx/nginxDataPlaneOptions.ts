import { LoggerService } from '@backstage/backend-plugin-api';
import { TenantScope } from '../../../domain/tenancy';
import { ProxyMetrics } from '../ProxyMetrics';
import { ServiceDiscovery } from '../ServiceDiscovery';

/** @public */
export interface NginxDataPlaneOptions {
  discovery: ServiceDiscovery;
  metrics: ProxyMetrics;
  logger: LoggerService;
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 0: a free port. */
  port?: number;
  token?: string;
  scope?: TenantScope;
  /** A request that names no tenant gets this tenant's pool of a name served in several. */
  defaultTenant?: string;
  /** Service names whose upstreams get Cookie and may answer Set-Cookie. Default none. */
  passCookies?: Iterable<string>;
  /** The nginx executable. Default: /usr/sbin/nginx, /usr/bin/nginx or nginx on the PATH. */
  binary?: string;
  /** nginx worker processes. Default 1. */
  workers?: number;
  /** Holds the configuration, logs and temporary files. Default: a new temporary directory. */
  directory?: string;
  /** Default 2. */
  maxRetries?: number;
  /** Default 5000. */
  connectTimeoutMs?: number;
  /** Between two reads from an upstream, the response headers included. Default 60000. */
  readTimeoutMs?: number;
  /**
   * nginx's own passive outlier ejection: this many failed tries (refused or
   * broken connections, timeouts, 502/503/504 answers) within
   * `failTimeoutMs` take an instance out for `failTimeoutMs`. Default 5, as
   * discovery's `consecutiveFailures`.
   */
  maxFails?: number;
  /** Default 30000, as discovery's `baseEjectionMs`. */
  failTimeoutMs?: number;
  /** Routing changes closer together than this make one reload. Default 100. */
  reloadDebounceMs?: number;
  /**
   * How often the access log is read into the metrics. Default 50: small
   * reads, so the backend's share of the CPU comes in small slices.
   */
  logIntervalMs?: number;
  /** nginx writes its buffered access log at least this often. Default 250. */
  logFlushMs?: number;
  /** The access log is rotated past this size. Default 16 MiB. */
  maxLogBytes?: number;
  /** Idle connections to an upstream close after this. Default 4000, below Node's 5 s. */
  upstreamKeepAliveTimeoutMs?: number;
  /**
   * nginx outlives the backend, as the managed instances do: it runs in a
   * session of its own, and a backend that starts on the same directory
   * and port adopts the nginx it finds there (pid file, command line) and
   * reloads it with its configuration, so traffic keeps flowing through a
   * backend restart. `close({ leaveRunning: true })` then lets it run on.
   * Default false: a leftover nginx is stopped at start.
   */
  outliveBackend?: boolean;
}
