import { z } from 'zod';
import {
  deploymentConfigSchema,
  deploymentStrategySchema,
} from './deployments';
import { probeMethodSchema, probeTypeSchema } from './enums';
import { LIFECYCLE_STATES, LifecycleState } from '../lifecycle/states';

// These schemas are the single source of the HTTP API: the router validates
// with them and the OpenAPI document is generated from them.

/**
 * A plugin id: a lowercase slug, as used in catalog annotations and URLs.
 *
 * @public
 */
export const pluginIdSchema = z
  .string()
  .regex(
    /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/,
    'must be a lowercase slug (a-z, 0-9 and "-", 1-63 characters, starting and ending with a letter or digit)',
  );

// The regular expression recommended by semver.org.
const SEMVER =
  /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$/;

/** @public */
export const versionSchema = z
  .string({ error: 'is required: a semantic version such as 1.2.3' })
  .regex(SEMVER, 'must be a semantic version such as 1.2.3');

/**
 * A whole number in a query string or path, written in decimal digits only:
 * `0x1`, `1e3`, `1.0`, ` 1` or `+1` are refused, where `Number()` (and
 * `z.coerce.number()`) would read them as numbers.
 *
 * @public
 */
export function decimalIntegerParam(options: {
  min: number;
  max?: number;
  name?: string;
}) {
  const what = options.name ? `${options.name} ` : '';
  const max = options.max ?? Number.MAX_SAFE_INTEGER;
  return z
    .string()
    .regex(/^\d{1,15}$/, `${what}must be a whole number in decimal digits`)
    .transform(Number)
    .pipe(
      z
        .number()
        .min(options.min, `${what}must be at least ${options.min}`)
        .max(max, `${what}is at most ${max}`),
    );
}

/** @public */
export const lifecycleStateSchema = z.enum(
  LIFECYCLE_STATES as [LifecycleState, ...LifecycleState[]],
);

// The shape of an npm package name (scope optional). It never starts with
// "-", so a name is never taken as an option of npm; the backend checks the
// rest of npm's rules.
const NPM_PACKAGE_NAME =
  /^(?:@[A-Za-z0-9~][A-Za-z0-9._~-]*\/)?[A-Za-z0-9~][A-Za-z0-9._~-]*$/;

/**
 * Where a plugin version's code comes from and how it is run.
 *
 * @public
 */
export const artifactSchema = z.discriminatedUnion('type', [
  z
    .object({
      type: z.literal('npm'),
      /** Package name; the version is the plugin version unless given. */
      package: z
        .string()
        .max(214, 'must be an npm package name (at most 214 characters)')
        .regex(
          NPM_PACKAGE_NAME,
          'must be an npm package name such as http-server or @scope/name',
        ),
      /** A version, range, tag (or, configured only, a file:, git or URL spec). */
      version: z
        .string()
        .min(1)
        .refine(
          v => !v.startsWith('-'),
          'must be an npm version, range or tag, not an option',
        )
        .optional(),
      /** Which `bin` entry to run when the package has several. */
      bin: z.string().min(1).optional(),
      /** Arguments after the entry script; `${PORT}` and `${HOST}` are replaced. */
      args: z.array(z.string()).optional(),
    })
    .strict(),
  z
    .object({
      type: z.literal('tarball'),
      /** Path to an npm-style tarball (`package/` prefix). `${version}` is replaced. */
      path: z.string().min(1),
      bin: z.string().min(1).optional(),
    })
    .strict(),
  z
    .object({
      type: z.literal('command'),
      command: z.string().min(1),
      /** `${PORT}` in an argument is replaced with the instance's port. */
      args: z.array(z.string()).default([]),
      cwd: z.string().min(1).optional(),
    })
    .strict(),
  z
    .object({
      type: z.literal('external'),
      endpoints: z
        .array(
          z
            .object({
              host: z.string().min(1),
              port: z.number().int().min(1).max(65535),
              protocol: z
                .enum(['http', 'https', 'grpc', 'tcp'])
                .default('http'),
            })
            .strict(),
        )
        .min(1),
    })
    .strict(),
  z
    .object({
      type: z.literal('image'),
      /**
       * A container image reference (`registry/name:tag` or `@sha256:` digest), run by a cluster runtime;
       * `${version}` in it is the version installed (`registry/name:${version}`).
       */
      image: z
        .string()
        .min(1)
        .max(1024)
        .regex(/^[^\s]+$/, 'must be an image reference without spaces'),
      /** The container's command (its entrypoint); default the image's. */
      command: z.array(z.string()).optional(),
      /** The container's arguments; default the image's. */
      args: z.array(z.string()).optional(),
      /** The port the container listens on (given to it as PORT). Default 8080. */
      port: z.number().int().min(1).max(65535).optional(),
    })
    .strict(),
]);

