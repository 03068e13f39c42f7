import { z } from 'zod';
import { durationMs } from './durationMs';

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

/** What replaces an instance that crashed (see domain/orchestration/restartPolicy). */
const restartPolicySchema = z
  .object({
    backoffBase: durationMs.default(1_000),
    backoffMax: durationMs.default(60_000),
    maxRestarts: z.number().int().min(0).default(5),
    window: durationMs.default(600_000),
  })
  .strict();

/** A plugin's own restart policy: only the keys it sets (no defaults, which would hide the global ones). */
export const restartPolicyOverrideSchema = z
  .object({
    backoffBase: durationMs.optional(),
    backoffMax: durationMs.optional(),
    maxRestarts: z.number().int().min(0).optional(),
    window: durationMs.optional(),
  })
  .strict();

/**
 * `pluginLifecycle.runtime`: the restart policy and the process runtime
 * (ports, timeouts, npm scripts, the users plugins run as); see
 * config.d.ts.
 */
export const runtimeConfigSchema = z
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
  .prefault({});
