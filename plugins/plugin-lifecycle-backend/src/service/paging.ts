import { InputError } from '@backstage/errors';
import { pageQuerySchema } from '@internal/plugin-lifecycle-common';
import { parseInput } from './routeAccess';

/**
 * The `nextCursor` of a page: the key of its last item, opaque to callers.
 * A page shorter than `limit` is the last one and has none.
 */
export function nextCursor<T>(
  items: T[],
  limit: number,
  keyOf: (item: T) => string | number,
): { nextCursor?: string } {
  if (items.length < limit || items.length === 0) return {};
  const key = keyOf(items[items.length - 1]);
  return {
    nextCursor: Buffer.from(JSON.stringify([key])).toString('base64url'),
  };
}

/** The key in a cursor from {@link nextCursor}; a 400 for anything else. */
export function readCursor(cursor: string, kind: 'string'): string;
export function readCursor(cursor: string, kind: 'number'): number;
export function readCursor(
  cursor: string,
  kind: 'string' | 'number',
): string | number {
  try {
    const key = JSON.parse(Buffer.from(cursor, 'base64url').toString());
    if (
      Array.isArray(key) &&
      key.length === 1 &&
      typeof key[0] === kind &&
      (kind === 'string' || Number.isSafeInteger(key[0]))
    ) {
      return key[0];
    }
  } catch {
    // reported below
  }
  throw new InputError(
    'Invalid query: cursor: not a cursor from an earlier page (use its nextCursor)',
  );
}

/**
 * `limit` (default `defaultLimit`) and the numeric key after which a page
 * of a plugin's history or operations starts, from a request's query.
 */
export function readNumberPage(
  query: unknown,
  defaultLimit: number,
): { limit: number; after?: number } {
  const { limit = defaultLimit, cursor } = parseInput(
    pageQuerySchema,
    query,
    'query',
  );
  return {
    limit,
    after: cursor === undefined ? undefined : readCursor(cursor, 'number'),
  };
}
