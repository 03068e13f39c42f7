import {
  IncomingHttpHeaders,
  IncomingMessage,
  OutgoingHttpHeaders,
  Server,
  ServerResponse,
  createServer,
} from 'node:http';
import { AddressInfo, isIP } from 'node:net';
import { performance } from 'node:perf_hooks';
import { PassThrough } from 'node:stream';
import { LoggerService } from '@backstage/backend-plugin-api';
import {
  NotImplementedError,
  ServiceUnavailableError,
} from '@backstage/errors';
import {
  AFFINITY_HEADER,
  DATA_PLANE_TOKEN_HEADER,
  ResolvedService,
  TENANT_HEADER,
} from '@internal/plugin-lifecycle-common';
import { Dispatcher, Pool } from 'undici';
import { ClientInfo } from '../../domain/loadBalancing';
import { ALL_TENANTS, TenantScope } from '../../domain/tenancy';
import { ProxyMetrics } from './ProxyMetrics';
import { ServiceDiscovery } from './ServiceDiscovery';
import { DataPlaneAccess, assertDataPlaneExposure } from './DataPlaneAccess';
import { TargetPolicy } from './TargetPolicy';

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
}

const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE']);

// RFC 9110 §7.6.1, plus headers only this hop may use.
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);
const NOT_FORWARDED = new Set([
  ...HOP_BY_HOP,
  'host',
  // undici does not do 100-continue; the body is streamed anyway.
  'expect',
  TENANT_HEADER,
  DATA_PLANE_TOKEN_HEADER,
]);

// A failure to connect, or a connection that closed before the response
// began: the upstream did not answer, so an idempotent request may go to
// another instance.
const CONNECTION_FAILURES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
]);

type Attempt =
  | { done: true }
  | { done: false; error: Error & { code?: string } };

function errorCode(error: unknown): string | undefined {
  const e = error as { code?: string; cause?: { code?: string } };
  return e?.code ?? e?.cause?.code;
}

function statusOf(error: Error): number {
  switch (error.name) {
    case 'InputError':
      return 400;
    case 'AuthenticationError':
      return 401;
    case 'NotAllowedError':
      return 403;
    case 'NotFoundError':
      return 404;
    case 'ConflictError':
      return 409;
    case 'NotImplementedError':
      return 501;
    case 'ServiceUnavailableError':
      return 503;
    default:
      return 500;
  }
}

/** Writes an error the way Backstage's error handler does. */
function sendError(
  req: IncomingMessage,
  res: ServerResponse,
  status: number,
  name: string,
  message: string,
) {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = JSON.stringify({
    error: { name, message },
    request: { method: req.method, url: req.url },
    response: { statusCode: status },
  });
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
}

/** Whether the request carries a body (by its framing headers, RFC 9112 §6.3). */
function hasBody(req: IncomingMessage): boolean {
  if (req.headers['transfer-encoding'] !== undefined) return true;
  const length = req.headers['content-length'];
  return length !== undefined && length !== '0';
}

/**
 * The body to send upstream: nothing, the request stream itself (piped on
 * the one attempt that uses it), or, when Express' body parser already read
 * it, the parsed body serialized again.
 */
function bodyOf(req: IncomingMessage): {
  body: Buffer | 'stream' | null;
  length?: number;
} {
  const parsed = req as IncomingMessage & { _body?: boolean; body?: unknown };
  if (parsed._body === true) {
    const value = parsed.body;
    const buffer = Buffer.isBuffer(value)
      ? value
      : Buffer.from(typeof value === 'string' ? value : JSON.stringify(value));
    return { body: buffer, length: buffer.length };
  }
  return { body: hasBody(req) ? 'stream' : null };
}

/** Throws away what is left of a request body, so its connection can carry the next request. */
function discardBody(req: IncomingMessage) {
  req.unpipe();
  if (!req.readableEnded) req.resume();
}

