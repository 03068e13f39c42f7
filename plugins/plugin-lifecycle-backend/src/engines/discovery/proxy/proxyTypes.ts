import { LoggerService } from '@backstage/backend-plugin-api';
import { TenantScope } from '../../../domain/tenancy';
import { ProxyMetrics } from '../ProxyMetrics';
import { ServiceDiscovery } from '../ServiceDiscovery';
import { TargetPolicy } from '../TargetPolicy';

/** @public */
export interface ServiceProxyOptions {
  discovery: ServiceDiscovery;
  metrics: ProxyMetrics;
  logger: LoggerService;
  /** Further attempts, each on another instance, after a failed connection. Default 2. */
  maxRetries?: number;
  /** Default 5000. */
  connectTimeoutMs?: number;
  /** Until the upstream's response headers. Default 60000. */
  headersTimeoutMs?: number;
  /**
   * Per attempt of a request that may be retried (idempotent, no body),
   * like Envoy's per_try_timeout: without response headers by then, the
   * attempt counts as a failure of its instance (for outlier ejection) and
   * the request goes to another instance within `maxRetries`. Requests that
   * may not be retried keep only `headersTimeoutMs`. Default off.
   */
  attemptTimeoutMs?: number;
  /** Between two chunks of the response body. Default 300000. */
  bodyTimeoutMs?: number;
  /** Idle keep-alive connections to an upstream close after this. Default 4000. */
  keepAliveTimeoutMs?: number;
  /** Connection pools of upstreams unused this long are closed. Default 300000. */
  idlePoolMs?: number;
  /**
   * Where upstreams may be (`discovery.allowedTargets`): checked before each
   * attempt for an address, and when connecting for a host name. Default:
   * anywhere.
   */
  targets?: TargetPolicy;
  /**
   * Service names whose upstreams get the caller's cookies and may set
   * cookies. Default none: Cookie and Set-Cookie stop at the proxy.
   */
  passCookies?: Iterable<string>;
}

/** Per request: which tenant and strategy, when the caller says. */
export interface ProxyRequestOptions {
  tenant?: string;
  strategy?: string;
}

/** @public */
export interface DataPlaneOptions {
  /** Default 0: any free port. */
  port?: number;
  /** Default 127.0.0.1: the data plane has no Backstage authentication. */
  host?: string;
  /**
   * When set, every request must carry it (`Authorization: Bearer` or the
   * x-plugin-lifecycle-proxy-token header), and only its holders may pick a
   * tenant with the x-plugin-lifecycle-tenant header.
   */
  token?: string;
  /** Listen beyond loopback without a token. Default false: refused at start. */
  allowUnauthenticated?: boolean;
  /** Milliseconds between two warnings about refused tokens. Default 60000. */
  warnIntervalMs?: number;
  /** The tenants data-plane callers may reach. Default all. */
  scope?: TenantScope;
}

/** How a proxy or data plane closes. */
export interface CloseOptions {
  /**
   * Milliseconds that requests under way get to finish; then their client
   * connections are destroyed and their upstream attempts aborted. Default
   * 0: at once.
   */
  graceMs?: number;
}

/** @public */
export interface DataPlane {
  port: number;
  /** Stops taking connections; what is under way gets `graceMs` to finish. */
  close(options?: CloseOptions): Promise<void>;
  /**
   * Resolves once the routing changes made so far serve new requests (nginx
   * reloads asynchronously); absent where they apply at once.
   */
  settle?(): Promise<void>;
}
