import { z } from 'zod';
import {
  ConfigurationEntry,
  configurationEntrySchema,
  decimalIntegerParam,
} from './schemas';

/**
 * The layer every environment's configuration is merged over.
 *
 * @public
 */
export const CONFIG_BASE_LAYER = 'base';

/**
 * What a secret or sensitive value shows as to callers who may not reveal it.
 *
 * @public
 */
export const CONFIG_SECRET_MASK = '********';

/** A layer name: `base` or an environment (`development`, `production`, ...). @public */
export const configLayerSchema = z
  .string()
  .regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'must be a lowercase slug');

const writeFields = {
  description: z.string().max(1000).optional(),
  /**
   * Check-and-set: the write succeeds only if the layer's latest version is
   * this one (0: the layer has no version yet); otherwise 409.
   */
  expectedVersion: z.number().int().min(0).optional(),
  /**
   * Validate and preview only: the answer says what the layer, the diff and
   * the effective configuration would be; nothing is stored or applied.
   */
  dryRun: z.boolean().optional(),
};

/**
 * `PUT /plugins/{id}/config/{layer}`: the whole new content of one layer.
 * Keys left out are removed, except a key marked required, which the write
 * refuses to drop (400). Content equal to the layer's makes no new version.
 *
 * @public
 */
export const setConfigurationRequestSchema = z
  .object({
    entries: z.array(configurationEntrySchema).max(1000),
    ...writeFields,
  })
  .strict();

/** @public */
export type SetConfigurationRequest = z.infer<
  typeof setConfigurationRequestSchema
>;

/**
 * `PATCH /plugins/{id}/config/{layer}`: sets the given keys (an entry
 * replaces the one with its key; `required`, `sensitive` and `description`
 * it leaves out carry over) and removes the keys in `remove`; every other
 * key of the layer stays as it is.
 *
 * @public
 */
export const patchConfigurationRequestSchema = z
  .object({
    entries: z.array(configurationEntrySchema).max(1000).default([]),
    /** Keys to remove from the layer; a required key cannot be removed. */
    remove: z.array(configurationEntrySchema.shape.key).max(1000).optional(),
    ...writeFields,
  })
  .strict()
  .superRefine((body, ctx) => {
    const set = new Set(body.entries.map(e => e.key));
    for (const key of new Set(body.remove ?? [])) {
      if (set.has(key)) {
        ctx.addIssue({
          code: 'custom',
          path: ['remove'],
          message: `'${key}' is both set and removed`,
        });
      }
    }
  });

/** @public */
export type PatchConfigurationRequest = z.input<
  typeof patchConfigurationRequestSchema
>;

/** @public */
export const configRollbackRequestSchema = z
  .object({
    toVersion: z.number().int().min(1),
    description: z.string().max(1000).optional(),
    expectedVersion: z.number().int().min(0).optional(),
  })
  .strict();

/** @public */
export type ConfigRollbackRequest = z.infer<typeof configRollbackRequestSchema>;

const booleanQuery = z.enum(['true', 'false']).transform(v => v === 'true');

/** Query of `GET /plugins/{id}/config/{environment}`. @public */
export const configReadQuerySchema = z
  .object({
    /** Show secret values (needs the reveal permission). */
    reveal: booleanQuery.optional(),
    /** Point in time (ISO 8601): the effective configuration as it was then. */
    at: z.iso.datetime({ offset: true }).optional(),
  })
  .strict();

/** Query of `GET /plugins/{id}/config/{environment}/diff`. @public */
export const configDiffQuerySchema = z
  .object({
    from: decimalIntegerParam({ min: 1 }),
    to: decimalIntegerParam({ min: 1 }),
  })
  .strict();

/**
 * Query of `GET /plugins/{id}/config/{environment}/watch`: a long-poll that
 * answers once the effective configuration's revision passes `afterRevision`
 * (or the environment layer's version passes `afterVersion`), or when
 * `timeoutMs` runs out. With `Accept: text/event-stream` it streams instead.
 *
 * @public
 */
export const configWatchQuerySchema = z
  .object({
    afterRevision: decimalIntegerParam({ min: 0 }).optional(),
    afterVersion: decimalIntegerParam({ min: 0 }).optional(),
    /** Only changes to this key count. */
    key: z.string().min(1).optional(),
    timeoutMs: decimalIntegerParam({ min: 0, max: 300_000 }).optional(),
  })
  .strict();

/**
 * A configuration entry as the API shows it: secret and sensitive values are
 * replaced by {@link CONFIG_SECRET_MASK} unless the caller may reveal them.
 *
 * @public
 */
export type ConfigEntryView = ConfigurationEntry & { masked?: boolean };

/** @public */
export type EffectiveConfigEntry = ConfigEntryView & {
  /** The layer and version the value comes from. */
  source: { layer: string; version: number };
};

/**
 * The configuration a plugin runs with in one environment: the base layer
 * with the environment's layer over it.
 *
 * @public
 */
export interface EffectiveConfiguration {
  pluginId: string;
  environment: string;
  /** The environment layer's latest version (0: none yet). */
  version: number;
  /** The base layer's latest version (0: none yet). */
  baseVersion: number;
  /** Grows with every change to either layer; what watches compare. */
  revision: number;
  entries: EffectiveConfigEntry[];
  /** Set when read for a past point in time. */
  at?: string;
}

/** @public */
export interface ConfigVersionSummary {
  pluginId: string;
  /** `base` or the environment. */
  layer: string;
  version: number;
  revision: number;
  author?: string;
  description?: string;
  createdAt: string;
  /** Set when this version restored an earlier one. */
  rolledBackFrom?: number;
  entryCount: number;
}

/** @public */
export interface ConfigVersion extends ConfigVersionSummary {
  entries: ConfigEntryView[];
}

/**
 * What changed between two versions of a layer. Secret values are never
 * shown; a changed secret is listed as changed.
 *
 * @public
 */
export interface ConfigDiff {
  from: number;
  to: number;
  added: ConfigEntryView[];
  removed: ConfigEntryView[];
  changed: Array<{
    key: string;
    from: ConfigEntryView;
    to: ConfigEntryView;
    /** The entry fields that differ (`value`, `type`, `required`, ...). */
    fields: string[];
  }>;
}

/** @public */
export interface ConfigWatchResult {
  changed: boolean;
  configuration: EffectiveConfiguration;
}

/** The result of a configuration write. @public */
export interface ConfigWriteResult {
  /**
   * The version written; when nothing changed, the layer's latest version
   * (its content is what was asked for).
   */
  version: ConfigVersionSummary;
  /**
   * False when the write equals the layer's content: no new version, no
   * operation, running instances left alone.
   */
  changed: boolean;
  /** The operation that brings the change to running instances, if any. */
  operationId?: string;
}

/**
 * What a write with `dryRun: true` would do. Nothing is stored; secret values
 * are masked.
 *
 * @public
 */
export interface ConfigWritePreview {
  dryRun: true;
  pluginId: string;
  layer: string;
  /** The layer's latest version now (0: none). */
  currentVersion: number;
  /** False when the write equals the layer's content (it would be a no-op). */
  changed: boolean;
  /** The layer's content after the write. */
  entries: ConfigEntryView[];
  /**
   * The layer now against the layer after the write (`to` is the version the
   * write would make, or `from` when nothing changes).
   */
  diff: ConfigDiff;
  /**
   * The effective configuration of each environment the layer feeds (one
   * for an environment's layer, every environment for `base`), as it would
   * be after the write.
   */
  effective: EffectiveConfiguration[];
}