/** @public */
export type Artifact = z.infer<typeof artifactSchema>;

/** @public */
export const configurationEntrySchema = z
  .object({
    key: z
      .string()
      .regex(
        /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/,
        'must be letters, digits, "_", "-" and "." (for example database.url)',
      ),
    value: z.unknown(),
    type: z.enum(['string', 'number', 'boolean', 'json', 'secret']),
    required: z.boolean().optional(),
    sensitive: z.boolean().optional(),
    description: z.string().max(1000).optional(),
    /** For secrets: when the value is due to be rotated (ISO 8601). */
    rotateAt: z.iso.datetime({ offset: true }).optional(),
  })
  .strict();

/** @public */
export type ConfigurationEntry = z.infer<typeof configurationEntrySchema>;

/** @public */
export const probeSchema = z
  .object({
    name: z.string().min(1),
    /** A {@link ProbeType}: its value (`startup`) or key name (`STARTUP`). */
    type: probeTypeSchema,
    /** A {@link ProbeMethod}: its value (`http`) or key name (`HTTP`). */
    method: probeMethodSchema,
    http: z
      .object({
        path: z.string().startsWith('/'),
        port: z.number().int().min(1).max(65535).optional(),
        headers: z.record(z.string(), z.string()).optional(),
        expectedStatusCodes: z
          .array(z.number().int().min(100).max(599))
          .optional(),
        timeout: z.number().int().positive().optional(),
      })
      .optional(),
    tcp: z
      .object({ port: z.number().int().min(1).max(65535).optional() })
      .optional(),
    grpc: z
      .object({
        service: z.string().optional(),
        port: z.number().int().min(1).max(65535).optional(),
      })
      .optional(),
    exec: z
      .object({
        command: z.string().min(1),
        args: z.array(z.string()).optional(),
      })
      .optional(),
    custom: z.object({ name: z.string().min(1) }).optional(),
    initialDelaySeconds: z.number().min(0).max(3_600).optional(),
    // Hard bounds; the backend's app-config sets a higher floor for the
    // period (pluginLifecycle.health.probeLimits.minPeriodSeconds).
    periodSeconds: z
      .number()
      .min(0.01, 'must be at least 0.01 (seconds)')
      .max(86_400, 'must be at most 86400 (a day)')
      .optional(),
    timeoutSeconds: z
      .number()
      .min(0.001, 'must be at least 0.001 (seconds)')
      .max(300, 'must be at most 300')
      .optional(),
    successThreshold: z.number().int().positive().max(10_000).optional(),
    failureThreshold: z.number().int().positive().max(10_000).optional(),
    circuitBreaker: z
      .object({
        enabled: z.boolean(),
        failureThreshold: z.number().int().positive().optional(),
        recoveryTimeout: z.number().int().positive().optional(),
      })
      .optional(),
  })
  .strict()
  .superRefine((probe, ctx) => {
    if (probe.method !== 'tcp' && !probe[probe.method]) {
      ctx.addIssue({
        code: 'custom',
        path: [probe.method],
        message: `a ${probe.method} probe needs its "${probe.method}" settings`,
      });
    }
  });

/** @public */
export type ProbeDefinition = z.infer<typeof probeSchema>;

/**
 * Most probes one list holds (a plugin's, a manifest's, a request's); the
 * backend's app-config may set a lower cap.
 *
 * @public
 */
export const MAX_PROBES = 64;

/** @public */
export const probeListSchema = z
  .array(probeSchema)
  .max(MAX_PROBES, `at most ${MAX_PROBES} probes`);

/**
 * The manifest of a plugin version. It travels with the artifact (the
 * `pluginLifecycle` field of the package's package.json) and can be given or
 * overridden at install.
 *
 * @public
 */
