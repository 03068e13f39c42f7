import { Deployment } from '@internal/plugin-lifecycle-common';
import { TenantScope } from '../../../domain/tenancy';

/** A deployment as stored: the API object plus what the controller needs. */
export interface DeploymentRecord extends Deployment {
  /** Bumped on every write; {@link DeploymentPatch}es are compare-and-set on it. */
  revision: number;
  /** When the current step started (ISO). */
  stepStartedAt?: string;
  /** When the controller should look at it next (ISO); absent: now. */
  nextRunAt?: string;
  /** The replica advancing it now. */
  leaseOwner?: string;
  leaseExpiresAt?: string;
  /** Executor scratch data for the current step (analysis baselines, extensions, ...). */
  stepState: Record<string, unknown>;
}

/** What creating a deployment takes. */
export type NewDeployment = Omit<
  DeploymentRecord,
  | 'revision'
  | 'createdAt'
  | 'updatedAt'
  | 'leaseOwner'
  | 'leaseExpiresAt'
  | 'stepState'
  | 'finishedAt'
> & { stepState?: Record<string, unknown> };

/**
 * The fields a write may change. A field given as undefined clears it
 * (an empty list or object for the JSON fields that always have one).
 * `updatedAt` is always set to the time of the write.
 */
export type DeploymentPatch = Partial<
  Omit<
    DeploymentRecord,
    | 'id'
    | 'pluginId'
    | 'tenant'
    | 'revision'
    | 'createdAt'
    | 'leaseOwner'
    | 'leaseExpiresAt'
  >
>;

/** What {@link DeploymentStore.list} can filter by. */
export interface DeploymentFilter {
  pluginId?: string;
  phase?: Deployment['phase'];
  /** Only deployments that are (true) or are not (false) active. */
  active?: boolean;
  /** A caller's scope; all tenants: no filter. */
  tenants?: TenantScope;
  /** At most this many (default 50). */
  limit?: number;
  /** A page: only deployments created before this time (ISO). */
  before?: string;
}

/** The deployment as the API shows it, without the controller's bookkeeping. */
export function toDeployment(record: DeploymentRecord): Deployment {
  const {
    revision: _revision,
    stepStartedAt: _stepStartedAt,
    nextRunAt: _nextRunAt,
    leaseOwner: _leaseOwner,
    leaseExpiresAt: _leaseExpiresAt,
    stepState: _stepState,
    ...deployment
  } = record;
  return deployment;
}
