import {
  AbMatch,
  DeploymentPhase,
  DeploymentStrategy,
  TERMINAL_DEPLOYMENT_PHASES,
} from '@internal/plugin-lifecycle-common';
import { fromJson, optional, toIso, toJson } from '../../mappers';
import {
  DeploymentPatch,
  DeploymentRecord,
  NewDeployment,
} from './deploymentTypes';

/** A row of `deployments`. */
export type DeploymentRow = {
  id: string;
  plugin_id: string;
  tenant: string;
  strategy: string;
  from_version: string;
  to_version: string;
  environment: string | null;
  phase: string;
  /** SQLite gives 0 or 1. */
  active: boolean | number;
  message: string | null;
  current_step: number | string;
  config: string;
  steps: string;
  traffic: string;
  match: string | null;
  instances: string;
  analysis: string;
  approvals: string;
  step_state: string;
  winner: string | null;
  operation_id: string | null;
  created_by: string | null;
  created_at: Date | string;
  updated_at: Date | string;
  finished_at: Date | string | null;
  step_started_at: Date | string | null;
  next_run_at: Date | string | null;
  lease_owner: string | null;
  lease_expires_at: Date | string | null;
  revision: number | string;
};

/** The columns of {@link DeploymentRow}, for statements that list them. */
export const DEPLOYMENT_COLUMNS: Array<keyof DeploymentRow> = [
  'id',
  'plugin_id',
  'tenant',
  'strategy',
  'from_version',
  'to_version',
  'environment',
  'phase',
  'active',
  'message',
  'current_step',
  'config',
  'steps',
  'traffic',
  'match',
  'instances',
  'analysis',
  'approvals',
  'step_state',
  'winner',
  'operation_id',
  'created_by',
  'created_at',
  'updated_at',
  'finished_at',
  'step_started_at',
  'next_run_at',
  'lease_owner',
  'lease_expires_at',
  'revision',
];

/** Phases in which a deployment holds its plugin's one active slot. */
export function isActivePhase(phase: DeploymentPhase): boolean {
  return !TERMINAL_DEPLOYMENT_PHASES.includes(phase);
}

/** The row of a new deployment, written at `timestamp` (ISO). */
export function newDeploymentRow(
  input: NewDeployment,
  timestamp: string,
): DeploymentRow {
  const active = isActivePhase(input.phase);
  return {
    id: input.id,
    plugin_id: input.pluginId,
    tenant: input.tenant,
    strategy: input.strategy,
    from_version: input.fromVersion,
    to_version: input.toVersion,
    environment: input.environment ?? null,
    phase: input.phase,
    active,
    message: input.message ?? null,
    current_step: input.currentStep,
    config: toJson(input.config ?? {}),
    steps: toJson(input.steps ?? []),
    traffic: toJson(input.traffic ?? {}),
    match: input.match ? toJson(input.match) : null,
    instances: toJson(input.instances ?? {}),
    analysis: toJson(input.analysis ?? []),
    approvals: toJson(input.approvals ?? []),
    step_state: toJson(input.stepState ?? {}),
    winner: input.winner ?? null,
    operation_id: input.operationId ?? null,
    created_by: input.createdBy ?? null,
    created_at: timestamp,
    updated_at: timestamp,
    // created finished (nothing to do): finished now
    finished_at: active ? null : timestamp,
    step_started_at: input.stepStartedAt ?? null,
    next_run_at: input.nextRunAt ?? null,
    lease_owner: null,
    lease_expires_at: null,
    revision: 1,
  };
}

/** Row -> deployment. */
export function rowToDeployment(row: DeploymentRow): DeploymentRecord {
  return {
    id: row.id,
    pluginId: row.plugin_id,
    tenant: row.tenant,
    strategy: row.strategy as DeploymentStrategy,
    fromVersion: row.from_version,
    toVersion: row.to_version,
    environment: optional(row.environment),
    config: fromJson(row.config, {}),
    phase: row.phase as DeploymentPhase,
    message: optional(row.message),
    currentStep: Number(row.current_step),
    steps: fromJson(row.steps, []),
    traffic: fromJson(row.traffic, {}),
    match: fromJson<AbMatch | undefined>(row.match, undefined),
    instances: fromJson(row.instances, {}),
    analysis: fromJson(row.analysis, []),
    approvals: fromJson(row.approvals, []),
    winner: optional(row.winner),
    operationId: optional(row.operation_id),
    createdBy: optional(row.created_by),
    createdAt: toIso(row.created_at),
    updatedAt: toIso(row.updated_at),
    finishedAt: toIso(row.finished_at),
    revision: Number(row.revision),
    stepStartedAt: toIso(row.step_started_at),
    nextRunAt: toIso(row.next_run_at),
    leaseOwner: optional(row.lease_owner),
    leaseExpiresAt: toIso(row.lease_expires_at),
    stepState: fromJson(row.step_state, {}),
  };
}

/**
 * The columns a patch sets (a field given as undefined clears its column),
 * with `active` in step with a new phase. `finished_at` follows the phase
 * too, but from the row as it is: see {@link saveDeployment}.
 */
export function patchToRow(patch: DeploymentPatch): Partial<DeploymentRow> {
  const row: Partial<DeploymentRow> = {};
  if ('strategy' in patch) row.strategy = patch.strategy!;
  if ('fromVersion' in patch) row.from_version = patch.fromVersion!;
  if ('toVersion' in patch) row.to_version = patch.toVersion!;
  if ('environment' in patch) row.environment = patch.environment ?? null;
  if (patch.phase !== undefined) {
    row.phase = patch.phase;
    row.active = isActivePhase(patch.phase);
  }
  if ('message' in patch) row.message = patch.message ?? null;
  if ('currentStep' in patch) row.current_step = patch.currentStep ?? 0;
  if ('config' in patch) row.config = toJson(patch.config ?? {});
  if ('steps' in patch) row.steps = toJson(patch.steps ?? []);
  if ('traffic' in patch) row.traffic = toJson(patch.traffic ?? {});
  if ('match' in patch) row.match = patch.match ? toJson(patch.match) : null;
  if ('instances' in patch) row.instances = toJson(patch.instances ?? {});
  if ('analysis' in patch) row.analysis = toJson(patch.analysis ?? []);
  if ('approvals' in patch) row.approvals = toJson(patch.approvals ?? []);
  if ('stepState' in patch) row.step_state = toJson(patch.stepState ?? {});
  if ('winner' in patch) row.winner = patch.winner ?? null;
  if ('operationId' in patch) row.operation_id = patch.operationId ?? null;
  if ('createdBy' in patch) row.created_by = patch.createdBy ?? null;
  if ('stepStartedAt' in patch)
    row.step_started_at = patch.stepStartedAt ?? null;
  if ('nextRunAt' in patch) row.next_run_at = patch.nextRunAt ?? null;
  if ('finishedAt' in patch) row.finished_at = patch.finishedAt ?? null;
  return row;
}
