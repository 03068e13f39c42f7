import { ROOT_CONTEXT, defaultTextMapGetter, trace } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { TestTracing, installTestTracing } from '../../__testUtils__/tracing';
import { OPEN_REQUEST, tracer } from '../tracing/tracing';
import { TraceOrigins } from './traceOrigins';

/** A caller's context (a remote span) with ids made of `n`. */
const remote = (n: number) =>
  new W3CTraceContextPropagator().extract(
    ROOT_CONTEXT,
    {
      traceparent: `00-${String(n).padStart(32, '0')}-${String(n).padStart(
        16,
        '0',
      )}-01`,
    },
    defaultTextMapGetter,
  );

/** A caller's context as the router continues it, for a request that is open. */
const openRequest = (n: number) =>
  remote(n).setValue(OPEN_REQUEST, { open: true });

describe('TraceOrigins', () => {
  let tracing: TestTracing;
  beforeAll(() => {
    tracing = installTestTracing();
  });
  afterAll(() => tracing.uninstall());

  it('keeps nothing for a context without a span', () => {
    const origins = new TraceOrigins();
    origins.remember(['op-1'], ROOT_CONTEXT);
    expect(origins.get('op-1')).toBeUndefined();
    expect(origins.size).toBe(0);
  });

  it('keeps the origin of each operation until it is forgotten', () => {
    const origins = new TraceOrigins();
    const origin = openRequest(1);
    origins.remember(['op-1', 'op-2'], origin);
    expect(origins.get('op-1')).toBe(origin);
    expect(trace.getSpanContext(origins.get('op-2')!)?.spanId).toBe(
      '0000000000000001',
    );
    origins.forget('op-1');
    expect(origins.get('op-1')).toBeUndefined();
    expect(origins.size).toBe(1);
  });

  it('keeps only live origins: a span under way, or a caller’s request still open', () => {
    const origins = new TraceOrigins();
    const span = tracer().startSpan('caller');
    const live = trace.setSpan(ROOT_CONTEXT, span);
    origins.remember(['under-way'], live);
    span.end();
    // What a timer started during that span enqueues later.
    origins.remember(['after-it-ended'], live);
    // A caller's context without an open request (kept by some timer).
    origins.remember(['stale-remote'], remote(2));
    const request = { open: true };
    const caller = remote(3).setValue(OPEN_REQUEST, request);
    origins.remember(['open'], caller);
    request.open = false;
    origins.remember(['closed'], caller);
    expect(
      ['under-way', 'after-it-ended', 'stale-remote', 'open', 'closed'].map(
        id => origins.get(id) !== undefined,
      ),
    ).toEqual([true, false, false, true, false]);
  });

  it('drops the oldest beyond its limit (operations another replica finished)', () => {
    const origins = new TraceOrigins(2);
    origins.remember(['a'], openRequest(1));
    origins.remember(['b'], openRequest(2));
    origins.remember(['c'], openRequest(3));
    expect(origins.get('a')).toBeUndefined();
    expect(origins.get('b')).toBeDefined();
    expect(origins.get('c')).toBeDefined();
    expect(origins.size).toBe(2);
  });
});
