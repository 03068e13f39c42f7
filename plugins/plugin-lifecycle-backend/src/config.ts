import { Config } from '@backstage/config';
import {
  Artifact,
  artifactSchema,
  serviceLoadBalancingStrategySchema,
  versionSchema,
} from '@internal/plugin-lifecycle-common';
import { z } from 'zod';
import { parseNpmSpec } from './engines/runtime/artifactInstall';
import { isSafeNginxValue } from './engines/discovery/nginx/nginxConfig';
import { ExecProbePolicy } from './engines/health/execProbePolicy';
import {
  DEFAULT_ALLOWED_TARGETS,
  TargetPolicy,
} from './engines/discovery/TargetPolicy';
import { DEFAULT_RESERVED_SERVICE_NAMES } from './engines/discovery/ReservedServiceNames';
import { isLoopbackHost } from './engines/discovery/DataPlaneAccess';
import { mapDesignConfiguration } from './designConfiguration';

const durationMs = z.number().int().positive();

/** What replaces an instance that crashed (see domain/orchestration/restartPolicy). */
// A name useradd takes (and getent finds): lowercase, at most 32 characters.
const userName = z
  .string()
  .regex(/^[a-z_][a-z0-9_-]{0,31}$/, 'must be a Unix user name');

/** Which users plugin processes run as; see config.d.ts. */
const isolationSchema = z
  .object({
    // Unset: per-plugin-user when the backend runs as root, else none.
    mode: z.enum(['per-plugin-user', 'shared-user', 'none']).optional(),
    userPrefix: z
      .string()
      .regex(
        /^[a-z_][a-z0-9_-]{0,15}$/,
        'must start a Unix user name (at most 16 characters)',
      )
      .default('pl-'),
    sharedUser: userName.optional(),
    probeUser: userName.optional(),
    users: z.record(z.string(), userName).default({}),
    createUsers: z.boolean().default(true),
  })
  .strict()
  .prefault({});

const restartPolicySchema = z
  .object({
    backoffBase: durationMs.default(1_000),
    backoffMax: durationMs.default(60_000),
    maxRestarts: z.number().int().min(0).default(5),
    window: durationMs.default(600_000),
  })
  .strict();

/** A plugin's own restart policy: only the keys it sets (no defaults, which would hide the global ones). */
const restartPolicyOverrideSchema = z
  .object({
    backoffBase: durationMs.optional(),
    backoffMax: durationMs.optional(),
    maxRestarts: z.number().int().min(0).optional(),
    window: durationMs.optional(),
  })
  .strict();

// npm's own rules for the package name (and the version, when given), so a
// typo stops the backend at start rather than failing an install.
function checkNpmArtifact(artifact: Artifact, ctx: z.RefinementCtx) {
  if (artifact.type !== 'npm') return;
  try {
    parseNpmSpec(artifact.package, artifact.version ?? 'latest');
  } catch (error) {
    ctx.addIssue({ code: 'custom', message: (error as Error).message });
  }
}

