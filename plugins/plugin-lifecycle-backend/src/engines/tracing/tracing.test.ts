import {
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  context,
  trace,
} from '@opentelemetry/api';
import { TestTracing, installTestTracing } from '../../__testUtils__/tracing';
import { proxyParent } from '../discovery/proxy/proxyTracing';
import {
  contextFromCarrier,
  inSpan,
  traceCarrier,
  traceEnvironment,
  tracer,
} from './tracing';

const TRACEPARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

describe('tracing without an SDK', () => {
  it('runs work in no-op spans and propagates nothing', async () => {
    const result = await inSpan('x', {}, async span => {
      expect(span.isRecording()).toBe(false);
      expect(traceCarrier()).toBeUndefined();
      expect(traceEnvironment()).toEqual({});
      return 42;
    });
    expect(result).toBe(42);
    expect(proxyParent({ traceparent: TRACEPARENT })).toEqual({
      parent: ROOT_CONTEXT,
      local: false,
    });
  });
});

describe('tracing with an SDK', () => {
  let tracing: TestTracing;
  beforeAll(() => {
    tracing = installTestTracing();
  });
  afterEach(() => tracing.reset());
  afterAll(() => tracing.uninstall());

  it('ends spans, and marks a throw as an error with its exception', async () => {
    await inSpan('ok', { attributes: { a: 1 } }, async () => undefined);
    await expect(
      inSpan('broken', {}, async () => {
        throw new TypeError('nope');
      }),
    ).rejects.toThrow('nope');
    const [ok, broken] = tracing.spans();
    expect(ok).toMatchObject({ name: 'ok', attributes: { a: 1 } });
    expect(ok.status.code).toBe(SpanStatusCode.UNSET);
    expect(broken.status).toEqual({
      code: SpanStatusCode.ERROR,
      message: 'nope',
    });
    expect(broken.attributes['error.type']).toBe('TypeError');
    expect(broken.events.map(e => e.name)).toEqual(['exception']);
  });

  it('round-trips a context through a stored carrier, and into TRACEPARENT', async () => {
    await inSpan('origin', {}, async span => {
      const carrier = traceCarrier()!;
      const { traceId, spanId } = span.spanContext();
      expect(carrier.traceparent).toBe(`00-${traceId}-${spanId}-01`);
      expect(traceEnvironment()).toEqual({ TRACEPARENT: carrier.traceparent });
      const restored = trace.getSpanContext(contextFromCarrier(carrier))!;
      expect(restored).toMatchObject({ traceId, spanId, isRemote: true });
    });
    expect(contextFromCarrier(undefined)).toBe(ROOT_CONTEXT);
  });

  it('takes the parent it is given over the active context', async () => {
    const parent = contextFromCarrier({ traceparent: TRACEPARENT });
    await inSpan('outer', {}, () =>
      inSpan('inner', { parent, kind: SpanKind.CLIENT }, async () => undefined),
    );
    const inner = tracing.spans('inner')[0];
    expect(inner.spanContext().traceId).toBe(
      '4bf92f3577b34da6a3ce929d0e0e4736',
    );
    expect(inner.parentSpanContext?.spanId).toBe('00f067aa0ba902b7');
    expect(inner.kind).toBe(SpanKind.CLIENT);
  });

  describe('proxyParent', () => {
    it('continues the caller’s traceparent as a remote parent', () => {
      const { parent, local } = proxyParent({ traceparent: TRACEPARENT });
      expect(local).toBe(false);
      expect(trace.getSpanContext(parent)).toMatchObject({
        spanId: '00f067aa0ba902b7',
        isRemote: true,
      });
    });

    it('starts a trace when there is neither a caller’s nor a local span', () => {
      expect(proxyParent({})).toEqual({ parent: ROOT_CONTEXT, local: false });
      // Nor from a caller's context the router made active (remote).
      const caller = contextFromCarrier({ traceparent: TRACEPARENT });
      context.with(caller, () => {
        expect(proxyParent({ traceparent: TRACEPARENT }).local).toBe(false);
      });
    });

    it('stays under a local span of the same trace (an HTTP instrumentation’s), or of none', () => {
      const caller = contextFromCarrier({ traceparent: TRACEPARENT });
      const server = tracer().startSpan('server', {}, caller);
      const active = trace.setSpan(caller, server);
      context.with(active, () => {
        expect(proxyParent({ traceparent: TRACEPARENT })).toEqual({
          parent: active,
          local: true,
        });
        // A traceparent of another trace wins over an unrelated local span.
        const other = '00-11111111111111111111111111111111-2222222222222222-01';
        expect(proxyParent({ traceparent: other }).local).toBe(false);
        expect(proxyParent({})).toEqual({ parent: active, local: true });
      });
      server.end();
    });
  });
});
