import {
  Attributes,
  Context,
  ROOT_CONTEXT,
  Span,
  SpanKind,
  SpanStatusCode,
  Tracer,
  TracerProvider,
  context,
  createContextKey,
  isSpanContextValid,
  propagation,
  trace,
} from '@opentelemetry/api';

/**
 * The instrumentation scope of every span of this plugin: the name
 * Backstage's TracingService gives a plugin's tracer
 * (`backstage-plugin-{pluginId}`).
 */
export const TRACER_NAME = 'backstage-plugin-plugin-lifecycle';

/** The names of the spans this plugin emits. */
export const SPANS = {
  /** One attempt of a queued operation (install, start, update, ...). */
  operation: 'plugin-lifecycle.operation',
  /** A deployment handed over by its update operation: its steps' parent. */
  deployment: 'plugin-lifecycle.deployment',
  /** One execution of one deployment step (a step that waits runs again later). */
  deploymentStep: 'plugin-lifecycle.deployment.step',
  /** One attempt to roll a deployment back. */
  deploymentRollback: 'plugin-lifecycle.deployment.rollback',
  /** One request through the Node data plane (SERVER, or INTERNAL under a caller's span). */
  proxy: 'plugin-lifecycle.proxy',
  /** One attempt of a proxied request on one instance (CLIENT: the instance's parent). */
  proxyAttempt: 'plugin-lifecycle.proxy.attempt',
} as const;

/** The attribute names of those spans (OpenTelemetry's own where one fits). */
export const ATTRS = {
  pluginId: 'plugin_lifecycle.plugin.id',
  tenant: 'plugin_lifecycle.tenant',
  operationId: 'plugin_lifecycle.operation.id',
  operationType: 'plugin_lifecycle.operation.type',
  attempt: 'plugin_lifecycle.operation.attempt',
  maxAttempts: 'plugin_lifecycle.operation.max_attempts',
  batchId: 'plugin_lifecycle.operation.batch_id',
  /** succeeded | failed | retrying | aborted | lost */
  outcome: 'plugin_lifecycle.outcome',
  deploymentId: 'plugin_lifecycle.deployment.id',
  strategy: 'plugin_lifecycle.deployment.strategy',
  fromVersion: 'plugin_lifecycle.deployment.from_version',
  toVersion: 'plugin_lifecycle.deployment.to_version',
  stepIndex: 'plugin_lifecycle.deployment.step.index',
  stepKind: 'plugin_lifecycle.deployment.step.kind',
  service: 'plugin_lifecycle.service.name',
  version: 'plugin_lifecycle.service.version',
  instance: 'plugin_lifecycle.instance.id',
  proxyAttempt: 'plugin_lifecycle.proxy.attempt',
  retries: 'plugin_lifecycle.proxy.retries',
  clientGone: 'plugin_lifecycle.proxy.client_gone',
  method: 'http.request.method',
  statusCode: 'http.response.status_code',
  serverAddress: 'server.address',
  serverPort: 'server.port',
  errorType: 'error.type',
} as const;

let cached: { provider: TracerProvider; tracer: Tracer } | undefined;

/**
 * This plugin's tracer from the global tracer provider: the API's no-op one
 * (spans cost next to nothing) until an SDK registers a provider. Looked up
 * again when the provider changes (tests register one of their own).
 */
export function tracer(): Tracer {
  const provider = trace.getTracerProvider();
  if (cached?.provider !== provider) {
    cached = { provider, tracer: provider.getTracer(TRACER_NAME) };
  }
  return cached.tracer;
}

/**
 * Runs `fn` in a new active span, ended when `fn` settles; a throw records
 * the exception and marks the span as an error (unless `fn` set a status).
 * `parent` replaces the active context as the span's parent.
 */
export async function inSpan<T>(
  name: string,
  options: { attributes?: Attributes; kind?: SpanKind; parent?: Context },
  fn: (span: Span) => Promise<T>,
): Promise<T> {
  const parent = options.parent ?? context.active();
  return tracer().startActiveSpan(
    name,
    { kind: options.kind ?? SpanKind.INTERNAL, attributes: options.attributes },
    parent,
    async span => {
      try {
        return await fn(span);
      } catch (error) {
        markError(span, error);
        throw error;
      } finally {
        span.end();
      }
    },
  );
}

/** Records `error` on `span` and sets its status to ERROR. */
export function markError(span: Span, error: unknown, message?: string) {
  if (!span.isRecording()) return;
  const e = error instanceof Error ? error : new Error(String(error));
  span.recordException(e);
  span.setAttribute(ATTRS.errorType, e.name || 'Error');
  span.setStatus({ code: SpanStatusCode.ERROR, message: message ?? e.message });
}

/**
 * The propagation fields (`traceparent`, `tracestate`, ... as the
 * registered propagator writes them) of a context: what to store with work
 * that goes on later, elsewhere (a deployment's steps), or to hand to a
 * process. Undefined when there is nothing to propagate (no SDK, no span).
 */
export function traceCarrier(
  ctx: Context = context.active(),
): Record<string, string> | undefined {
  const carrier: Record<string, string> = {};
  propagation.inject(ctx, carrier);
  return Object.keys(carrier).length > 0 ? carrier : undefined;
}

/** The context a stored {@link traceCarrier} describes (the root context without one). */
export function contextFromCarrier(
  carrier: Record<string, string> | undefined,
): Context {
  if (!carrier) return ROOT_CONTEXT;
  return propagation.extract(ROOT_CONTEXT, carrier);
}

/**
 * W3C trace context as environment variables (`TRACEPARENT`,
 * `TRACESTATE`), as OpenTelemetry specifies them for processes: a plugin
 * instance started inside an operation may continue its trace.
 */
export function traceEnvironment(
  ctx: Context = context.active(),
): Record<string, string> {
  const env: Record<string, string> = {};
  const carrier = traceCarrier(ctx);
  if (carrier?.traceparent) {
    env.TRACEPARENT = carrier.traceparent;
    if (carrier.tracestate) env.TRACESTATE = carrier.tracestate;
  }
  return env;
}

/**
 * Marks a context as a request's that is still open (`open` turns false
 * when it ends): a caller's trace continued by the router has no span of
 * ours to say so.
 */
export const OPEN_REQUEST = createContextKey('plugin-lifecycle.open-request');

/**
 * Whether the span of `ctx` is still under way: a span of this process
 * that has not ended, or a caller's (remote) one whose request is open.
 * A timer or listener created during an operation or a request keeps its
 * context long after; work it starts then is not part of that trace.
 */
export function isLiveTrace(ctx: Context = context.active()): boolean {
  const span = trace.getSpan(ctx);
  if (!span || !isSpanContextValid(span.spanContext())) return false;
  if (span.isRecording()) return true;
  const request = ctx.getValue(OPEN_REQUEST) as { open: boolean } | undefined;
  return request?.open === true;
}
