import { z } from 'zod';

/**
 * Where the versions of {@link AvailableVersions} come from: the plugin's
 * configured list (`pluginLifecycle.plugins.<id>.versions`), the directory of
 * its tarball path template, the npm registry, or nowhere (a command or
 * external artifact without a list: the version is typed in).
 *
 * @public
 */
export const availableVersionsSourceSchema = z.enum([
  'configured',
  'tarball',
  'npm',
  'none',
]);

/** @public */
export type AvailableVersionsSource = z.infer<
  typeof availableVersionsSourceSchema
>;

/**
 * The versions a plugin's artifact source offers
 * (`GET /plugins/{pluginId}/versions`), newest first by semver.
 *
 * @public
 */
export const availableVersionsSchema = z
  .object({
    pluginId: z.string(),
    source: availableVersionsSourceSchema,
    /** The version the plugin is at, if any. */
    currentVersion: z.string().optional(),
    items: z.array(
      z.object({
        version: z.string(),
        /** The plugin is at this version. */
        current: z.boolean(),
        /** The version is installed (current or kept for a rollback). */
        installed: z.boolean(),
      }),
    ),
    /** Why the source gave no versions (e.g. the registry did not answer). */
    problem: z.string().optional(),
  })
  .meta({ description: 'AvailableVersions' });

/** @public */
export type AvailableVersions = z.infer<typeof availableVersionsSchema>;
