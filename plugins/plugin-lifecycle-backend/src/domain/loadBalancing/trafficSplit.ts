/**
 * A service's traffic split between its version subsets as a deployment
 * sets it: weights per subset, and optionally a header or cookie match that
 * sends the requests carrying it to one subset (A/B testing, or a preview
 * of the new version for those who ask). Pure: no I/O.
 */

/** A header or cookie with an exact (case-sensitive) value. @public */
export interface NameValue {
  name: string;
  value: string;
}

/**
 * Requests that carry `header` (or `cookie`) with exactly this value go to
 * `subset`; one of the two is given.
 *
 * @public
 */
export interface SubsetMatch {
  /** The subset key (`track/version`) matching requests go to. */
  subset: string;
  header?: NameValue;
  cookie?: NameValue;
}

/**
 * How a service's traffic is split: requests matching `match` go to
 * `match.subset`, every other request to a subset by `weights` (subset key
 * to a whole-number share; subsets not named get nothing).
 *
 * @public
 */
export interface TrafficSplit {
  weights: Record<string, number>;
  match?: SubsetMatch;
}

/** Request headers as node:http gives them: lower-case names. @public */
export type RequestHeaders = Readonly<
  Record<string, string | string[] | undefined>
>;

function headerValues(
  headers: RequestHeaders,
  name: string,
): string | undefined {
  const value = headers[name.toLowerCase()];
  return Array.isArray(value) ? value.join(', ') : value;
}

/** Whether a `Cookie` header holds the cookie `name=value` (any of its pairs). */
export function hasCookie(
  cookieHeader: string | undefined,
  cookie: NameValue,
): boolean {
  if (!cookieHeader) return false;
  for (const pair of cookieHeader.split(';')) {
    const at = pair.indexOf('=');
    if (at < 0) continue;
    if (
      pair.slice(0, at).trim() === cookie.name &&
      pair.slice(at + 1).trim() === cookie.value
    ) {
      return true;
    }
  }
  return false;
}

/**
 * Whether a request matches: its header of that name has exactly that value
 * (several headers of the name are joined with `, `, as node:http and nginx
 * do), or its `Cookie` header holds the cookie with exactly that value.
 */
export function matchesRequest(
  match: SubsetMatch,
  headers: RequestHeaders | undefined,
): boolean {
  if (!headers) return false;
  if (match.header) {
    return headerValues(headers, match.header.name) === match.header.value;
  }
  if (match.cookie) {
    return hasCookie(headerValues(headers, 'cookie'), match.cookie);
  }
  return false;
}
