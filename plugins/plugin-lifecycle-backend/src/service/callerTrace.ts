import type { NextFunction, Request, Response } from 'express';
import {
  ROOT_CONTEXT,
  context,
  isSpanContextValid,
  propagation,
  trace,
} from '@opentelemetry/api';

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
  _res: Response,
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
  const caller = propagation.extract(ROOT_CONTEXT, req.headers);
  context.with(caller, next);
}
