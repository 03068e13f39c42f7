import { z } from 'zod';
import { durationMs } from './durationMs';

/**
 * `pluginLifecycle.configuration`: the environments configuration layers
 * target, version history, and the keys secrets are sealed with; see
 * config.d.ts.
 */
export const configurationConfigSchema = z
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
  .prefault({});
