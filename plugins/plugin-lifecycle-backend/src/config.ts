import { Config } from '@backstage/config';
import {
  Artifact,
  artifactSchema,
  versionSchema,
} from '@internal/plugin-lifecycle-common';
import { z } from 'zod';
import { parseNpmSpec } from './engines/runtime/artifactInstall';
import { ExecProbePolicy } from './engines/health/execProbePolicy';
import { mapDesignConfiguration } from './designConfiguration';
import { durationMs } from './configSchema/durationMs';
import { configurationConfigSchema } from './configSchema/configuration';
import { discoveryConfigSchema } from './configSchema/discovery';
import { healthConfigSchema } from './configSchema/health';
import {
  restartPolicyOverrideSchema,
  runtimeConfigSchema,
} from './configSchema/runtime';

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
    configuration: configurationConfigSchema,
    discovery: discoveryConfigSchema,
    health: healthConfigSchema,
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
    runtime: runtimeConfigSchema,
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
