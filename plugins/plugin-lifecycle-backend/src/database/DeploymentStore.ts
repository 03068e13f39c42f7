import { NotFoundError } from '@backstage/errors';
import { Knex } from 'knex';
import { createDeployment } from './operations/deployments/createDeployment';
import {
  DeploymentFilter,
  DeploymentPatch,
  DeploymentRecord,
  NewDeployment,
} from './operations/deployments/deploymentTypes';
import { claimDue, release, renewLease } from './operations/deployments/leases';
import {
  countDeploymentsByPhase,
  activeForPlugin,
  getDeployment,
  listDeployments,
} from './operations/deployments/readDeployments';
import {
  DeploymentChange,
  changeDeployment,
  saveDeployment,
} from './operations/deployments/saveDeployment';

export { toDeployment } from './operations/deployments/deploymentTypes';
export type {
  DeploymentChange,
  DeploymentFilter,
  DeploymentPatch,
  DeploymentRecord,
  NewDeployment,
};

/**
 * Deployments: rollouts of a plugin from one version to another, persisted
 * so that a controller on any replica can advance them step by step and a
 * restarted backend resumes them where they were.
 *
 * A plugin has at most one active deployment (a unique index decides
 * between concurrent creates). The controller leases the deployments it
 * works on ({@link DeploymentStore.claimDue}); every write is a
 * compare-and-set on the revision ({@link DeploymentStore.save}), so an API
 * action (pause, promote, ...) and the controller never overwrite each other.
 */
export class DeploymentStore {
  readonly #db: Knex;
  readonly #clock: () => number;

  private constructor(db: Knex, clock: () => number) {
    this.#db = db;
    this.#clock = clock;
  }

  /**
   * The store over a migrated database. `clock` (ms since the epoch, default
   * `Date.now`) dates the writes and the leases that take no `now`.
   */
  static create(options: {
    database: Knex;
    clock?: () => number;
  }): DeploymentStore {
    return new DeploymentStore(options.database, options.clock ?? Date.now);
  }

  /**
   * Creates a deployment at revision 1.
   *
   * @throws ConflictError (409) naming the active deployment when the plugin
   *   already has an active one, or when the id is taken
   */
  create(d: NewDeployment): Promise<DeploymentRecord> {
    return createDeployment(this.#db, d, this.#now());
  }

  get(id: string): Promise<DeploymentRecord | undefined> {
    return getDeployment(this.#db, id);
  }

  /** @throws NotFoundError when there is no such deployment */
  async getOrThrow(id: string): Promise<DeploymentRecord> {
    const deployment = await this.get(id);
    if (!deployment) {
      throw new NotFoundError(`No deployment with id '${id}'`);
    }
    return deployment;
  }

  /** Deployments, newest first (at most `limit`, default 50). */
  list(filter: DeploymentFilter = {}): Promise<DeploymentRecord[]> {
    return listDeployments(this.#db, filter);
  }

  /** The plugin's one active deployment, if it has one. */
  activeForPlugin(pluginId: string): Promise<DeploymentRecord | undefined> {
    return activeForPlugin(this.#db, pluginId);
  }

  /**
   * Claims up to `limit` active deployments that are due (`next_run_at`
   * passed or absent) and not leased by a live owner (no lease, or an
   * expired one), leasing them to `owner` for `leaseMs`; the longest waiting
   * first. Two replicas claiming at once never get the same deployment.
   * A deployment `owner` itself holds a live lease on is not returned again.
   */
  claimDue(
    owner: string,
    options: { leaseMs: number; limit: number; now?: Date },
  ): Promise<DeploymentRecord[]> {
    return claimDue(this.#db, owner, {
      ...options,
      now: options.now ?? this.#now(),
    });
  }

  /** Extends `owner`'s lease by `leaseMs` from now; false when the lease was lost. */
  renewLease(id: string, owner: string, leaseMs: number): Promise<boolean> {
    return renewLease(this.#db, id, owner, leaseMs, this.#now());
  }

  /** Gives up `owner`'s lease (nothing, when it no longer holds it). */
  release(id: string, owner: string): Promise<void> {
    return release(this.#db, id, owner);
  }

  /**
   * Compare-and-set on the revision; with `owner`, also refuses when that
   * owner no longer holds the lease. Bumps the revision and `updatedAt`,
   * keeps `active` in step with the phase and sets `finishedAt` when the
   * phase becomes terminal. Returns the new record, or undefined on a lost
   * race.
   *
   * @throws ConflictError when the patch makes the deployment active again
   *   (a retry) while another deployment of its plugin is active
   */
  save(
    id: string,
    expectedRevision: number,
    patch: DeploymentPatch,
    options: { owner?: string } = {},
  ): Promise<DeploymentRecord | undefined> {
    return saveDeployment(this.#db, id, expectedRevision, patch, {
      owner: options.owner,
      now: this.#now(),
    });
  }

  /**
   * Read-modify-write with retries on revision races: `decide` gets the
   * deployment as it is now and returns a patch, or undefined for no change
   * (then the deployment is returned as read). What `decide` throws
   * (ConflictError, ...) propagates.
   *
   * @throws NotFoundError when there is no such deployment
   */
  change(id: string, decide: DeploymentChange): Promise<DeploymentRecord> {
    return changeDeployment(this.#db, id, decide, () => this.#now());
  }

  #now(): Date {
    return new Date(this.#clock());
  }

  /** Deployments per phase, within the tenants given (all when not given). */
  countByPhase(tenants?: DeploymentFilter['tenants']) {
    return countDeploymentsByPhase(this.#db, tenants);
  }

  /**
   * Ends a deployment that never started (still `pending`: its update did
   * not run, could not be queued, or its train stopped) with a terminal
   * phase and the reason. The deployment as it is after, or undefined when
   * it had left `pending` (nothing changed). With `operationId`, only while
   * that is still its update (a retry gives it another).
   */
  async endPending(
    id: string,
    phase: 'failed' | 'aborted',
    message: string,
    options: { operationId?: string } = {},
  ): Promise<DeploymentRecord | undefined> {
    let ended = false;
    const after = await this.change(id, current => {
      ended =
        current.phase === 'pending' &&
        (options.operationId === undefined ||
          current.operationId === options.operationId);
      return ended ? { phase, message, nextRunAt: undefined } : undefined;
    });
    return ended ? after : undefined;
  }
}
