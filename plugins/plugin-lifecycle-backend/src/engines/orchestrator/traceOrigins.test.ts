import { ROOT_CONTEXT, defaultTextMapGetter, trace } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { TraceOrigins } from './traceOrigins';

/** A caller's context (a remote span) with ids made of `n`. */
const traced = (n: number) =>
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

describe('TraceOrigins', () => {
  it('keeps nothing for a context without a span', () => {
    const origins = new TraceOrigins();
    origins.remember(['op-1'], ROOT_CONTEXT);
    expect(origins.get('op-1')).toBeUndefined();
    expect(origins.size).toBe(0);
  });

  it('keeps the origin of each operation until it is forgotten', () => {
    const origins = new TraceOrigins();
    const origin = traced(1);
    origins.remember(['op-1', 'op-2'], origin);
    expect(origins.get('op-1')).toBe(origin);
    expect(trace.getSpanContext(origins.get('op-2')!)?.spanId).toBe(
      '0000000000000001',
    );
    origins.forget('op-1');
    expect(origins.get('op-1')).toBeUndefined();
    expect(origins.size).toBe(1);
  });

  it('drops the oldest beyond its limit (operations another replica finished)', () => {
    const origins = new TraceOrigins(2);
    origins.remember(['a'], traced(1));
    origins.remember(['b'], traced(2));
    origins.remember(['c'], traced(3));
    expect(origins.get('a')).toBeUndefined();
    expect(origins.get('b')).toBeDefined();
    expect(origins.get('c')).toBeDefined();
    expect(origins.size).toBe(2);
  });
});
