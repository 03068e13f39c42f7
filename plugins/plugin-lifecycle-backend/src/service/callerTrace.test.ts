import { context, trace } from '@opentelemetry/api';
import express from 'express';
import request from 'supertest';
import { TestTracing, installTestTracing } from '../__testUtils__/tracing';
import { OPEN_REQUEST, tracer } from '../engines/tracing/tracing';
import { continueCallerTrace } from './callerTrace';

const TRACEPARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

/** An app that answers with the span context active in its handler (after an await). */
function app(before?: express.RequestHandler) {
  const a = express();
  if (before) a.use(before);
  a.use(continueCallerTrace);
  a.get('/', async (_req, res) => {
    await new Promise(r => setTimeout(r, 1));
    res.json(trace.getSpanContext(context.active()) ?? null);
  });
  return a;
}

describe('continueCallerTrace', () => {
  let tracing: TestTracing;
  beforeAll(() => {
    tracing = installTestTracing();
  });
  afterAll(() => tracing.uninstall());

  it('handles a request in the trace its traceparent names', async () => {
    const res = await request(app()).get('/').set('traceparent', TRACEPARENT);
    expect(res.body).toMatchObject({
      traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
      spanId: '00f067aa0ba902b7',
      isRemote: true,
    });
  });

  it('marks the caller’s context open until the response ends', async () => {
    let seen: { open: boolean } | undefined;
    const a = express();
    a.use(continueCallerTrace);
    a.get('/', (_req, res) => {
      seen = context.active().getValue(OPEN_REQUEST) as { open: boolean };
      expect(seen.open).toBe(true);
      res.json({});
    });
    await request(a).get('/').set('traceparent', TRACEPARENT);
    await new Promise(r => setTimeout(r, 10));
    expect(seen).toEqual({ open: false });
  });

  it('leaves a request without one, or under a span of this process, as it is', async () => {
    expect((await request(app()).get('/')).body).toBeNull();
    const server = tracer().startSpan('http server');
    const instrumented = app((_req, _res, next) =>
      context.with(trace.setSpan(context.active(), server), next),
    );
    const res = await request(instrumented)
      .get('/')
      .set('traceparent', TRACEPARENT);
    expect(res.body.spanId).toBe(server.spanContext().spanId);
    server.end();
  });
});