function forwardedHeaders(
  req: IncomingMessage,
  options: {
    keepAuthorization: boolean;
    keepCookies: boolean;
    bodyLength?: number;
  },
): IncomingHttpHeaders {
  const headers: IncomingHttpHeaders = {};
  const named = req.headers.connection;
  const listed = named
    ? new Set(named.split(',').map(h => h.trim().toLowerCase()))
    : undefined;
  const incoming = req.headers;
  // Object.keys, not Object.entries: no array of pairs per request.
  for (const name of Object.keys(incoming)) {
    const value = incoming[name];
    if (value === undefined || NOT_FORWARDED.has(name)) continue;
    if (listed?.has(name)) continue;
    if (name === 'authorization' && !options.keepAuthorization) continue;
    if (name === 'cookie' && !options.keepCookies) continue;
    headers[name] = value;
  }
  if (options.bodyLength !== undefined) {
    headers['content-length'] = String(options.bodyLength);
  }
  const client = req.socket?.remoteAddress;
  if (client) {
    const prior = req.headers['x-forwarded-for'];
    headers['x-forwarded-for'] = prior ? `${prior}, ${client}` : client;
  }
  const host = req.headers['x-forwarded-host'] ?? req.headers.host;
  if (host) headers['x-forwarded-host'] = host;
  headers['x-forwarded-proto'] =
    req.headers['x-forwarded-proto'] ??
    ((req.socket as { encrypted?: boolean })?.encrypted ? 'https' : 'http');
  return headers;
}

function responseHeaders(
  headers: Record<string, string | string[] | undefined>,
  keepCookies: boolean,
): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  const named = headers.connection;
  const listed =
    typeof named === 'string'
      ? new Set(named.split(',').map(h => h.trim().toLowerCase()))
      : undefined;
  for (const name of Object.keys(headers)) {
    const value = headers[name];
    if (value === undefined || HOP_BY_HOP.has(name) || listed?.has(name))
      continue;
    if (name === 'set-cookie' && !keepCookies) continue;
    out[name] = value;
  }
  return out;
}

/** The client's side of one proxied request, shared by its attempts. */
interface ClientState {
  gone: boolean;
  /** The attempt under way, to abort when the client goes away. */
  attempt: AttemptHandler | undefined;
}

type RecordOutcome = (
  outcome: 'responded' | 'failed',
  status: number,
  latencyMs: number,
) => void;

const CLIENT_GONE = Object.assign(new Error('The client went away'), {
  name: 'AbortError',
  code: 'UND_ERR_ABORTED',
});

const SHUTTING_DOWN = Object.assign(
  new Error('The proxy is shutting down: its grace period is over'),
  { name: 'AbortError', code: 'UND_ERR_ABORTED' },
);

/** A request the proxy is handling, to end at shutdown if it has not ended by then. */
interface InFlight {
  res: ServerResponse;
  client: ClientState;
}

