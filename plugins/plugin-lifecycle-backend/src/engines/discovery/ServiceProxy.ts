import { IncomingMessage, Server, ServerResponse } from 'node:http';
import { LoggerService } from '@backstage/backend-plugin-api';
import { ClientInfo } from '../../domain/loadBalancing';
import { TenantScope } from '../../domain/tenancy';
import { ClientState, SHUTTING_DOWN } from './proxy/AttemptHandler';
import { closeServer, delay, listenDataPlane } from './proxy/dataPlaneListener';
import { discardBody, hasBody, sendError } from './proxy/httpMessages';
import {
  CloseOptions,
  DataPlane,
  DataPlaneOptions,
  ProxyRequestOptions,
  ServiceProxyOptions,
} from './proxy/proxyTypes';
import { RequestForwarder } from './proxy/RequestForwarder';
import { ProxyTrace } from './proxy/proxyTracing';
import { UpstreamPools } from './proxy/UpstreamPools';

export type {
  CloseOptions,
  DataPlane,
  DataPlaneOptions,
  ProxyRequestOptions,
  ServiceProxyOptions,
} from './proxy/proxyTypes';

/** A request the proxy is handling, to end at shutdown if it has not ended by then. */
interface InFlight {
  res: ServerResponse;
  client: ClientState;
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
 * Each request has a span (`plugin-lifecycle.proxy`, under the caller's
 * `traceparent`) and each attempt a CLIENT span whose context the instance
 * gets as `traceparent`/`tracestate` ({@link ProxyTrace}).
 *
 * The coordinator over its parts: {@link RequestForwarder} (attempts and
 * retries, each an {@link AttemptHandler}), {@link UpstreamPools}
 * (connection pools, allowed targets) and the data plane listener
 * ({@link listenDataPlane}); it owns the requests in flight and shutdown.
 *
 * @public
 */
export class ServiceProxy {
  readonly #logger: LoggerService;
  readonly #pools: UpstreamPools;
  readonly #forwarder: RequestForwarder;
  readonly #servers = new Set<Server>();
  readonly #inFlight = new Set<InFlight>();
  /** Called when the last request in flight ends, while a close waits for that. */
  #onIdle: (() => void) | undefined;
  #closing: Promise<void> | undefined;
  /** The grace period is over: requests are refused, pools are gone. */
  #closed = false;

  static create(options: ServiceProxyOptions): ServiceProxy {
    return new ServiceProxy(options);
  }

  private constructor(options: ServiceProxyOptions) {
    this.#logger = options.logger;
    const maxRetries = options.maxRetries ?? 2;
    const attemptTimeoutMs = options.attemptTimeoutMs;
    const headersTimeoutMs = options.headersTimeoutMs ?? 60_000;
    const bodyTimeoutMs = options.bodyTimeoutMs ?? 300_000;
    if (!Number.isInteger(maxRetries) || maxRetries < 0) {
      throw new TypeError('maxRetries must be a whole number of at least 0');
    }
    if (
      attemptTimeoutMs !== undefined &&
      !(attemptTimeoutMs > 0 && Number.isFinite(attemptTimeoutMs))
    ) {
      throw new TypeError('attemptTimeoutMs must be a positive number');
    }
    this.#pools = new UpstreamPools({
      connectTimeoutMs: options.connectTimeoutMs ?? 5_000,
      headersTimeoutMs,
      bodyTimeoutMs,
      keepAliveTimeoutMs: options.keepAliveTimeoutMs ?? 4_000,
      idlePoolMs: options.idlePoolMs ?? 300_000,
      targets: options.targets,
    });
    this.#forwarder = new RequestForwarder({
      discovery: options.discovery,
      metrics: options.metrics,
      logger: options.logger,
      pools: this.#pools,
      maxRetries,
      headersTimeoutMs,
      attemptTimeoutMs,
      bodyTimeoutMs,
      passCookies: new Set(options.passCookies ?? []),
    });
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
    const tracing = ProxyTrace.start(req, serviceName);
    try {
      await this.#forwarder.forward(
        req,
        res,
        serviceName,
        path,
        clientInfo,
        scope,
        options,
        client,
        tracing,
      );
    } catch (error) {
      tracing.fail(error);
      this.#logger.error(
        `proxying to service '${serviceName}' failed`,
        error as Error,
      );
      sendError(req, res, 500, 'Error', `Proxying to '${serviceName}' failed`);
    } finally {
      tracing.end(res.statusCode, client.gone);
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
    const { server, port } = await listenDataPlane(
      options,
      this.#logger,
      (...args) => this.handle(...args),
    );
    this.#servers.add(server);
    return {
      port,
      close: async (closeOptions: CloseOptions = {}) => {
        this.#servers.delete(server);
        await closeServer(server, closeOptions.graceMs ?? 0);
      },
    };
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
    this.#pools.stopSweeping();
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
    await this.#pools.destroyAll(SHUTTING_DOWN);
  }
}
