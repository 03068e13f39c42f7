import { z } from 'zod';
import {
  deploymentConfigSchema,
  deploymentStrategySchema,
} from './deployments';
import {
  artifactSchema,
  lifecycleStateSchema,
  configurationEntrySchema,
  manifestSchema,
  probeListSchema,
  versionSchema,
} from './schemas';
import type { Operation, OperationType } from './types';
import { validationMessage } from './validationMessage';

// What each operation type carries (`params`) and records when it succeeds
// (`result`). The API validates a request with its own schema; the backend
// writes the operation's parameters from it, and reads them back with these
// schemas when a worker runs the operation. Parameter objects are loose: a
// key this version does not know (written by a newer replica) is kept, not
// refused.

/** Why the operation was asked for (shown in the history). */
const reason = z.string().optional();

/**
 * Parameters of an `install`: the version and where it comes from; the
 * configuration given with an install request is written before the
 * operation is queued (older operations may still carry it).
 *
 * @public
 */
export const installParamsSchema = z.looseObject({
  version: versionSchema,
  artifact: artifactSchema.optional(),
  manifest: manifestSchema.optional(),
  configuration: z.array(configurationEntrySchema).optional(),
  healthProbes: probeListSchema.optional(),
  replicas: z.number().int().min(1).optional(),
  environment: z.string().min(1).optional(),
  /** Start the plugin once installed. */
  start: z.boolean().optional(),
});

/** @public */
export type InstallParams = z.infer<typeof installParamsSchema>;

/**
 * Parameters of an `update`, and of the rollback of an update (an update
 * back to the version it replaced, with `rollbackOf`).
 *
 * @public
 */
export const updateParamsSchema = z.looseObject({
  version: versionSchema,
  artifact: artifactSchema.optional(),
  manifest: manifestSchema.optional(),
  healthProbes: probeListSchema.optional(),
  reason,
  /**
   * Set by a rollback of an earlier update (`rollbackOf`): before new
   * instances start, the configuration goes back to its content as of this
   * revision (the one the earlier update's previous version ran with).
   */
  restoreConfigRevision: z.number().int().min(0).optional(),
  /** The update this one rolls back. */
  rollbackOf: z.string().min(1).optional(),
  /** The version the plugin must have when this runs (a rollback's). */
  expectedCurrentVersion: z.string().min(1).optional(),
  /**
   * The deployment this update starts (created, `pending`, when the request
   * was accepted). A running plugin's update hands its instances to the
   * deployment controller; a rollback (`rollbackOf`) has none.
   */
  deploymentId: z.string().min(1).optional(),
  deploymentStrategy: deploymentStrategySchema.optional(),
  deploymentConfig: deploymentConfigSchema.optional(),
  environment: z.string().min(1).max(100).optional(),
});

/** @public */
export type UpdateParams = z.infer<typeof updateParamsSchema>;

/**
 * Parameters of a `start`, `stop` or `uninstall`.
 *
 * @public
 */
export const actionParamsSchema = z.looseObject({
  reason,
  /**
   * Part of a batch that orders dependents itself (a cascade): stop and
   * uninstall do not refuse because of running dependents.
   */
  cascade: z.boolean().optional(),
});

/** @public */
export type ActionParams = z.infer<typeof actionParamsSchema>;

/**
 * Parameters of a `restart`: of every instance, or (with `instanceId`) the
 * replacement of one instance while the others keep serving.
 *
 * @public
 */
export const restartParamsSchema = actionParamsSchema.extend({
  instanceId: z.string().min(1).optional(),
});

/** @public */
export type RestartParams = z.infer<typeof restartParamsSchema>;

/**
 * Parameters of a `configure`: the configuration change that queued it, or
 * none when a user asked for the effective configuration to be re-applied.
 *
 * @public
 */
export const configureParamsSchema = z.looseObject({
  /** Why (a configure asked for through `POST /plugins/{id}/configure`). */
  reason,
  layer: z.string().min(1).optional(),
  /** The layer's new version. */
  version: z.number().int().optional(),
  /** The plugin's configuration revision with the change. */
  revision: z.number().int().optional(),
});