/** Resolves after `ms`, or at once when `ms` is 0; the timer never holds the process. */
function delay(ms: number): { done: Promise<void>; cancel: () => void } {
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

/** The code of an attempt that `attemptTimeoutMs` ended. */
const ATTEMPT_TIMEOUT = 'ATTEMPT_TIMEOUT';

function attemptTimedOut(timeoutMs: number): Error & { code: string } {
  return Object.assign(
    new Error(`no response headers within ${timeoutMs} ms (attemptTimeoutMs)`),
    { name: 'TimeoutError', code: ATTEMPT_TIMEOUT },
  );
}

/**
 * One attempt's undici dispatch handler: the upstream's response goes
 * straight to `res` (status, headers without hop-by-hop ones, then the body
 * with backpressure both ways), without a stream or promise of undici's in
 * between. `record` sees the outcome once (`responded` with the status and
 * the time to the headers, or `failed` before any response); `settle` sees
 * the end of the attempt once.
 */
class AttemptHandler implements Dispatcher.DispatchHandler {
  readonly #res: ServerResponse;
  readonly #client: ClientState;
  readonly #record: RecordOutcome;
  readonly #settle: (result: Attempt) => void;
  readonly #keepCookies: boolean;
  readonly #startedAt = performance.now();
  #controller: Dispatcher.DispatchController | undefined;
  #responded = false;
  #settled = false;
  #onDrain: (() => void) | undefined;
  #timer: NodeJS.Timeout | undefined;
  /** Set when the attempt timed out before undici handed us its controller. */
  #timedOut: Error | undefined;

  constructor(
    res: ServerResponse,
    client: ClientState,
    record: RecordOutcome,
    settle: (result: Attempt) => void,
    timeoutMs: number | undefined,
    keepCookies: boolean,
  ) {
    this.#keepCookies = keepCookies;
    this.#res = res;
    this.#client = client;
    this.#record = record;
    this.#settle = settle;
    if (timeoutMs !== undefined) {
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        const error = attemptTimedOut(timeoutMs);
        if (this.#controller) this.#controller.abort(error);
        else this.#timedOut = error;
      }, timeoutMs);
    }
  }

  /** The client went away: stop the upstream request. */
  abort(reason: Error) {
    this.#controller?.abort(reason);
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.#controller = controller;
    if (this.#client.gone) controller.abort(CLIENT_GONE);
    else if (this.#timedOut) controller.abort(this.#timedOut);
  }

  onResponseStart(
    controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: Record<string, string | string[] | undefined>,
  ): void {
    if (statusCode < 200) return; // 1xx: informational, not forwarded
    this.#clearTimer();
    this.#responded = true;
    this.#record('responded', statusCode, performance.now() - this.#startedAt);
    const res = this.#res;
    res.writeHead(statusCode, responseHeaders(headers, this.#keepCookies));
    if (res.writableNeedDrain) this.#pause(controller);
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer) {
    if (!this.#res.write(chunk)) this.#pause(controller);
  }

  onResponseEnd(): void {
    this.#unlisten();
    this.#res.end();
    this.#finish({ done: true });
  }

  onResponseError(
    _controller: Dispatcher.DispatchController | undefined,
    error: Error,
  ): void {
    this.#unlisten();
    // A response under way that broke, or a client that went away:
    // nothing more to say to the client.
    if (this.#responded) {
      this.#res.destroy(error);
      this.#finish({ done: true });
    } else if (this.#client.gone) {
      this.#finish({ done: true });
    } else {
      this.#record('failed', 0, performance.now() - this.#startedAt);
      this.#finish({ done: false, error });
    }
  }

  #pause(controller: Dispatcher.DispatchController) {
    controller.pause();
    if (!this.#onDrain) {
      this.#onDrain = () => controller.resume();
      this.#res.on('drain', this.#onDrain);
    }
  }

  #unlisten() {
    if (this.#onDrain) this.#res.off('drain', this.#onDrain);
    this.#onDrain = undefined;
  }

  #clearTimer() {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #finish(result: Attempt) {
    if (this.#settled) return;
    this.#settled = true;
    this.#clearTimer();
    this.#settle(result);
  }
}

/**
 * The data plane of service discovery: forwards a request to an instance
 * that discovery picks, over a keep-alive connection pool per upstream
 * (undici), streaming both bodies.
 *
 * Per request it enforces the instances' connection limits (503 when every
 * instance is full), retries an idempotent request without a body (GET,
 * HEAD, OPTIONS, PUT, DELETE) on another instance when the connection
 * fails before a response or, with `attemptTimeoutMs`, when the response
 * headers do not come in time, never retries anything else (502), and
 * answers 503 naming the service when no instance is left (504 when the
 * last attempt timed out). It records metrics and reports each outcome to
 * discovery for outlier ejection.
 *
 * The Authorization header reaches only the instances a runtime started
 * for a managed plugin (they verify Backstage tokens themselves): a
 * registered service never gets the caller's credentials, whatever
 * `pluginId` it names. Cookie and Set-Cookie pass only for the services in
 * `passCookies`. With `targets`, an upstream outside `allowedTargets` is
 * refused (403) before anything is sent to it.
 *
 * @public
 */
export class ServiceProxy {
  readonly #discovery: ServiceDiscovery;
  readonly #metrics: ProxyMetrics;
  readonly #logger: LoggerService;
  readonly #maxRetries: number;
  readonly #connectTimeoutMs: number;
  readonly #headersTimeoutMs: number;
  readonly #attemptTimeoutMs: number | undefined;
  readonly #bodyTimeoutMs: number;
  readonly #keepAliveTimeoutMs: number;
  readonly #idlePoolMs: number;
  readonly #targets: TargetPolicy | undefined;
  readonly #passCookies: ReadonlySet<string>;
  /** Upstream origin → why it may not be one (cached: the policy is fixed). */
  readonly #refusals = new Map<string, string | undefined>();
  readonly #pools = new Map<string, { pool: Pool; lastUsed: number }>();
  readonly #servers = new Set<Server>();
  readonly #inFlight = new Set<InFlight>();
  /** Called when the last request in flight ends, while a close waits for that. */
  #onIdle: (() => void) | undefined;
  #closing: Promise<void> | undefined;
  /** The grace period is over: requests are refused, pools are gone. */
  #closed = false;
  #sweeper?: NodeJS.Timeout;

  static create(options: ServiceProxyOptions): ServiceProxy {
    return new ServiceProxy(options);
  }

  private constructor(options: ServiceProxyOptions) {
    this.#discovery = options.discovery;
    this.#metrics = options.metrics;
    this.#logger = options.logger;
    this.#maxRetries = options.maxRetries ?? 2;
    this.#connectTimeoutMs = options.connectTimeoutMs ?? 5_000;
    this.#headersTimeoutMs = options.headersTimeoutMs ?? 60_000;
    this.#attemptTimeoutMs = options.attemptTimeoutMs;
    this.#bodyTimeoutMs = options.bodyTimeoutMs ?? 300_000;
    this.#keepAliveTimeoutMs = options.keepAliveTimeoutMs ?? 4_000;
    this.#idlePoolMs = options.idlePoolMs ?? 300_000;
    this.#targets = options.targets;
    this.#passCookies = new Set(options.passCookies ?? []);
    if (!Number.isInteger(this.#maxRetries) || this.#maxRetries < 0) {
      throw new TypeError('maxRetries must be a whole number of at least 0');
    }
    if (
      this.#attemptTimeoutMs !== undefined &&
      !(this.#attemptTimeoutMs > 0 && Number.isFinite(this.#attemptTimeoutMs))
    ) {
      throw new TypeError('attemptTimeoutMs must be a positive number');
    }
  }

  /**
   * Forwards one request to an instance of `serviceName` and writes the
   * response (or an error in Backstage's JSON shape) to `res`. Never
   * throws. Works with Express and with a bare node:http server.
   *
   * @param path - the path on the upstream, with the query string
   */
  async handle(
    req: IncomingMessage,
    res: ServerResponse,
    serviceName: string,
    path: string,
    clientInfo: ClientInfo,
    scope: TenantScope,
    options: ProxyRequestOptions = {},
  ): Promise<void> {
    if (this.#closed) {
      if (hasBody(req)) discardBody(req);
      res.setHeader('connection', 'close');
      sendError(
        req,
        res,
        503,
        'ServiceUnavailableError',
        'The proxy is shutting down',
      );
      return;
    }
    // Draining: the client's next request should go elsewhere.
    if (this.#closing) res.setHeader('connection', 'close');
    const client: ClientState = { gone: false, attempt: undefined };
    const entry: InFlight = { res, client };
    this.#inFlight.add(entry);
    try {
      await this.#handle(
        req,
        res,
        serviceName,
        path,
        clientInfo,
        scope,
        options,
        client,
      );
    } catch (error) {
      this.#logger.error(
        `proxying to service '${serviceName}' failed`,
        error as Error,
      );
      sendError(req, res, 500, 'Error', `Proxying to '${serviceName}' failed`);
    } finally {
      this.#inFlight.delete(entry);
      if (this.#inFlight.size === 0) this.#onIdle?.();
    }
  }

  /**
   * Serves `/proxy/{serviceName}/...` on a listener of its own, without
   * Backstage's middleware (authentication, logging) on the hot path. It
   * has no Backstage authentication: it listens on 127.0.0.1 unless told
   * otherwise, and with `token` every request must present it.
   */
  async startDataPlane(options: DataPlaneOptions = {}): Promise<DataPlane> {
    const { host = '127.0.0.1', token } = options;
    assertDataPlaneExposure({
      host,
      token,
      allowUnauthenticated: options.allowUnauthenticated,
    });
    const scope = options.scope ?? ALL_TENANTS;
    const access = DataPlaneAccess.create({
      token,
      logger: this.#logger,
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
      this.handle(
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
    const plane: DataPlane = {
      port: (server.address() as AddressInfo).port,
      close: async (closeOptions: CloseOptions = {}) => {
        this.#servers.delete(server);
        await closeServer(server, closeOptions.graceMs ?? 0);
      },
    };
    this.#servers.add(server);
    this.#logger.info(
      `Service proxy data plane listening on ${host}:${plane.port}${
        token ? ' (token required)' : ''
      }`,
    );
    return plane;
  }

  /**
   * Closes the data planes and every upstream connection pool. The data
   * planes stop taking connections at once; requests under way (on every
   * listener) get `graceMs` to finish. Then, whatever state their clients
   * and upstreams are in, their client connections are destroyed, their
   * upstream attempts aborted and the pools destroyed, and later requests
   * are answered 503.
   */
  close(options: CloseOptions = {}): Promise<void> {
    this.#closing ??= this.#close(options.graceMs ?? 0);
    return this.#closing;
  }

  async #close(graceMs: number): Promise<void> {
    clearInterval(this.#sweeper);
    this.#sweeper = undefined;
    const servers = [...this.#servers];
    this.#servers.clear();
    const closed = servers.map(s => closeServer(s, graceMs));
    if (this.#inFlight.size > 0) {
      const grace = delay(graceMs);
      const idle = new Promise<void>(resolve => {
        this.#onIdle = resolve;
      });
      await Promise.race([idle, grace.done]);
      grace.cancel();
      this.#onIdle = undefined;
    }
    this.#closed = true;
    if (this.#inFlight.size > 0) {
      this.#logger.warn(
        `Ending ${
          this.#inFlight.size
        } proxied requests still under way after the shutdown grace period (${graceMs} ms)`,
      );
    }
    for (const { res, client } of this.#inFlight) {
      client.gone = true;
      client.attempt?.abort(SHUTTING_DOWN);
      // Its socket with it: a response half written cannot be finished,
      // and the server's close waits for every connection.
      res.destroy();
    }
    await Promise.all(closed);
    const pools = [...this.#pools.values()];
    this.#pools.clear();
    // destroy, not close: close waits for requests an upstream may never answer.
    await Promise.all(
      pools.map(p => p.pool.destroy(SHUTTING_DOWN).catch(() => undefined)),
    );
  }

  async #handle(
    req: IncomingMessage,
    res: ServerResponse,
    serviceName: string,
    rawPath: string,
    clientInfo: ClientInfo,
    scope: TenantScope,
    options: ProxyRequestOptions,
    client: ClientState,
  ) {
    const path = rawPath.startsWith('/') ? rawPath : `/${rawPath}`;
    const method = (req.method ?? 'GET').toUpperCase();
    const { body, length } = bodyOf(req);
    const retryable = IDEMPOTENT.has(method) && body === null;
    const fail = (status: number, name: string, message: string) => {
      if (body === 'stream') discardBody(req);
      sendError(req, res, status, name, message);
    };
    // The client going away (its connection closed before our response
    // ended) aborts the attempt under way.
    res.once('close', () => {
      if (res.writableFinished) return;
      client.gone = true;
      client.attempt?.abort(CLIENT_GONE);
    });

    const tried = new Set<string>();
    let lastError: (Error & { code?: string }) | undefined;
    for (let attempt = 0; attempt <= this.#maxRetries; attempt++) {
      // Gone, or ended by the shutdown: no further attempt (nor a new pool).
      if (client.gone) return;
      let picked: ResolvedService;
      try {
        picked = this.#discovery.pickInstance(serviceName, clientInfo, {
          scope,
          tenant: options.tenant,
          strategy: options.strategy,
          exclude: tried,
        });
        if (picked.protocol !== 'http' && picked.protocol !== 'https') {
          throw new NotImplementedError(
            `Service '${serviceName}' speaks ${picked.protocol}; the proxy forwards HTTP only: resolve it and connect directly`,
          );
        }
      } catch (error) {
        const e = error as Error;
        if (
          lastError &&
          e.name === ServiceUnavailableError.name &&
          errorCode(lastError) === ATTEMPT_TIMEOUT
        ) {
          fail(
            504,
            'Error',
            `Service '${serviceName}' did not answer in time: no other instance to try (tried ${[
              ...tried,
            ].join(', ')}; last error: ${describe(lastError)})`,
          );
        } else if (lastError && e.name === ServiceUnavailableError.name) {
          fail(
            503,
            'ServiceUnavailableError',
            `Service '${serviceName}' is unavailable: no instance could be reached (tried ${[
              ...tried,
            ].join(', ')}; last error: ${describe(lastError)})`,
          );
        } else {
          fail(statusOf(e), e.name, e.message);
        }
        return;
      }
      // A target outside allowedTargets (stored before the rule, or changed
      // since) gets nothing, not even the request line.
      const refused = this.#refusal(picked);
      if (refused) {
        fail(
          403,
          'NotAllowedError',
          `Instance '${picked.serviceId}' of service '${serviceName}' may not be proxied to: ${refused}`,
        );
        return;
      }
      tried.add(picked.serviceId);
      const outcome = await this.#attempt(picked, req, res, {
        method,
        path,
        body,
        length,
        client,
        timeoutMs: retryable ? this.#attemptTimeoutMs : undefined,
      });
      if (outcome.done) return;
      lastError = outcome.error;
      const code = errorCode(lastError);
      if (
        !retryable ||
        !code ||
        !(CONNECTION_FAILURES.has(code) || code === ATTEMPT_TIMEOUT)
      ) {
        if (code === 'ERR_TARGET_NOT_ALLOWED') {
          fail(
            403,
            'NotAllowedError',
            `Instance '${picked.serviceId}' of service '${serviceName}' may not be proxied to: ${lastError.message}`,
          );
          return;
        }
        const timeout =
          code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT';
        fail(
          timeout ? 504 : 502,
          'Error',
          `Instance '${picked.serviceId}' of service '${serviceName}' ${
            timeout ? 'did not answer in time' : 'failed'
          }: ${describe(lastError)}`,
        );
        return;
      }
      this.#logger.debug(
        `${method} to instance '${picked.serviceId}' of '${serviceName}' failed (${code}); trying another instance`,
      );
    }
    const timedOut = errorCode(lastError) === ATTEMPT_TIMEOUT;
    fail(
      timedOut ? 504 : 502,
      'Error',
      `Service '${serviceName}'${
        timedOut ? ' did not answer in time' : ''
      }: every attempt failed (tried ${[...tried].join(
        ', ',
      )}; last error: ${describe(lastError)})`,
    );
  }

  /** One try on one instance; `done` once a response began or the client left. */
  #attempt(
    picked: ResolvedService,
    req: IncomingMessage,
    res: ServerResponse,
    request: {
      method: string;
      path: string;
      body: Buffer | 'stream' | null;
      length?: number;
      client: ClientState;
      /** Per-attempt timeout to the response headers, if any. */
      timeoutMs?: number;
    },
  ): Promise<Attempt> {
    // `picked` has the target's fields; the metrics copy them only when
    // they first see the instance (or its version changed).
    const handle = this.#metrics.target(picked);
    const keepCookies = this.#passCookies.has(picked.serviceName);
    const headers = forwardedHeaders(req, {
      // Only what a runtime started for a managed plugin: a registration's
      // pluginId is the registrant's word.
      keepAuthorization:
        picked.source === 'instance' &&
        this.#discovery.forwardsAuthorization(picked.serviceId),
      keepCookies,
      bodyLength: request.length,
    });
    this.#metrics.started(handle);
    this.#discovery.connectionOpened(picked.serviceId);
    return new Promise<Attempt>(resolve => {
      const attempt = new AttemptHandler(
        res,
        request.client,
        (outcome, status, latencyMs) => {
          if (outcome === 'responded') {
            this.#metrics.responded(handle, status, latencyMs);
            this.#discovery.reportOutcome(picked.serviceId, {
              ok: status < 500,
              status,
              latencyMs,
            });
          } else if (outcome === 'failed') {
            this.#metrics.failed(handle);
            this.#discovery.reportOutcome(picked.serviceId, {
              ok: false,
              latencyMs,
            });
          }
        },
        result => {
          request.client.attempt = undefined;
          this.#metrics.finished(handle);
          this.#discovery.connectionClosed(picked.serviceId);
          resolve(result);
        },
        request.timeoutMs,
        keepCookies,
      );
      request.client.attempt = attempt;
      this.#pool(picked.url, picked.port).dispatch(
        {
          path: request.path,
          method: request.method as Dispatcher.HttpMethod,
          headers,
          // Through a PassThrough: undici destroys a body on error, and
          // destroying the request itself would take the client's socket
          // (and our 502) with it.
          body:
            request.body === 'stream'
              ? req.pipe(new PassThrough())
              : request.body,
          headersTimeout: this.#headersTimeoutMs,
          bodyTimeout: this.#bodyTimeoutMs,
        },
        attempt,
      );
    });
  }

  /** Why an upstream may not be one, for an address; a host name is checked when connecting. */
  #refusal(picked: ResolvedService): string | undefined {
    const targets = this.#targets;
    // Runtimes' instances are where the operator's configuration put them
    // (external endpoints are checked when installed and started).
    if (!targets || picked.source !== 'registered') return undefined;
    if (this.#refusals.has(picked.url)) return this.#refusals.get(picked.url);
    const host = picked.host.replace(/^\[|\]$/g, '');
    const why = isIP(host) ? targets.refusal(host, picked.port) : undefined;
    if (this.#refusals.size > 10_000) this.#refusals.clear();
    this.#refusals.set(picked.url, why);
    return why;
  }

  #pool(origin: string, port: number): Pool {
    const now = Date.now();
    let entry = this.#pools.get(origin);
    if (!entry) {
      entry = {
        pool: new Pool(origin, {
          connect: {
            timeout: this.#connectTimeoutMs,
            // A host name is resolved and checked at each connection.
            ...(this.#targets ? { lookup: this.#targets.lookupFor(port) } : {}),
          },
          keepAliveTimeout: this.#keepAliveTimeoutMs,
          headersTimeout: this.#headersTimeoutMs,
          bodyTimeout: this.#bodyTimeoutMs,
        }),
        lastUsed: now,
      };
      this.#pools.set(origin, entry);
      this.#startSweeper();
    }
    entry.lastUsed = now;
    return entry.pool;
  }

  /** Closes the pools of upstreams nobody asked for in a while. */
  #startSweeper() {
    if (this.#sweeper) return;
    this.#sweeper = setInterval(() => {
      const cutoff = Date.now() - this.#idlePoolMs;
      for (const [origin, entry] of this.#pools) {
        if (entry.lastUsed < cutoff) {
          this.#pools.delete(origin);
          entry.pool.close().catch(() => undefined);
        }
      }
    }, Math.min(this.#idlePoolMs, 60_000));
    this.#sweeper.unref();
  }
}

/**
 * Stops a listener taking connections and closes its idle ones; after
 * `graceMs` the connections still open are destroyed.
 */
async function closeServer(server: Server, graceMs: number): Promise<void> {
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

function describe(error: (Error & { code?: string }) | undefined): string {
  if (!error) return 'unknown';
  const code = errorCode(error);
  return code && code !== ATTEMPT_TIMEOUT && !error.message.includes(code)
    ? `${code} ${error.message}`
    : error.message;
}
