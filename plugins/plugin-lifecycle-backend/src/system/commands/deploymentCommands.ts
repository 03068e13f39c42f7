import { ConflictError, InputError, NotFoundError } from '@backstage/errors';
import {
  DEPLOYMENT_ACTIONS,
  Deployment,
  DeploymentAction,
  DeploymentPhase,
  OperationAccepted,
  deploymentActionRequestSchema,
  validationMessage,
} from '@internal/plugin-lifecycle-common';
import {
  DeploymentPatch,
  DeploymentRecord,
  DeploymentStore,
  toDeployment,
} from '../../database/DeploymentStore';
import { PluginStore } from '../../database/PluginStore';
import {
  applyDeploymentAction,
  DeploymentActionPatch,
} from '../../domain/deployments/actions';
import { ALL_TENANTS, inTenantScope, TenantScope } from '../../domain/tenancy';
import { SystemEvents } from '../../events/SystemEvents';
import { deploymentEventOf } from '../../events/eventMap';
import { PluginBreaker } from './breaker';
import { InstallCommands } from './installCommands';
import { OperationQueries } from './operationQueries';
import { OperationQueue } from './operationQueue';
import { PluginLookup } from './pluginLookup';

/** Options of {@link DeploymentCommands.create}. */
export interface DeploymentCommandsOptions {
  deployments: DeploymentStore;
  plugins: PluginStore;
  lookup: PluginLookup;
  events: SystemEvents;
  queue: OperationQueue;
  breaker: PluginBreaker;
  operations: OperationQueries;
  /** The rollback of a succeeded deployment is the rollback of its update. */
  install: Pick<InstallCommands, 'rollbackUpdate'>;
  /** ms since the epoch; `Date.now` unless a test controls time. */
  clock?: () => number;
  /** Tells the deployment controller that a deployment changed (it looks at once). */
  wake?: () => void;
}

/** A filter of deployment lists. @public */
export interface DeploymentListFilter {
  pluginId?: string;
  phase?: DeploymentPhase;
  active?: boolean;
  /** 50 unless given. */
  limit?: number;
  /** Created before this time (ISO): the next page. */
  before?: string;
}

/** Who acts on a deployment and within which tenants. @public */
export interface DeploymentActionOptions {
  userId?: string;
  scope?: TenantScope;
}

/**
 * What an action answers: the deployment as it left it, or (the rollback
 * of a succeeded deployment) the update operation that rolls it back.
 *
 * @public
 */
export type DeploymentActionOutcome =
  | { deployment: Deployment; operation?: undefined }
  | { deployment?: undefined; operation: OperationAccepted };

/**
 * Reading deployments within a caller's tenants, and the actions a person
 * takes on one: each checked against the deployment's phase inside the
 * store's compare-and-set (so an action never lands on a state the
 * controller has moved on from), then announced as a
 * `deploymentManager:*` event.
 */
export class DeploymentCommands {
  readonly #o: DeploymentCommandsOptions;
  readonly #now: () => number;

  static create(options: DeploymentCommandsOptions): DeploymentCommands {
    return new DeploymentCommands(options);
  }

  private constructor(options: DeploymentCommandsOptions) {
    this.#o = options;
    this.#now = options.clock ?? Date.now;
  }

