import { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import {
  Context,
  ROOT_CONTEXT,
  Span,
  SpanKind,
  SpanStatusCode,
  context,
  isSpanContextValid,
  propagation,
  trace,
} from '@opentelemetry/api';
import type { ResolvedService } from '@internal/plugin-lifecycle-common';
import { ATTRS, SPANS, markError, tracer } from '../../tracing/tracing';

/**
 * The parent of a proxied request's span: the caller's trace from its
 * `traceparent` (and `tracestate`), or the span active in this process
 * (an HTTP server instrumentation's) when it continues the same trace or
 * the request carries none. Returns whether the parent is in this process.
 */
export function proxyParent(headers: IncomingHttpHeaders): {
  parent: Context;
  local: boolean;
} {
  const active = context.active();
  const span = trace.getSpan(active);
  const activeSpan = span?.spanContext();
  // A remote span context in the active context is a caller's (extracted
  // by the router), not a span of this process; an ended span is a
  // context some timer or listener kept.
  const local =
    span !== undefined &&
    activeSpan !== undefined &&
    isSpanContextValid(activeSpan) &&
    !activeSpan.isRemote &&
    span.isRecording();
  const extracted = propagation.extract(ROOT_CONTEXT, headers);
  const remote = trace.getSpanContext(extracted);
  if (remote && isSpanContextValid(remote)) {
    return local && activeSpan.traceId === remote.traceId
      ? { parent: active, local: true }
      : { parent: extracted, local: false };
  }
  return local
    ? { parent: active, local: true }
    : { parent: ROOT_CONTEXT, local: false };
}

/** The span of one attempt on one instance. */
export class AttemptTrace {
  readonly #span: Span;

  constructor(span: Span) {
    this.#span = span;
  }

  /** The instance answered (its response headers came). */
  responded(status: number) {
    const span = this.#span;
    if (!span.isRecording()) return;
    span.setAttribute(ATTRS.statusCode, status);
    // Client side: a 4xx is an error too (OpenTelemetry's HTTP conventions).
    if (status >= 400) span.setStatus({ code: SpanStatusCode.ERROR });
  }

  /** No response: the connection failed, timed out or was refused. */
  failed(error: Error) {
    markError(this.#span, error);
  }

  end() {
    this.#span.end();
  }
}

/**
 * The spans of one request through the Node data plane: the request's
 * (`plugin-lifecycle.proxy`, SERVER when the caller is another process)
 * and one CLIENT span per attempt (`plugin-lifecycle.proxy.attempt`),
 * whose context goes to the instance as `traceparent`/`tracestate` in
 * place of the caller's, so that the plugin instance continues the trace.
 * Without an SDK the spans are the API's no-op ones and the caller's
 * headers pass as they came.
 */
export class ProxyTrace {
  readonly #span: Span;
  readonly #context: Context;
  #attempts = 0;

  private constructor(span: Span, ctx: Context) {
    this.#span = span;
    this.#context = ctx;
  }

  static start(req: IncomingMessage, serviceName: string): ProxyTrace {
    const { parent, local } = proxyParent(req.headers);
    const span = tracer().startSpan(
      SPANS.proxy,
      {
        kind: local ? SpanKind.INTERNAL : SpanKind.SERVER,
        attributes: {
          [ATTRS.service]: serviceName,
          [ATTRS.method]: req.method ?? 'GET',
        },
      },
      parent,
    );
    return new ProxyTrace(span, trace.setSpan(parent, span));
  }

  /**
   * Starts the span of an attempt on `picked` and writes its context into
   * the headers that go to the instance.
   */
  attempt(
    picked: ResolvedService,
    method: string,
    headers: IncomingHttpHeaders,
  ): AttemptTrace {
    this.#attempts++;
    const span = tracer().startSpan(
      SPANS.proxyAttempt,
      {
        kind: SpanKind.CLIENT,
        attributes: {
          [ATTRS.service]: picked.serviceName,
          [ATTRS.instance]: picked.serviceId,
          ...(picked.version ? { [ATTRS.version]: picked.version } : {}),
          [ATTRS.method]: method,
          [ATTRS.serverAddress]: picked.host,
          [ATTRS.serverPort]: picked.port,
          [ATTRS.proxyAttempt]: this.#attempts,
        },
      },
      this.#context,
    );
    const carrier: Record<string, string> = {};
    propagation.inject(trace.setSpan(this.#context, span), carrier);
    if (Object.keys(carrier).length > 0) {
      // Ours replace the caller's (one traceparent only; a tracestate
      // that the propagator no longer writes must not stay behind).
      for (const field of propagation.fields()) delete headers[field];
      Object.assign(headers, carrier);
    }
    if (span.isRecording()) {
      this.#span.setAttribute(ATTRS.instance, picked.serviceId);
      if (picked.version)
        this.#span.setAttribute(ATTRS.version, picked.version);
    }
    return new AttemptTrace(span);
  }

  /** The request ended with `status` to the client (after every attempt). */
  end(status: number, clientGone: boolean) {
    const span = this.#span;
    if (span.isRecording()) {
      span.setAttribute(ATTRS.statusCode, status);
      span.setAttribute(ATTRS.retries, Math.max(0, this.#attempts - 1));
      if (clientGone) span.setAttribute(ATTRS.clientGone, true);
      // Server side: only a 5xx is the proxy's (or its upstream's) failure.
      if (status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
    }
    span.end();
  }

  /** The proxy itself failed (a bug): the request ends with a 500. */
  fail(error: unknown) {
    markError(this.#span, error);
  }
}
