/**
 * Header names on the wire between callers, the data planes (the Node proxy
 * and nginx) and plugin instances. One list, so both data planes and every
 * client spell them alike.
 */

/**
 * Picks the tenant when a service name exists in several the caller sees.
 *
 * @public
 */
export const TENANT_HEADER = 'x-plugin-lifecycle-tenant';

/**
 * Alternative to `Authorization: Bearer` for the data plane's token, so
 * Authorization reaches the upstream.
 *
 * @public
 */
export const DATA_PLANE_TOKEN_HEADER = 'x-plugin-lifecycle-proxy-token';

/**
 * A sticky key for ip-hash (such as a session id); default the client IP.
 *
 * @public
 */
export const AFFINITY_HEADER = 'x-plugin-lifecycle-affinity';
