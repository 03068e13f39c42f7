import { z } from 'zod';
import { ConfigurationEntry, configurationEntrySchema } from './schemas';

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

/**
 * A new version of one layer of a plugin's configuration.
 *
 * @public
 */
export const setConfigurationRequestSchema = z
  .object({
    entries: z.array(configurationEntrySchema).max(1000),
    description: z.string().max(1000).optional(),
    /**
     * Check-and-set: the write succeeds only if the layer's latest version is
     * this one (0: the layer has no version yet); otherwise 409.
     */
    expectedVersion: z.number().int().min(0).optional(),
    /**
     * For a running plugin: apply the change to one instance first and roll
     * it back automatically if that instance does not stay ready.
     */
    dryRun: z.boolean().optional(),
  })
  .strict();

/** @public */
export type SetConfigurationRequest = z.infer<
  typeof setConfigurationRequestSchema
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
    from: z.coerce.number().int().min(1),
    to: z.coerce.number().int().min(1),
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
    afterRevision: z.coerce.number().int().min(0).optional(),
    afterVersion: z.coerce.number().int().min(0).optional(),
    /** Only changes to this key count. */
    key: z.string().min(1).optional(),
    timeoutMs: z.coerce.number().int().min(0).max(300_000).optional(),
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
  version: ConfigVersionSummary;
  /** The operation that brings the change to running instances, if any. */
  operationId?: string;
}
