import { IncomingMessage, ServerResponse } from 'node:http';
import { PassThrough } from 'node:stream';
import { LoggerService } from '@backstage/backend-plugin-api';
import {
  NotImplementedError,
  ServiceUnavailableError,
} from '@backstage/errors';
import { ResolvedService } from '@internal/plugin-lifecycle-common';
import { Dispatcher } from 'undici';
import { ClientInfo } from '../../../domain/loadBalancing';
import { TenantScope } from '../../../domain/tenancy';
import { ProxyMetrics } from '../ProxyMetrics';
import { ServiceDiscovery } from '../ServiceDiscovery';
import {
  Attempt,
  AttemptHandler,
  CLIENT_GONE,
  ClientState,
} from './AttemptHandler';
import {
  ATTEMPT_TIMEOUT,
  CONNECTION_FAILURES,
  IDEMPOTENT,
  bodyOf,
  describe,
  discardBody,
  errorCode,
  forwardedHeaders,
  sendError,
  statusOf,
} from './httpMessages';
import { ProxyRequestOptions } from './proxyTypes';
import { ProxyTrace } from './proxyTracing';
import { UpstreamPools } from './UpstreamPools';

/**
 * One proxied request from start to end: a pick from discovery per attempt
 * (another instance each time), the upstream's allowed-target check, the
 * attempt itself (metrics, connection counts, outcomes for outlier
 * ejection), and retries of idempotent requests without a body after a
 * failed connection or an attempt timeout; the answer when none is left.
 */
export class RequestForwarder {
  readonly #discovery: ServiceDiscovery;
  readonly #metrics: ProxyMetrics;
  readonly #logger: LoggerService;
  readonly #pools: UpstreamPools;
  readonly #maxRetries: number;
  readonly #headersTimeoutMs: number;
  readonly #attemptTimeoutMs: number | undefined;
  readonly #bodyTimeoutMs: number;
  readonly #passCookies: ReadonlySet<string>;

  constructor(options: {
    discovery: ServiceDiscovery;
    metrics: ProxyMetrics;
    logger: LoggerService;
    pools: UpstreamPools;
    maxRetries: number;
    headersTimeoutMs: number;
    attemptTimeoutMs: number | undefined;
    bodyTimeoutMs: number;
    passCookies: ReadonlySet<string>;
  }) {
    this.#discovery = options.discovery;
    this.#metrics = options.metrics;
    this.#logger = options.logger;
    this.#pools = options.pools;
    this.#maxRetries = options.maxRetries;
    this.#headersTimeoutMs = options.headersTimeoutMs;
    this.#attemptTimeoutMs = options.attemptTimeoutMs;
    this.#bodyTimeoutMs = options.bodyTimeoutMs;
    this.#passCookies = options.passCookies;
  }

  /**
   * Forwards the request, retrying as allowed, and answers the client;
   * `client` is shared with the proxy's shutdown, `tracing` has the
   * request's span (each attempt gets one under it).
   */
  async forward(
    req: IncomingMessage,
    res: ServerResponse,
    serviceName: string,
    rawPath: string,
    clientInfo: ClientInfo,
    scope: TenantScope,
    options: ProxyRequestOptions,
    client: ClientState,
    tracing: ProxyTrace,
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
          headers: req.headers,
        });
        if (picked.protocol !== 'http' && picked.protocol !== 'https') {
          throw new NotImplementedError(
            `Service '${serviceName}' speaks ${picked.protocol}; the proxy forwards HTTP only: resolve it and connect directly`,
          );
        }
      } catch (error) {
        const e = error as Error;
        // The service exists but nothing could take the request: its
        // errors count (an unknown name does not: clients choose names).
        if (e.name === ServiceUnavailableError.name) {
          this.#metrics.unrouted(
            serviceName,
            lastError && errorCode(lastError) === ATTEMPT_TIMEOUT ? 504 : 503,
            { tenant: options.tenant },
          );
        }
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
      const refused = this.#pools.refusal(picked);
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
        tracing,
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
      tracing: ProxyTrace;
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
    const span = request.tracing.attempt(picked, request.method, headers);
    this.#metrics.started(handle);
    this.#discovery.connectionOpened(picked.serviceId);
    return new Promise<Attempt>(resolve => {
      const attempt = new AttemptHandler(
        res,
        request.client,
        (outcome, status, latencyMs) => {
          if (outcome === 'responded') {
            span.responded(status);
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
          if (!result.done) span.failed(result.error);
          span.end();
          request.client.attempt = undefined;
          this.#metrics.finished(handle);
          this.#discovery.connectionClosed(picked.serviceId);
          resolve(result);
        },
        request.timeoutMs,
        keepCookies,
      );
      request.client.attempt = attempt;
      this.#pools.pool(picked.url, picked.port).dispatch(
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
}
