import { ResponseError } from '@backstage/errors';

/**
 * The message of an error for display: for an error response of the API, the
 * reason the backend gave (why it refused: a 409 names the current state or
 * phase) with the status, rather than just the status.
 */
export function describeError(error: Error): string {
  if (ResponseError.is(error)) {
    const reason = error.body?.error?.message;
    if (reason) {
      return `${reason} (${error.statusCode} ${error.statusText})`;
    }
  }
  return error.message;
}
