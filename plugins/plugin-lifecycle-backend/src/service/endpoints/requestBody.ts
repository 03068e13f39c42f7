import { Request } from 'express';
import { z } from 'zod';
import { parseInput } from '../routeAccess';

/** The Idempotency-Key header, when given, counts as the body's idempotencyKey. */
export function withIdempotencyKey(req: Request, body: unknown) {
  const key = req.header('idempotency-key');
  if (!key || !body || typeof body !== 'object' || Array.isArray(body))
    return body as any;
  return { ...(body as object), idempotencyKey: key };
}

/**
 * A body that is a JSON object, passed on as it is: the facade validates
 * its fields (once). Anything else is refused here with the message the
 * schema gives it, as the facade would.
 */
export function objectBody(
  schema: z.ZodType,
  body: unknown,
  what: string,
): Record<string, unknown> {
  if (body && typeof body === 'object' && !Array.isArray(body)) {
    return body as Record<string, unknown>;
  }
  return parseInput(schema, body, what) as Record<string, unknown>;
}
