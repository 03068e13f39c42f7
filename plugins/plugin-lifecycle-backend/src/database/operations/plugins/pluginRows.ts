import {
  Artifact,
  LifecycleState,
  PluginManifest,
  StateTransition,
} from '@internal/plugin-lifecycle-common';
import { BreakerState } from '../../../domain/orchestration';
import { fromJson, optional, toIso, toJson } from '../../mappers';
import {
  NewPlugin,
  PluginPatch,
  PluginRecord,
  StoredVersion,
} from './pluginTypes';

/** A row of `plugins`. */
export type PluginRow = {
  id: string;
  tenant: string;
  entity_ref: string | null;
  runtime: string;
  state: string;
  revision: number;
  desired_state: string | null;
  current_version: string | null;
  replicas: number;
  environment: string | null;
  configuration: string | null;
  probes: string | null;
  last_error: string | null;
  operation_id: string | null;
  breaker: string | null;
  config_revision: number | string | null;
  created_at: Date | string;
  updated_at: Date | string;
};

/** A row of `plugin_versions`. */
export type VersionRow = {
  plugin_id: string;
  version: string;
  artifact: string;
  manifest: string;
  location: string | null;
  installed_at: Date | string;
};

/** A row of `state_transitions`. */
export type TransitionRow = {
  id: number | string;
  plugin_id: string;
  from_state: string;
  to_state: string;
  action: string;
  operation_id: string | null;
  actor: string | null;
  reason: string | null;
  created_at: Date | string;
};

/** Rows per statement (and ids per lookup) of the several-at-once writes and reads. */
export const MANY_CHUNK = 500;

/** The columns of {@link PluginRow}, for statements that list them. */
export const PLUGIN_COLUMNS = [
  'id',
  'tenant',
  'entity_ref',
  'runtime',
  'state',
  'revision',
  'desired_state',
  'current_version',
  'replicas',
  'environment',
  'configuration',
  'probes',
  'last_error',
  'operation_id',
  'breaker',
  'config_revision',
  'created_at',
  'updated_at',
];

/** The columns a {@link PluginPatch} may set, with their PostgreSQL types. */
export const PATCH_COLUMNS: Array<[keyof PluginRow, string]> = [
  ['tenant', 'text'],
  ['entity_ref', 'text'],
  ['runtime', 'text'],
  ['desired_state', 'text'],
  ['current_version', 'text'],
  ['replicas', 'int'],
  ['environment', 'text'],
  ['configuration', 'text'],
  ['probes', 'text'],
  ['last_error', 'text'],
  ['breaker', 'text'],
  ['config_revision', 'bigint'],
];

/** The row of a new plugin. */
export function newPluginRow(input: NewPlugin, timestamp: string) {
  return {
    id: input.id,
    tenant: input.tenant,
    entity_ref: input.entityRef ?? null,
    runtime: input.runtime,
    state: 'inactive',
    revision: 0,
    replicas: input.replicas ?? 1,
    configuration: toJson([]),
    probes: toJson([]),
    created_at: timestamp,
    updated_at: timestamp,
  };
}

/** The record of a new plugin, as {@link newPluginRow} stores it. */
export function newPluginRecord(
  input: NewPlugin,
  timestamp: string,
): PluginRecord {
  return {
    id: input.id,
    tenant: input.tenant,
    entityRef: input.entityRef,
    runtime: input.runtime,
    state: 'inactive',
    revision: 0,
    replicas: input.replicas ?? 1,
    configuration: [],
    probes: [],
    createdAt: timestamp,
    updatedAt: timestamp,
  };
}

/** Row -> plugin. */
export function rowToPlugin(row: PluginRow): PluginRecord {
  return {
    id: row.id,
    tenant: row.tenant,
    entityRef: optional(row.entity_ref),
    runtime: row.runtime,
    state: row.state as LifecycleState,
    revision: Number(row.revision),
    desiredState: optional(row.desired_state) as LifecycleState | undefined,
    currentVersion: optional(row.current_version),
    replicas: Number(row.replicas),
    environment: optional(row.environment),
    configuration: fromJson(row.configuration, []),
    probes: fromJson(row.probes, []),
    lastError: optional(row.last_error),
    operationId: optional(row.operation_id),
    breaker: fromJson<BreakerState | undefined>(row.breaker, undefined),
    configRevision:
      row.config_revision === null || row.config_revision === undefined
        ? undefined
        : Number(row.config_revision),
    createdAt: toIso(row.created_at),
    updatedAt: toIso(row.updated_at),
  };
}

/** The columns a patch sets (a field given as undefined clears its column). */
export function patchToRow(patch: PluginPatch): Partial<PluginRow> {
  const row: Partial<PluginRow> = {};
  if ('tenant' in patch) row.tenant = patch.tenant!;
  if ('entityRef' in patch) row.entity_ref = patch.entityRef ?? null;
  if ('runtime' in patch) row.runtime = patch.runtime!;
  if ('desiredState' in patch) row.desired_state = patch.desiredState ?? null;
  if ('currentVersion' in patch)
    row.current_version = patch.currentVersion ?? null;
  if ('replicas' in patch) row.replicas = patch.replicas!;
  if ('environment' in patch) row.environment = patch.environment ?? null;
  if ('configuration' in patch)
    row.configuration = toJson(patch.configuration ?? []);
  if ('probes' in patch) row.probes = toJson(patch.probes ?? []);
  if ('lastError' in patch) row.last_error = patch.lastError ?? null;
  if ('breaker' in patch)
    row.breaker = patch.breaker ? toJson(patch.breaker) : null;
  if ('configRevision' in patch)
    row.config_revision = patch.configRevision ?? null;
  return row;
}

/** Version -> row. */
export function versionToRow(version: StoredVersion): VersionRow {
  return {
    plugin_id: version.pluginId,
    version: version.version,
    artifact: toJson(version.artifact),
    manifest: toJson(version.manifest),
    location: version.location ?? null,
    installed_at: version.installedAt,
  };
}

/** Row -> version. */
export function rowToVersion(row: VersionRow): StoredVersion {
  return {
    pluginId: row.plugin_id,
    version: row.version,
    artifact: fromJson<Artifact>(row.artifact, undefined as any),
    manifest: fromJson<PluginManifest>(row.manifest, {}),
    location: optional(row.location),
    installedAt: toIso(row.installed_at),
  };
}

/** Row -> history entry. */
export function rowToTransition(row: TransitionRow): StateTransition {
  return {
    id: Number(row.id),
    pluginId: row.plugin_id,
    fromState: row.from_state as LifecycleState,
    toState: row.to_state as LifecycleState,
    action: row.action,
    operationId: optional(row.operation_id),
    actor: optional(row.actor),
    reason: optional(row.reason),
    createdAt: toIso(row.created_at),
  };
}
