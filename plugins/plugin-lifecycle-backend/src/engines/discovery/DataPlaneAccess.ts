import { createHash, timingSafeEqual } from 'node:crypto';
import { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';
import { LoggerService } from '@backstage/backend-plugin-api';
import {
  DATA_PLANE_TOKEN_HEADER,
  TENANT_HEADER,
} from '@internal/plugin-lifecycle-common';
import ipaddr from 'ipaddr.js';

export const DATA_PLANE_TOKEN_KEY = 'pluginLifecycle.discovery.dataPlane.token';
export const DATA_PLANE_ANONYMOUS_KEY =
  'pluginLifecycle.discovery.dataPlane.allowUnauthenticated';

/** Whether a listen address is reachable from this host only. */
export function isLoopbackHost(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '');
  if (/^localhost\.?$/i.test(bare)) return true;
  if (!isIP(bare)) return false;
  return ipaddr.process(bare).range() === 'loopback';
}

/**
 * A data plane may listen beyond loopback only with a token, or when the
 * operator said anonymous callers are fine there; throws naming the keys.
 */
export function assertDataPlaneExposure(options: {
  host: string;
  token?: string;
  allowUnauthenticated?: boolean;
}): void {
  if (
    options.token === undefined &&
    !options.allowUnauthenticated &&
    !isLoopbackHost(options.host)
  ) {
    throw new Error(
      `The data plane would listen on ${options.host} with no token: anyone who reaches it could call every service. Set ${DATA_PLANE_TOKEN_KEY}, listen on loopback, or set ${DATA_PLANE_ANONYMOUS_KEY}: true`,
    );
  }
}

/** Logs at most one warning per interval, counting what it held back. */
export class RateLimitedWarning {
  readonly #logger: LoggerService;
  readonly #intervalMs: number;
  readonly #now: () => number;
  #last = -Infinity;
  #held = 0;

  constructor(logger: LoggerService, intervalMs = 60_000, now = Date.now) {
    this.#logger = logger;
    this.#intervalMs = intervalMs;
    this.#now = now;
  }

  warn(message: string): void {
    const now = this.#now();
    if (now - this.#last < this.#intervalMs) {
      this.#held++;
      return;
    }
    const held = this.#held;
    this.#held = 0;
    this.#last = now;
    this.#logger.warn(
      held > 0
        ? `${message} (and ${held} more since the last warning)`
        : message,
    );
  }
}

/** A request the data plane may serve, and what of it goes upstream. */
export type DataPlaneVerdict =
  | {
      ok: true;
      /** False when the bearer token was the data plane's own. */
      keepAuthorization: boolean;
      tenant?: string;
    }
  | { ok: false; status: number; name: string; message: string };

function digest(value: string) {
  return createHash('sha256').update(value).digest();
}

/**
 * Who may use a data plane listener, and which tenant a request may name.
 *
 * With a token, every request must carry it (`Authorization: Bearer` or
 * {@link DATA_PLANE_TOKEN_HEADER}); its holder may pick a tenant with
 * {@link TENANT_HEADER} within the plane's scope. Without one (loopback, or
 * anonymous allowed by the operator), nobody is authenticated, so nobody may
 * pick a tenant: the header is refused (400) rather than trusted. Refused
 * tokens are logged, at most once a minute.
 */
export class DataPlaneAccess {
  readonly #expected: Buffer | undefined;
  readonly #warning: RateLimitedWarning;

  static create(options: {
    token?: string;
    logger: LoggerService;
    warnIntervalMs?: number;
  }): DataPlaneAccess {
    return new DataPlaneAccess(options);
  }

  private constructor(options: {
    token?: string;
    logger: LoggerService;
    warnIntervalMs?: number;
  }) {
    this.#expected = options.token ? digest(options.token) : undefined;
    this.#warning = new RateLimitedWarning(
      options.logger,
      options.warnIntervalMs,
    );
  }

  check(req: IncomingMessage): DataPlaneVerdict {
    const tenantHeader = req.headers[TENANT_HEADER];
    const tenant = typeof tenantHeader === 'string' ? tenantHeader : undefined;
    if (!this.#expected) {
      if (tenantHeader !== undefined) {
        return {
          ok: false,
          status: 400,
          name: 'InputError',
          message: `The ${TENANT_HEADER} header needs an authenticated caller: this data plane has no token (${DATA_PLANE_TOKEN_KEY}), so its callers reach only what needs no tenant`,
        };
      }
      return { ok: true, keepAuthorization: true };
    }
    const header = req.headers[DATA_PLANE_TOKEN_HEADER];
    const bearer = /^Bearer (.+)$/i.exec(req.headers.authorization ?? '');
    const given = typeof header === 'string' ? header : bearer?.[1];
    if (
      given === undefined ||
      !timingSafeEqual(digest(given), this.#expected)
    ) {
      this.#warning.warn(
        `Data plane request refused: ${
          given === undefined ? 'no token' : 'a wrong token'
        } from ${req.socket?.remoteAddress ?? 'an unknown address'} for ${
          req.method
        } ${(req.url ?? '').slice(0, 200)}`,
      );
      return {
        ok: false,
        status: 401,
        name: 'AuthenticationError',
        message: 'Missing or wrong data plane token',
      };
    }
    // A bearer token that was ours does not go upstream.
    return {
      ok: true,
      keepAuthorization: typeof header === 'string',
      ...(tenant !== undefined ? { tenant } : {}),
    };
  }
}
