import { serviceLoadBalancingStrategySchema } from '@internal/plugin-lifecycle-common';
import { z } from 'zod';
import { isSafeNginxValue } from '../engines/discovery/nginx/nginxConfig';
import {
  DEFAULT_ALLOWED_TARGETS,
  TargetPolicy,
} from '../engines/discovery/TargetPolicy';
import { DEFAULT_RESERVED_SERVICE_NAMES } from '../engines/discovery/ReservedServiceNames';
import { isLoopbackHost } from '../engines/discovery/DataPlaneAccess';
import { durationMs } from './durationMs';

/**
 * `pluginLifecycle.discovery`: service discovery, its load balancer and
 * outlier ejection, the proxy and the data plane; see config.d.ts.
 */
export const discoveryConfigSchema = z
  .object({
    /** Milliseconds between looks for other replicas' changes and running instances. */
    pollInterval: durationMs.default(1_000),
    /** Milliseconds between TTL checks (expiry and deregistration). */
    expireInterval: durationMs.default(1_000),
    /** Milliseconds between full reloads, the safety net under the change feed. */
    resyncInterval: durationMs.default(60_000),
    /** Off: registered services' health checks are not run (they stay as registered). */
    healthChecks: z.boolean().default(true),
    defaultStrategy: serviceLoadBalancingStrategySchema.default('round-robin'),
    /** Below this share of eligible instances, ejected (never unready) ones take traffic again. */
    panicThreshold: z.number().min(0).max(1).default(0.5),
    /** Plugin ids whose `discovery.getBaseUrl` goes through the proxy. Default: the ids under `plugins`. */
    managedPlugins: z.array(z.string().min(1)).optional(),
    /**
     * CIDRs registered services, external endpoints and service probes
     * may point at; link-local, the backend's own port and its database
     * never. Default loopback and private ranges.
     */
    allowedTargets: z
      .array(z.string().min(1))
      .superRefine((cidrs, ctx) => {
        try {
          TargetPolicy.parseCidrs(cidrs);
        } catch (error) {
          ctx.addIssue({
            code: 'custom',
            message: (error as Error).message,
          });
        }
      })
      .default([...DEFAULT_ALLOWED_TARGETS]),
    /** Backstage's own plugin ids, which no registration may take (besides the backend's installed plugins and managed plugins). */
    reservedServiceNames: z
      .array(z.string().min(1))
      .default([...DEFAULT_RESERVED_SERVICE_NAMES]),
    ejection: z
      .object({
        consecutiveFailures: z.number().int().positive().default(5),
        baseEjectionTime: durationMs.default(30_000),
        maxEjectionTime: durationMs.default(300_000),
      })
      .strict()
      .prefault({}),
    proxy: z
      .object({
        /** Further attempts on other instances after a failed connection. */
        maxRetries: z.number().int().min(0).max(10).default(2),
        connectTimeout: durationMs.default(5_000),
        headersTimeout: durationMs.default(60_000),
        /** Per attempt of a retryable request, to the response headers; off when unset. */
        attemptTimeout: durationMs.optional(),
        bodyTimeout: durationMs.default(300_000),
        /** Service names whose upstreams get Cookie and may send Set-Cookie. */
        passCookies: z.array(z.string().min(1)).default([]),
      })
      .strict()
      .prefault({}),
    /** A listener of its own for proxied traffic, without Backstage's middleware. */
    dataPlane: z
      .object({
        port: z.number().int().min(0).max(65535),
        host: z.string().min(1).default('127.0.0.1'),
        /** When set, callers send it as a bearer token. */
        token: z.string().min(16).optional(),
        /** Beyond loopback without a token: anyone who reaches it calls every service. */
        allowUnauthenticated: z.boolean().default(false),
        /** The tenants its callers reach (the token's, or anyone's without one). Default all. */
        tenants: z.array(z.string().min(1)).min(1).optional(),
        /** How other backends reach it, when not host:port. */
        url: z.url().optional(),
        /** node: the ServiceProxy listener; nginx: nginx configured from discovery. */
        engine: z.enum(['node', 'nginx']).default('node'),
        nginx: z
          .object({
            /** Default: /usr/sbin/nginx, /usr/bin/nginx or nginx on the PATH. */
            binary: z.string().min(1).optional(),
            workers: z.number().int().min(1).max(64).default(1),
            /** Configuration, logs and temporary files. Default: a new temporary directory. */
            directory: z.string().min(1).optional(),
          })
          .strict()
          .prefault({}),
      })
      .strict()
      .refine(
        plane =>
          plane.token !== undefined ||
          plane.allowUnauthenticated ||
          isLoopbackHost(plane.host),
        {
          path: ['token'],
          message:
            'is required when the data plane listens beyond loopback (or set dataPlane.allowUnauthenticated: true)',
        },
      )
      .refine(
        plane =>
          plane.engine !== 'nginx' ||
          plane.token === undefined ||
          isSafeNginxValue(plane.token),
        {
          path: ['token'],
          message:
            'with the nginx engine, the token must be letters, digits and _.:@/+=~- only',
        },
      )
      .optional(),
  })
  .strict()
  .prefault({});