/** @public */
export type ConfigureParams = z.infer<typeof configureParamsSchema>;

/**
 * Parameters of `maintenance-on` and `maintenance-off`: why.
 *
 * @public
 */
export const maintenanceParamsSchema = actionParamsSchema;

/**
 * What `maintenance-on` and `maintenance-off` record: the state the plugin
 * left and the one it is in, and how many instances kept running through
 * the change (maintenance stops none).
 *
 * @public
 */
export const maintenanceResultSchema = z.object({
  fromState: lifecycleStateSchema,
  state: lifecycleStateSchema,
  instances: z.number().int(),
});

/** @public */
export type MaintenanceResult = z.infer<typeof maintenanceResultSchema>;

/**
 * The result of an attempt that found its work done by an earlier attempt
 * (cut off before it recorded the outcome).
 *
 * @public
 */
export const completedEarlierResultSchema = z.object({
  completedByEarlierAttempt: z.literal(true),
  state: lifecycleStateSchema,
});

/** @public */
export type CompletedEarlierResult = z.infer<
  typeof completedEarlierResultSchema
>;

const startedInstanceSchema = z.object({
  id: z.string(),
  host: z.string(),
  port: z.number(),
});

/**
 * What a `start` records: the configuration revision its instances run
 * with and the instances it started.
 *
 * @public
 */
export const startResultSchema = z.union([
  z.object({
    configRevision: z.number(),
    instances: z.array(startedInstanceSchema),
  }),
  completedEarlierResultSchema,
]);

/** @public */
export type StartResult = z.infer<typeof startResultSchema>;

/**
 * What an `install` records: the version, and what the start recorded when
 * the install started the plugin too.
 *
 * @public
 */
export const installResultSchema = z.union([
  z.object({
    version: z.string(),
    configRevision: z.number().optional(),
    instances: z.array(startedInstanceSchema).optional(),
  }),
  completedEarlierResultSchema,
]);

/** @public */
export type InstallResult = z.infer<typeof installResultSchema>;

/**
 * What a `stop` records: how many instances it stopped.
 *
 * @public
 */
export const stopResultSchema = z.union([
  z.object({ stopped: z.number().int() }),
  completedEarlierResultSchema,
]);

/** @public */
export type StopResult = z.infer<typeof stopResultSchema>;

/**
 * What the replacement of one instance records (a `restart` with
 * `instanceId`): the instances swapped, or why nothing was replaced.
 *
 * @public
 */
export const replaceInstanceResultSchema = z.object({
  replaced: z.number().int(),
  reason: z.string().optional(),
  oldInstanceId: z.string().optional(),
  newInstanceId: z.string().optional(),
});

/** @public */
export type ReplaceInstanceResult = z.infer<typeof replaceInstanceResultSchema>;

/**
 * What a `restart` records: a replaced instance, or what its stop and its
 * start recorded.
 *
 * @public
 */
export const restartResultSchema = z.union([
  replaceInstanceResultSchema,
  z.object({
    stopped: z.number().int(),
    configRevision: z.number(),
    instances: z.array(startedInstanceSchema),
  }),
  completedEarlierResultSchema,
]);

/** @public */
export type RestartResult = z.infer<typeof restartResultSchema>;

/**
 * What an `uninstall` records: the versions it removed.
 *
 * @public
 */
export const uninstallResultSchema = z.union([
  z.object({ removedVersions: z.array(z.string()) }),
  completedEarlierResultSchema,
]);

/** @public */
export type UninstallResult = z.infer<typeof uninstallResultSchema>;

/**
 * A configuration layer a rollback wrote back to an earlier content.
 *
 * @public
 */
export const restoredLayerSchema = z.object({
  layer: z.string(),
  version: z.number(),
  revision: z.number(),
  /** The layer's latest version before (0: none). */
  previousVersion: z.number(),
});

/** @public */
export type RestoredLayerResult = z.infer<typeof restoredLayerSchema>;

/**
 * What an `update` records: both versions and the configuration revisions
 * each ran with (a rollback restores both together), the instances it
 * started, and for a rollback what it rolled back and restored.
 *
 * @public
 */