const configSchema = z
  .object({
    dataDir: z.string().min(1).default('./data/plugin-lifecycle'),
    defaultTenant: z.string().min(1).default('default'),
    defaultRuntime: z.string().min(1).default('process'),
    defaultEnvironment: z.string().min(1).default('production'),
    // Artifact types an install request may carry. A command or a tarball
    // path runs code from the backend's machine, and an npm package runs
    // whatever its author wrote, so only configured plugins may use them
    // unless a platform team opts in (an image runs whatever its author
    // built, on the cluster).
    requestArtifactTypes: z
      .array(z.enum(['npm', 'tarball', 'command', 'external', 'image']))
      .default(['external']),
    // Long-polls and event streams each hold a socket for up to minutes:
    // capped per caller and in all, per replica.
    heldRequests: z
      .object({
        maxPerCaller: z.number().int().min(1).default(20),
        maxTotal: z.number().int().min(1).default(1_000),
      })
      .strict()
      .prefault({}),
    // The in-memory history per plugin version behind
    // GET /plugins/{id}/metrics/versions: retention / sampleInterval points
    // per version, at most maxSeries versions, per replica.
    metrics: z
      .object({
        // Whether the plugin's metrics go to Backstage's MetricsService
        // (OpenTelemetry; the design's globalSettings.enableMetrics): the
        // backend's SDK exports them (e.g. for Prometheus to scrape).
        export: z.boolean().default(true),
        versionHistory: z
          .object({
            sampleInterval: durationMs.min(100).default(5_000),
            retention: durationMs.default(1_800_000),
            maxSeries: z.number().int().min(1).default(200),
          })
          .strict()
          .refine(h => h.retention >= h.sampleInterval, {
            message: 'retention must be at least one sampleInterval',
          })
          .prefault({}),
      })
      .strict()
      .prefault({}),
    orchestrator: z
      .object({
        maxConcurrentOperations: z.number().int().positive().default(10),
        defaultTimeout: durationMs.default(300_000),
        enableAutoRecovery: z.boolean().default(true),
        /** Attempts per operation, the first included, for transient failures. */
        maxAttempts: z.number().int().min(1).max(20).default(3),
        retryBaseDelay: durationMs.default(1_000),
        retryMaxDelay: durationMs.default(60_000),
        leaseDuration: durationMs.default(15_000),
        pollInterval: durationMs.default(250),
        reconcileInterval: durationMs.default(10_000),
        circuitBreaker: z
          .object({
            failureThreshold: z.number().int().positive().default(5),
            coolDown: durationMs.default(60_000),
          })
          .strict()
          .default({ failureThreshold: 5, coolDown: 60_000 }),
      })
      .strict()
      .prefault({}),
    tenancy: z
      .object({
        /** Off: every plugin is in defaultTenant and every caller sees all. */
        enabled: z.boolean().default(false),
        /** Entity refs (users or groups) that see and manage every tenant. */
        admins: z.array(z.string().min(1)).default([]),
        /**
         * What one instance counts against its tenant's CPU and memory quota
         * (plugins.<id>.resources overrides it); a manifest may ask for less,
         * never more.
         */
        instanceResources: z
          .object({
            cpu: z.string().min(1).optional(),
            memory: z.string().min(1).optional(),
          })
          .strict()
          .optional(),
        tenants: z
          .record(
            z
              .string()
              .regex(/^[a-z0-9][a-z0-9-]*$/, 'tenant ids are lowercase slugs'),
            z
              .object({
                /** Entity refs (users or groups) whose members belong to the tenant. */
                members: z.array(z.string().min(1)).default([]),
                quota: z
                  .object({
                    maxPlugins: z.number().int().min(0).optional(),
                    maxInstances: z.number().int().min(0).optional(),
                    maxCpu: z.string().min(1).optional(),
                    maxMemory: z.string().min(1).optional(),
                  })
                  .strict()
                  .optional(),
              })
              .strict(),
          )
          .default({}),
      })
      .strict()
      .prefault({}),
    configuration: z
      .object({
        /** Environments a configuration layer may target, besides `base`. */
        environments: z
          .array(
            z
              .string()
              .regex(
                /^[a-z0-9][a-z0-9-]{0,62}$/,
                'environments are lowercase slugs',
              )
              .refine(e => e !== 'base', '"base" is the shared layer'),
          )
          .min(1)
          .default(['development', 'staging', 'production']),
        /** Versions kept per plugin and layer; older ones are pruned. */
        maxVersionHistory: z.number().int().min(1).default(100),
        /** Milliseconds between looks for other replicas' changes. */
        watchPollInterval: durationMs.default(1_000),
        /** Milliseconds between re-sealing runs and secret rotation checks. */
        maintenanceInterval: durationMs.default(60_000),
        encryption: z
          .object({
            /** Keys for secret values; `secret` is 32 bytes, base64 or hex. */
            keys: z
              .array(
                z
                  .object({
                    id: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/),
                    secret: z.string().min(1),
                  })
                  .strict(),
              )
              .default([]),
            /** The key new secrets are sealed with. Default: the last key. */
            activeKeyId: z.string().min(1).optional(),
          })
          .strict()
          // Said here, at start, with what to set: an app-config layered over
          // one with a development key (arrays replace, objects merge) keeps
          // that key's activeKeyId while its own keys replace the list.
          .superRefine((e, ctx) => {
            if (
              e.activeKeyId === undefined ||
              e.keys.some(k => k.id === e.activeKeyId)
            ) {
              return;
            }
            ctx.addIssue({
              code: 'custom',
              path: ['activeKeyId'],
              message: `'${e.activeKeyId}' is not the id of a configured key (${
                e.keys.map(k => `'${k.id}'`).join(', ') || 'none'
              }); set pluginLifecycle.configuration.encryption.activeKeyId to one of them, or remove it to use the last key. To make a key: node -e "console.log(require('crypto').randomBytes(32).toString('base64'))"`,
            });
          })
          .prefault({}),
      })
      .strict()
      .prefault({}),
    discovery: z
      .object({
        /** Milliseconds between looks for other replicas' changes and running instances. */
        pollInterval: durationMs.default(1_000),
        /** Milliseconds between TTL checks (expiry and deregistration). */
        expireInterval: durationMs.default(1_000),
        /** Milliseconds between full reloads, the safety net under the change feed. */
        resyncInterval: durationMs.default(60_000),
        /** Off: registered services' health checks are not run (they stay as registered). */
        healthChecks: z.boolean().default(true),
        defaultStrategy:
          serviceLoadBalancingStrategySchema.default('round-robin'),
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
      .prefault({}),
    health: z
      .object({
        /** Off: nothing is probed (for debugging). */
        enabled: z.boolean().default(true),
        /** Off: probes' circuitBreaker settings are ignored. */
        circuitBreakers: z.boolean().default(true),
        /** What a probe that leaves them out gets (else Kubernetes' 10 s and 3). */
        probeDefaults: z
          .object({
            periodSeconds: z.number().min(0.01).max(86_400).optional(),
            failureThreshold: z.number().int().min(1).max(10_000).optional(),
          })
          .strict()
          .prefault({}),
        heartbeatInterval: durationMs.default(2_000),
        /** A replica silent this long is gone and its targets move. */
        replicaTimeout: durationMs.default(10_000),
        maxConcurrentProbes: z.number().int().positive().default(64),
        targetRefreshInterval: durationMs.default(5_000),
        flushInterval: durationMs.default(1_000),
        feedInterval: durationMs.default(1_000),
        retention: z
          .object({
            maxResultsPerProbe: z.number().int().positive().default(100),
            maxAge: durationMs.default(86_400_000),
            sampleInterval: durationMs.default(60_000),
            statusRefresh: durationMs.default(60_000),
            pruneInterval: durationMs.default(300_000),
          })
          .strict()
          .prefault({}),
        restartBackoff: z
          .object({
            base: durationMs.default(1_000),
            max: durationMs.default(300_000),
            /** Live this long, an instance's restarts are forgotten. */
            stable: durationMs.default(600_000),
          })
          .strict()
          .prefault({}),
        exec: z
          .object({
            /**
             * Commands (argv[0], as written) any exec probe may run: an
             * exec probe runs on the backend's host, so none by default.
             */
            allowedCommands: z.array(z.string().min(1)).default([]),
          })
          .strict()
          .prefault({}),
        /** How often and how many probes a request, a manifest or a registration may ask for. */
        probeLimits: z
          .object({
            minPeriodSeconds: z.number().min(0.01).max(3_600).default(1),
            maxProbesPerPlugin: z.number().int().min(1).max(64).default(16),
          })
          .strict()
          .prefault({}),
        /** Remediation per plugin id; `*` applies to every plugin. */
        remediation: z
          .record(
            z.string().min(1),
            z
              .object({
                onLivenessFailure: z
                  .enum(['restart', 'mark-error', 'event', 'none'])
                  .optional(),
                onReadinessFailure: z
                  .enum(['out-of-rotation', 'event', 'none'])
                  .optional(),
                maxPerHour: z.number().int().min(0).optional(),
              })
              .strict(),
          )
          .default({}),
      })
      .strict()
      .prefault({}),
    deployments: z
      .object({
        /** Milliseconds between the controller's looks for due deployments. */
        tickInterval: z.number().int().min(50).max(60_000).default(250),
        /** Milliseconds a replica's claim on a deployment lasts without renewal. */
        leaseDuration: z.number().int().min(1_000).max(600_000).default(15_000),
        /** Versions whose files stay installed after a deployment (the running one included). */
        keepVersions: z.number().int().min(1).max(100).default(3),
      })
      .strict()
      .prefault({}),
    // Desired versions from catalog annotations: off, and then only for the
    // plugins the operator names here, never for whoever edits an entity.
    catalogSync: z
      .object({
        enabled: z.boolean().default(false),
        /** Milliseconds between passes (one replica at a time runs one). */
        interval: durationMs.min(1_000).default(60_000),
        /** Plugin ids that follow their entity, besides plugins.<id>.catalogSync. */
        plugins: z.array(z.string().min(1)).default([]),
      })
      .strict()
      .prefault({}),
    shutdown: z
      .object({
        /**
         * Milliseconds from SIGTERM (or SIGINT) that the plugin's shutdown
         * may take; 0 ends what is under way at once.
         */
        gracePeriod: z.number().int().min(0).default(10_000),
        /**
         * Whether managed instances stop with the backend. Default false:
         * they run on and the next backend adopts them.
         */
        stopInstances: z.boolean().default(false),
      })
      .strict()
      .prefault({}),
    runtime: z
      .object({
        restartPolicy: restartPolicySchema.prefault({}),
        process: z
          .object({
            host: z.string().min(1).default('127.0.0.1'),
            startTimeout: durationMs.default(30_000),
            readyTimeout: durationMs.default(60_000),
            stopGracePeriod: durationMs.default(10_000),
            npm: z
              .object({
                // Scripts run code when a version is installed, not when
                // it is started; only a platform team can opt in.
                allowScripts: z.boolean().default(false),
              })
              .strict()
              .prefault({}),
            isolation: isolationSchema,
          })
          .strict()
          .prefault({}),
        // Read and checked by plugin-lifecycle-backend-module-kubernetes.
        kubernetes: z.record(z.string(), z.unknown()).optional(),
      })
      .strict()
      .prefault({}),
    plugins: z
      .record(
        z.string(),
        z
          .object({
            artifact: artifactSchema.superRefine(checkNpmArtifact),
            /**
             * The versions offered when installing or updating (instead of
             * those the artifact source lists); semantic versions.
             */
            versions: z.array(versionSchema).optional(),
            runtime: z.string().min(1).optional(),
            tenant: z.string().min(1).optional(),
            /** This plugin's own restart policy; unset keys come from runtime.restartPolicy. */
            restartPolicy: restartPolicyOverrideSchema.optional(),
            /** Its probes may run any command (exec probes); default false. */
            allowExecProbes: z.boolean().default(false),
            /** Follows the version its catalog entity declares (with catalogSync.enabled); default false. */
            catalogSync: z.boolean().default(false),
            /** What one of its instances counts against its tenant's quota. */
            resources: z
              .object({
                cpu: z.string().min(1).optional(),
                memory: z.string().min(1).optional(),
              })
              .strict()
              .optional(),
          })
          .strict(),
      )
      .default({}),
  })
  .strict();

/** The `pluginLifecycle` section of app-config, with defaults filled in. */
export type PluginLifecycleConfig = z.infer<typeof configSchema>;

/**
 * Reads and validates `pluginLifecycle.*`; a bad value stops the backend at
 * start with a message naming the key, rather than failing later. The
 * original design's keys (`serviceDiscovery.*`, `healthMonitor.*`,
 * `configurationManager.*`, `globalSettings.*`) are mapped onto ours first
 * (see designConfiguration.ts); what they cannot say is given to `warn`.
 */
export function readPluginLifecycleConfig(
  config: Config,
  options: { warn?: (message: string) => void } = {},
): PluginLifecycleConfig {
  const mapped = mapDesignConfiguration(
    config.getOptional('pluginLifecycle') ?? {},
  );
  const parsed = configSchema.safeParse(mapped.raw);
  const problems = [
    ...mapped.problems,
    ...(parsed.success
      ? []
      : parsed.error.issues.map(
          i => `pluginLifecycle.${i.path.join('.')}: ${i.message}`,
        )),
  ];
  if (problems.length > 0 || !parsed.success) {
    throw new Error(
      `Invalid plugin-lifecycle configuration: ${problems.join('; ')}`,
    );
  }
  for (const warning of mapped.warnings) options.warn?.(warning);
  return parsed.data;
}

export function configuredArtifact(
  config: PluginLifecycleConfig,
  pluginId: string,
): Artifact | undefined {
  return config.plugins[pluginId]?.artifact;
}

/**
 * The commands exec probes may run, as the operator allowed them:
 * `health.exec.allowedCommands` for every probe, and any command for the
 * probes of a plugin with `plugins.<id>.allowExecProbes`.
 */
export function execProbePolicyOf(
  config: PluginLifecycleConfig,
): ExecProbePolicy {
  return ExecProbePolicy.create({
    limits: config.health.probeLimits,
    allowedCommands: config.health.exec.allowedCommands,
    allowedPlugins: Object.entries(config.plugins)
      .filter(([, plugin]) => plugin.allowExecProbes)
      .map(([id]) => id),
  });
}

/**
 * The plugins catalog sync acts on: none unless `catalogSync.enabled`; then
 * those in `catalogSync.plugins` and those with `plugins.<id>.catalogSync`.
 */
export function catalogSyncPluginsOf(config: PluginLifecycleConfig): string[] {
  if (!config.catalogSync.enabled) return [];
  return [
    ...new Set([
      ...config.catalogSync.plugins,
      ...Object.entries(config.plugins)
        .filter(([, plugin]) => plugin.catalogSync)
        .map(([id]) => id),
    ]),
  ].sort();
}
