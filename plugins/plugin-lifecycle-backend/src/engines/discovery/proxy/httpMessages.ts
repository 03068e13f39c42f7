import {
  IncomingHttpHeaders,
  IncomingMessage,
  OutgoingHttpHeaders,
  ServerResponse,
} from 'node:http';
import {
  DATA_PLANE_TOKEN_HEADER,
  TENANT_HEADER,
} from '@internal/plugin-lifecycle-common';

/**
 * HTTP as the Node data plane speaks it, without state: which headers go
 * upstream and come back, which methods may be retried and which errors
 * mean the upstream never answered, the request body to send, and errors
 * written in Backstage's JSON shape.
 */
export const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE']);

// RFC 9110 §7.6.1, plus headers only this hop may use.
export const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);
const NOT_FORWARDED = new Set([
  ...HOP_BY_HOP,
  'host',
  // undici does not do 100-continue; the body is streamed anyway.
  'expect',
  TENANT_HEADER,
  DATA_PLANE_TOKEN_HEADER,
]);

// A failure to connect, or a connection that closed before the response
// began: the upstream did not answer, so an idempotent request may go to
// another instance.
export const CONNECTION_FAILURES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
]);

export function errorCode(error: unknown): string | undefined {
  const e = error as { code?: string; cause?: { code?: string } };
  return e?.code ?? e?.cause?.code;
}

export function statusOf(error: Error): number {
  switch (error.name) {
    case 'InputError':
      return 400;
    case 'AuthenticationError':
      return 401;
    case 'NotAllowedError':
      return 403;
    case 'NotFoundError':
      return 404;
    case 'ConflictError':
      return 409;
    case 'NotImplementedError':
      return 501;
    case 'ServiceUnavailableError':
      return 503;
    default:
      return 500;
  }
}

/** Writes an error the way Backstage's error handler does. */
export function sendError(
  req: IncomingMessage,
  res: ServerResponse,
  status: number,
  name: string,
  message: string,
) {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = JSON.stringify({
    error: { name, message },
    request: { method: req.method, url: req.url },
    response: { statusCode: status },
  });
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
}

/** Whether the request carries a body (by its framing headers, RFC 9112 §6.3). */
export function hasBody(req: IncomingMessage): boolean {
  if (req.headers['transfer-encoding'] !== undefined) return true;
  const length = req.headers['content-length'];
  return length !== undefined && length !== '0';
}

/**
 * The body to send upstream: nothing, the request stream itself (piped on
 * the one attempt that uses it), or, when Express' body parser already read
 * it, the parsed body serialized again.
 */
export function bodyOf(req: IncomingMessage): {
  body: Buffer | 'stream' | null;
  length?: number;
} {
  const parsed = req as IncomingMessage & { _body?: boolean; body?: unknown };
  if (parsed._body === true) {
    const value = parsed.body;
    const buffer = Buffer.isBuffer(value)
      ? value
      : Buffer.from(typeof value === 'string' ? value : JSON.stringify(value));
    return { body: buffer, length: buffer.length };
  }
  return { body: hasBody(req) ? 'stream' : null };
}

/** Throws away what is left of a request body, so its connection can carry the next request. */
export function discardBody(req: IncomingMessage) {
  req.unpipe();
  if (!req.readableEnded) req.resume();
}

export function forwardedHeaders(
  req: IncomingMessage,
  options: {
    keepAuthorization: boolean;
    keepCookies: boolean;
    bodyLength?: number;
  },
): IncomingHttpHeaders {
  const headers: IncomingHttpHeaders = {};
  const named = req.headers.connection;
  const listed = named
    ? new Set(named.split(',').map(h => h.trim().toLowerCase()))
    : undefined;
  const incoming = req.headers;
  // Object.keys, not Object.entries: no array of pairs per request.
  for (const name of Object.keys(incoming)) {
    const value = incoming[name];
    if (value === undefined || NOT_FORWARDED.has(name)) continue;
    if (listed?.has(name)) continue;
    if (name === 'authorization' && !options.keepAuthorization) continue;
    if (name === 'cookie' && !options.keepCookies) continue;
    headers[name] = value;
  }
  if (options.bodyLength !== undefined) {
    headers['content-length'] = String(options.bodyLength);
  }
  const client = req.socket?.remoteAddress;
  if (client) {
    const prior = req.headers['x-forwarded-for'];
    headers['x-forwarded-for'] = prior ? `${prior}, ${client}` : client;
  }
  const host = req.headers['x-forwarded-host'] ?? req.headers.host;
  if (host) headers['x-forwarded-host'] = host;
  headers['x-forwarded-proto'] =
    req.headers['x-forwarded-proto'] ??
    ((req.socket as { encrypted?: boolean })?.encrypted ? 'https' : 'http');
  return headers;
}

export function responseHeaders(
  headers: Record<string, string | string[] | undefined>,
  keepCookies: boolean,
): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  const named = headers.connection;
  const listed =
    typeof named === 'string'
      ? new Set(named.split(',').map(h => h.trim().toLowerCase()))
      : undefined;
  for (const name of Object.keys(headers)) {
    const value = headers[name];
    if (value === undefined || HOP_BY_HOP.has(name) || listed?.has(name))
      continue;
    if (name === 'set-cookie' && !keepCookies) continue;
    out[name] = value;
  }
  return out;
}

/** The code of an attempt that `attemptTimeoutMs` ended. */
export const ATTEMPT_TIMEOUT = 'ATTEMPT_TIMEOUT';

export function attemptTimedOut(timeoutMs: number): Error & { code: string } {
  return Object.assign(
    new Error(`no response headers within ${timeoutMs} ms (attemptTimeoutMs)`),
    { name: 'TimeoutError', code: ATTEMPT_TIMEOUT },
  );
}

export function describe(
  error: (Error & { code?: string }) | undefined,
): string {
  if (!error) return 'unknown';
  const code = errorCode(error);
  return code && code !== ATTEMPT_TIMEOUT && !error.message.includes(code)
    ? `${code} ${error.message}`
    : error.message;
}
