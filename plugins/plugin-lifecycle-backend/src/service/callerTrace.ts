import type { NextFunction, Request, Response } from 'express';
import {
  ROOT_CONTEXT,
  context,
  isSpanContextValid,
  propagation,
  trace,
} from '@opentelemetry/api';
import { OPEN_REQUEST } from '../engines/tracing/tracing';

/**
 * Express middleware: a request that carries W3C trace context
 * (`traceparent`) and arrives without a span of this process (no HTTP
 * instrumentation registered) is handled in the caller's trace, so that
 * the operations it queues are spans of that trace. Under an HTTP server
 * instrumentation's span it does nothing: that span already continues the
 * caller's trace. Without an SDK the API's propagator extracts nothing.
 */
export function continueCallerTrace(
  req: Request,
  res: Response,
  next: NextFunction,
) {
  const active = trace.getSpanContext(context.active());
  if (
    (active && isSpanContextValid(active)) ||
    req.headers.traceparent === undefined
  ) {
    next();
    return;
  }
  // Open until the response ends: timers the handler starts keep this
  // context, and what they queue later is not this request's work.
  const request = { open: true };
  res.once('close', () => {
    request.open = false;
  });
  const caller = propagation
    .extract(ROOT_CONTEXT, req.headers)
    .setValue(OPEN_REQUEST, request);
  context.with(caller, next);
}