  /** The deployment, when its tenant is in the scope (404 otherwise). */
  async getDeployment(
    deploymentId: string,
    scope: TenantScope = ALL_TENANTS,
  ): Promise<Deployment> {
    return toDeployment(await this.#visible(deploymentId, scope));
  }

  /** Deployments in the scope, newest first. */
  async listDeployments(
    filter: DeploymentListFilter = {},
    scope: TenantScope = ALL_TENANTS,
  ): Promise<Deployment[]> {
    const records = await this.#o.deployments.list({
      ...filter,
      limit: filter.limit ?? 50,
      tenants: scope,
    });
    return records.map(toDeployment);
  }

  /** A plugin's deployments, newest first (404 for a plugin not in the scope). */
  async listPluginDeployments(
    pluginId: string,
    filter: Omit<DeploymentListFilter, 'pluginId'> = {},
    scope: TenantScope = ALL_TENANTS,
  ): Promise<Deployment[]> {
    const plugin = await this.#o.lookup.get(pluginId, scope);
    return this.listDeployments({ ...filter, pluginId: plugin.id }, scope);
  }

  /**
   * An action on a deployment (see `applyDeploymentAction`): 400 for an
   * unknown action or a bad request, 404 for a deployment outside the
   * scope, 409 where its phase does not allow the action. `rollback` of a
   * succeeded deployment queues the rollback of its update; `retry`
   * queues its update again.
   */
  async act(
    deploymentId: string,
    action: string,
    request: unknown,
    options: DeploymentActionOptions = {},
  ): Promise<DeploymentActionOutcome> {
    const { userId, scope = ALL_TENANTS } = options;
    if (!(DEPLOYMENT_ACTIONS as readonly string[]).includes(action)) {
      throw new InputError(
        `Invalid action '${action}': must be one of ${DEPLOYMENT_ACTIONS.join(
          ', ',
        )}`,
      );
    }
    const parsed = deploymentActionRequestSchema.safeParse(request ?? {});
    if (!parsed.success) {
      throw new InputError(
        `Invalid ${action} request: ${validationMessage(parsed.error)}`,
      );
    }
    const body = parsed.data;
    const current = await this.#visible(deploymentId, scope);
    const act = action as DeploymentAction;
    if (act === 'rollback' && current.phase === 'succeeded') {
      return { operation: await this.#rollbackUpdate(current, body, options) };
    }
    if (act === 'retry') {
      return { deployment: await this.#retry(current, body, options) };
    }
    let patch: DeploymentActionPatch | undefined;
    const updated = await this.#o.deployments.change(deploymentId, d => {
      patch = applyDeploymentAction(d, act, {
        actor: userId,
        reason: body.reason,
        full: body.full,
        winner: body.winner,
        now: new Date(this.#now()).toISOString(),
      });
      return toStorePatch(patch);
    });
    this.#announce(act, current, updated, patch!, { userId, ...body });
    this.#o.wake?.();
    return { deployment: toDeployment(updated) };
  }

  /** The deployment, when it exists and its tenant is in the scope. */
  async #visible(
    deploymentId: string,
    scope: TenantScope,
  ): Promise<DeploymentRecord> {
    const d = await this.#o.deployments.get(deploymentId);
    if (!d || !inTenantScope(scope, d.tenant)) {
      throw new NotFoundError(`No deployment with id '${deploymentId}'`);
    }
    return d;
  }

  /** A succeeded deployment goes back through the rollback of the update that made it. */
  async #rollbackUpdate(
    d: DeploymentRecord,
    body: { reason?: string },
    options: DeploymentActionOptions,
  ): Promise<OperationAccepted> {
    if (!d.operationId) {
      throw new ConflictError(
        `deployment ${d.id} has succeeded but recorded no update operation to roll back; update ${d.pluginId} to ${d.fromVersion} instead`,
      );
    }
    return this.#o.install.rollbackUpdate(d.pluginId, d.operationId, {
      userId: options.userId,
      scope: options.scope,
      reason: body.reason ?? `rollback of deployment ${d.id}`,
    });
  }

  /**
   * Starts a deployment that ended without succeeding again: back to
   * `pending` at step 0 with a new update operation (the first one's
   * artifact and settings), which hands it to the controller again. The
   * plugin must still run the version the deployment moves away from, and
   * no other deployment of it may be active.
   */
  async #retry(
    d: DeploymentRecord,
    body: { reason?: string },
    options: DeploymentActionOptions,
  ): Promise<Deployment> {
    const { userId, scope = ALL_TENANTS } = options;
    const { queue } = this.#o;
    const now = new Date(this.#now()).toISOString();
    // The phase first: a 409 for a deployment that is not over says so.
    applyDeploymentAction(d, 'retry', { actor: userId, now });
    const plugin = await this.#o.lookup.get(d.pluginId, scope);
    if (plugin.currentVersion !== d.fromVersion) {
      throw new ConflictError(
        `Cannot retry deployment ${d.id} of '${plugin.id}' (${
          d.fromVersion
        } -> ${d.toVersion}): the plugin runs ${
          plugin.currentVersion ?? 'no version'
        } now`,
      );
    }
    const active = await this.#o.deployments.activeForPlugin(plugin.id);
    if (active && active.id !== d.id) {
      throw new ConflictError(
        `Cannot retry deployment ${d.id}: deployment ${active.id} of '${plugin.id}' is ${active.phase}`,
      );
    }
    await queue.assertCanQueue(plugin, 'update');
    await this.#o.breaker.assertAllows(plugin, 'update');
    const first = d.operationId
      ? await this.#o.operations.getOperation(d.operationId).catch(error => {
          if (error instanceof NotFoundError) return undefined;
          throw error;
        })
      : undefined;
    const { idempotencyKey: _k, ...firstParams } = (
      first?.type === 'update' ? first.params : {}
    ) as Record<string, unknown>;
    const operation = queue.newOperation({
      pluginId: plugin.id,
      tenant: plugin.tenant,
      type: 'update',
      actor: userId,
      priority: first?.priority,
      params: {
        ...firstParams,
        version: d.toVersion,
        deploymentId: d.id,
        deploymentStrategy: d.strategy,
        deploymentConfig: d.config,
        ...(d.environment ? { environment: d.environment } : {}),
        reason: body.reason ?? `retry of deployment ${d.id}`,
      },
    });
    let patch: DeploymentActionPatch | undefined;
    const updated = await this.#o.deployments.change(d.id, current => {
      patch = applyDeploymentAction(current, 'retry', {
        actor: userId,
        reason: body.reason,
        now,
      });
      return { ...toStorePatch(patch), operationId: operation.id };
    });
    try {
      await queue.enqueue([operation]);
    } catch (error) {
      // Nothing will run it: the deployment ends as it was, with why.
      await this.#o.deployments.change(d.id, () => ({
        phase: d.phase,
        message: `retry failed: ${(error as Error).message}`,
        finishedAt: d.finishedAt ?? now,
      }));
      throw error;
    }
    this.#announce('retry', d, updated, patch!, { userId, ...body });
    return toDeployment(updated);
  }

  /** The events of an applied action. */
  #announce(
    action: DeploymentAction,
    before: DeploymentRecord,
    after: DeploymentRecord,
    patch: DeploymentActionPatch,
    by: { userId?: string; reason?: string },
  ) {
    const { events } = this.#o;
    const who = {
      ...deploymentEventOf(toDeployment(after)),
      ...(by.userId ? { actor: by.userId } : {}),
      ...(by.reason ? { reason: by.reason } : {}),
    };
    events.publish('deploymentManager', 'deploymentActionTaken', {
      ...who,
      action,
    });
    if (action === 'approve' || action === 'reject') {
      const decided = after.approvals.filter(
        a =>
          a.decision &&
          !before.approvals.some(
            b =>
              b.step === a.step &&
              b.requestedAt === a.requestedAt &&
              b.decision,
          ),
      );
      for (const approval of decided) {
        events.publish('deploymentManager', 'deploymentApprovalDecided', {
          ...who,
          approval,
        });
      }
    }
    if (action === 'pause') {
      events.publish('deploymentManager', 'deploymentPaused', who);
    }
    // Steps the action completed (approve, promote).
    if (patch.currentStep !== undefined && action !== 'retry') {
      for (const step of after.steps) {
        const was = before.steps[step.index];
        if (step.status === 'succeeded' && was && was.status !== 'succeeded') {
          events.publish('deploymentManager', 'deploymentStepCompleted', {
            ...who,
            step,
          });
        }
      }
    }
  }
}

/** An action's patch as the store takes it: there, a field given as undefined is cleared. */
function toStorePatch(patch: DeploymentActionPatch): DeploymentPatch {
  return Object.fromEntries(
    Object.entries(patch).map(([key, value]) => [
      key,
      value === null ? undefined : value,
    ]),
  ) as DeploymentPatch;
}