export const updateResultSchema = z.object({
  fromVersion: z.string(),
  toVersion: z.string(),
  fromConfigRevision: z.number(),
  configRevision: z.number(),
  instances: z.array(z.string()),
  rollbackOf: z.string().optional(),
  restoredConfiguration: z.array(restoredLayerSchema).optional(),
  /** The deployment that moves the instances (it goes on after the operation ends). */
  deploymentId: z.string().optional(),
});

/** @public */
export type UpdateResult = z.infer<typeof updateResultSchema>;

/**
 * What a `configure` records: the revision applied, how and to how many
 * instances, or why nothing was applied.
 *
 * @public
 */
export const configureResultSchema = z.union([
  z.object({ applied: z.literal(0), reason: z.string() }),
  z.object({
    revision: z.number(),
    strategy: z.enum(['signal', 'endpoint', 'restart']),
    instances: z.number().int(),
  }),
]);

/** @public */
export type ConfigureResult = z.infer<typeof configureResultSchema>;

/**
 * The schemas of every operation type: its parameters and its result.
 *
 * @public
 */
export const operationSchemas = {
  install: { params: installParamsSchema, result: installResultSchema },
  update: { params: updateParamsSchema, result: updateResultSchema },
  start: { params: actionParamsSchema, result: startResultSchema },
  stop: { params: actionParamsSchema, result: stopResultSchema },
  restart: { params: restartParamsSchema, result: restartResultSchema },
  uninstall: { params: actionParamsSchema, result: uninstallResultSchema },
  configure: { params: configureParamsSchema, result: configureResultSchema },
  'maintenance-on': {
    params: maintenanceParamsSchema,
    result: maintenanceResultSchema,
  },
  'maintenance-off': {
    params: maintenanceParamsSchema,
    result: maintenanceResultSchema,
  },
} as const satisfies Record<
  OperationType,
  { params: z.ZodType; result: z.ZodType }
>;

/**
 * Operation type -> what it carries and what it records.
 *
 * @public
 */
export type OperationTypeMap = {
  [T in OperationType]: {
    params: z.infer<(typeof operationSchemas)[T]['params']>;
    result: z.infer<(typeof operationSchemas)[T]['result']>;
  };
};

/** The parameters of an operation type. @public */
export type OperationParams<T extends OperationType> =
  OperationTypeMap[T]['params'];

/** The result of an operation type. @public */
export type OperationResult<T extends OperationType> =
  OperationTypeMap[T]['result'];

/**
 * An operation with the parameters of its type, as a worker runs it (its
 * result is what the worker returns).
 *
 * @public
 */
export type TypedOperation<T extends OperationType = OperationType> = Omit<
  Operation,
  'type' | 'params' | 'result'
> & {
  type: T;
  params: OperationParams<T>;
};

/** The parameter schema of each type, typed by the type it reads. */
const paramsSchemas: {
  [T in OperationType]: z.ZodType<OperationParams<T>>;
} = {
  install: operationSchemas.install.params,
  update: operationSchemas.update.params,
  start: operationSchemas.start.params,
  stop: operationSchemas.stop.params,
  restart: operationSchemas.restart.params,
  uninstall: operationSchemas.uninstall.params,
  configure: operationSchemas.configure.params,
  'maintenance-on': operationSchemas['maintenance-on'].params,
  'maintenance-off': operationSchemas['maintenance-off'].params,
};

/**
 * Reads an operation's parameters with the schema of its type.
 *
 * @public
 */
export function parseOperationParams<T extends OperationType>(
  type: T,
  params: unknown,
):
  | { success: true; params: OperationParams<T> }
  | { success: false; message: string } {
  // A type this version does not know (written by a newer replica).
  const schema: z.ZodType<OperationParams<T>> | undefined = paramsSchemas[type];
  if (!schema) {
    return { success: false, message: `unknown operation type '${type}'` };
  }
  const parsed = schema.safeParse(params ?? {});
  return parsed.success
    ? { success: true, params: parsed.data }
    : { success: false, message: validationMessage(parsed.error) };
}