export const manifestSchema = z
  .object({
    dependencies: z
      .array(
        z
          .object({ pluginId: pluginIdSchema, range: z.string().min(1) })
          .strict(),
      )
      .optional(),
    configSchema: z.record(z.string(), z.unknown()).optional(),
    probes: probeListSchema.optional(),
    resources: z
      .object({ cpu: z.string().optional(), memory: z.string().optional() })
      .strict()
      .optional(),
    /**
     * How running instances take a configuration change: `signal` (the
     * config file is rewritten, then the instance gets `reloadSignal`),
     * `endpoint` (POST of the new configuration to `reloadEndpoint`) or
     * `restart` (a rolling restart, the default).
     */
    reloadStrategy: z.enum(['signal', 'endpoint', 'restart']).optional(),
    reloadSignal: z.enum(['SIGHUP', 'SIGUSR1', 'SIGUSR2']).optional(),
    reloadEndpoint: z
      .string()
      .regex(/^\//, 'a path such as /-/reload')
      .optional(),
  })
  .passthrough();

/** @public */
export type PluginManifest = z.infer<typeof manifestSchema>;

/** @public */
export const runtimeTypeSchema = z.string().regex(/^[a-z][a-z0-9-]*$/);

const queueOptions = {
  /** Higher runs first (across plugins; one plugin's operations keep their order). */
  priority: z.number().int().min(-100).max(100).optional(),
  /** The same key (per tenant) returns the same operation instead of a second one. */
  idempotencyKey: z.string().min(1).max(255).optional(),
  /** Milliseconds before the operation is aborted and compensated. */
  timeoutMs: z.number().int().min(100).max(3_600_000).optional(),
};

/** @public */
export const installRequestSchema = z
  .object({
    version: versionSchema,
    environment: z.string().min(1).optional(),
    artifact: artifactSchema.optional(),
    manifest: manifestSchema.optional(),
    configuration: z.array(configurationEntrySchema).optional(),
    healthProbes: probeListSchema.optional(),
    replicas: z.number().int().min(1).max(64).optional(),
    runtime: runtimeTypeSchema.optional(),
    tenant: z.string().min(1).max(255).optional(),
    entityRef: z.string().min(1).max(512).optional(),
    /** Start the plugin once installed. */
    start: z.boolean().optional(),
    ...queueOptions,
  })
  .strict();

/** @public */
export type InstallRequest = z.infer<typeof installRequestSchema>;

/**
 * Moves an installed plugin to another version; a running plugin is rolled
 * one instance at a time.
 *
 * @public
 */
export const updateRequestSchema = z
  .object({
    version: versionSchema,
    artifact: artifactSchema.optional(),
    manifest: manifestSchema.optional(),
    healthProbes: probeListSchema.optional(),
    reason: z.string().max(1000).optional(),
    /** How the running instances move to the version (default `rolling`). */
    deploymentStrategy: deploymentStrategySchema.optional(),
    deploymentConfig: deploymentConfigSchema.optional(),
    /** The configuration environment the new version runs with (default: the plugin's). */
    environment: z.string().min(1).max(100).optional(),
    ...queueOptions,
  })
  .strict()
  .superRefine((r, ctx) => {
    if (
      r.deploymentStrategy === 'a-b-testing' &&
      !r.deploymentConfig?.abTesting
    ) {
      ctx.addIssue({
        code: 'custom',
        path: ['deploymentConfig', 'abTesting'],
        message:
          'required for the a-b-testing strategy (match or percentage, and duration)',
      });
    }
  });

/** @public */
export type UpdateRequest = z.infer<typeof updateRequestSchema>;

/**
 * Rolls a succeeded update back: its previous version runs again with the
 * configuration it ran with (`POST /plugins/{id}/update/{operationId}/rollback`).
 *
 * @public
 */
export const updateRollbackRequestSchema = z
  .object({
    reason: z.string().max(1000).optional(),
    ...queueOptions,
  })
  .strict();

/** @public */
export type UpdateRollbackRequest = z.infer<typeof updateRollbackRequestSchema>;

/** @public */
export const actionRequestSchema = z
  .object({
    reason: z.string().max(1000).optional(),
    /** For stop and uninstall: stop the running plugins that depend on this one first. */
    cascade: z.boolean().optional(),
    /**
     * For restart: replace only this instance of a running plugin (a new one
     * starts and passes its probes before this one stops).
     */
    instanceId: z.string().min(1).max(64).optional(),
    ...queueOptions,
  })
  .strict();

/** @public */
export type ActionRequest = z.infer<typeof actionRequestSchema>;

/** The actions a batch may carry. @public */
export const batchActionSchema = z.enum([
  'install',
  'start',
  'stop',
  'restart',
  'uninstall',
]);

/** @public */
export const batchRequestSchema = z
  .object({
    operations: z
      .array(
        z
          .object({
            pluginId: pluginIdSchema,
            action: batchActionSchema,
            /** For install: the install request (version and the rest). */
            install: installRequestSchema
              .omit({ priority: true, idempotencyKey: true, timeoutMs: true })
              .optional(),
            reason: z.string().max(1000).optional(),
          })
          .strict()
          .superRefine((item, ctx) => {
            if (item.action === 'install' && !item.install) {
              ctx.addIssue({
                code: 'custom',
                path: ['install'],
                message: 'an install needs "install": { "version": ... }',
              });
            }
            if (item.action !== 'install' && item.install) {
              ctx.addIssue({
                code: 'custom',
                path: ['install'],
                message: `only an install takes "install", not a ${item.action}`,
              });
            }
          }),
      )
      .min(1, 'a batch needs at least one operation')
      .max(500),
    ...queueOptions,
  })
  .strict();

/** @public */
export type BatchRequest = z.infer<typeof batchRequestSchema>;

/**
 * A batch of updates (a release train): the plugins are rolled out one
 * after the other in their dependency order, each deployment starting when
 * the one before it succeeded; when one ends without success, the ones
 * already promoted in the train are rolled back and the rest never start.
 *
 * @public
 */
export const releaseTrainRequestSchema = z
  .object({
    updates: z
      .array(
        z
          .object({
            pluginId: pluginIdSchema,
            version: versionSchema,
            deploymentStrategy: deploymentStrategySchema.optional(),
            deploymentConfig: deploymentConfigSchema.optional(),
            reason: z.string().max(1000).optional(),
          })
          .strict(),
      )
      .min(1, 'a release train needs at least one update')
      .max(50)
      .refine(
        updates =>
          new Set(updates.map(u => u.pluginId)).size === updates.length,
        { message: 'each plugin at most once' },
      ),
    ...queueOptions,
  })
  .strict();

/** @public */
export type ReleaseTrainRequest = z.infer<typeof releaseTrainRequestSchema>;

/** The body of `POST /operations/batch`: operations, or updates (a release train). @public */
export const batchBodySchema = z.union([
  batchRequestSchema,
  releaseTrainRequestSchema,
]);

/**
 * Query of `GET /operations/{operationId}`: `waitSeconds` holds the answer
 * until the operation has ended (succeeded, failed or cancelled) or that many
 * seconds passed, whichever comes first.
 * @public
 */
export const getOperationQuerySchema = z
  .object({
    waitSeconds: decimalIntegerParam({
      min: 0,
      max: 60,
      name: 'waitSeconds',
    })
      .optional()
      .describe(
        'Answer once the operation has ended, or after this many seconds (at most 60)',
      ),
  })
  .strict();

/** @public */
export type GetOperationQuery = z.infer<typeof getOperationQuerySchema>;

/** Most items one page of a list holds. @public */
export const MAX_PAGE_SIZE = 1000;

/** The cursor of a paged list: the `nextCursor` of the page before. */
const cursorParam = z.string().min(1).max(2048);

/**
 * Query of `GET /plugins`: a page of at most `limit` plugins (default 500)
 * by id, after `cursor` (the `nextCursor` of the page before).
 *
 * @public
 */
export const listPluginsQuerySchema = z
  .object({
    state: lifecycleStateSchema.optional(),
    tenant: z.string().min(1).max(255).optional(),
    entityRef: z.string().min(1).max(512).optional(),
    limit: decimalIntegerParam({ min: 1, max: MAX_PAGE_SIZE }).optional(),
    cursor: cursorParam.optional(),
  })
  .strict();

/**
 * Query of `GET /plugins/{id}/history` (oldest first, default 500 a page)
 * and `GET /plugins/{id}/operations` (newest first, default 50 a page).
 *
 * @public
 */
export const pageQuerySchema = z
  .object({
    limit: decimalIntegerParam({ min: 1, max: MAX_PAGE_SIZE }).optional(),
    cursor: cursorParam.optional(),
  })
  .strict();

/**
 * A page of a list: `nextCursor` is there when more items follow.
 *
 * @public
 */
export interface Page<T> {
  items: T[];
  nextCursor?: string;
}
