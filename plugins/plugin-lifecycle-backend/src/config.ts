import { Config } from '@backstage/config';
import { Artifact, artifactSchema } from '@internal/plugin-lifecycle-common';
import { z } from 'zod';

const durationMs = z.number().int().positive();

const configSchema = z
  .object({
    dataDir: z.string().min(1).default('./data/plugin-lifecycle'),
    defaultTenant: z.string().min(1).default('default'),
    defaultRuntime: z.string().min(1).default('process'),
    defaultEnvironment: z.string().min(1).default('production'),
    // Artifact types an install request may carry. A command or a tarball
    // path runs code from the backend's machine, so only configured plugins
    // may use them unless a platform team opts in.
    requestArtifactTypes: z
      .array(z.enum(['npm', 'tarball', 'command', 'external']))
      .default(['npm', 'external']),
    orchestrator: z
      .object({
        maxConcurrentOperations: z.number().int().positive().default(10),
        defaultTimeout: durationMs.default(300_000),
        enableAutoRecovery: z.boolean().default(true),
      })
      .strict()
      .default({
        maxConcurrentOperations: 10,
        defaultTimeout: 300_000,
        enableAutoRecovery: true,
      }),
    runtime: z
      .object({
        process: z
          .object({
            host: z.string().min(1).default('127.0.0.1'),
            startTimeout: durationMs.default(30_000),
            readyTimeout: durationMs.default(60_000),
            stopGracePeriod: durationMs.default(10_000),
          })
          .strict()
          .default({
            host: '127.0.0.1',
            startTimeout: 30_000,
            readyTimeout: 60_000,
            stopGracePeriod: 10_000,
          }),
      })
      .strict()
      .default({
        process: {
          host: '127.0.0.1',
          startTimeout: 30_000,
          readyTimeout: 60_000,
          stopGracePeriod: 10_000,
        },
      }),
    plugins: z
      .record(
        z.string(),
        z
          .object({
            artifact: artifactSchema,
            runtime: z.string().min(1).optional(),
            tenant: z.string().min(1).optional(),
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
 * start with a message naming the key, rather than failing later.
 */
export function readPluginLifecycleConfig(
  config: Config,
): PluginLifecycleConfig {
  const raw = config.getOptional('pluginLifecycle') ?? {};
  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues
      .map(i => `pluginLifecycle.${i.path.join('.')}: ${i.message}`)
      .join('; ');
    throw new Error(`Invalid plugin-lifecycle configuration: ${problems}`);
  }
  return parsed.data;
}

export function configuredArtifact(
  config: PluginLifecycleConfig,
  pluginId: string,
): Artifact | undefined {
  return config.plugins[pluginId]?.artifact;
}
