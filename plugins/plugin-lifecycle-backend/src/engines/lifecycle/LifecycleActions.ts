import {
  CompletedEarlierResult,
  LifecycleState,
  TypedOperation,
} from '@internal/plugin-lifecycle-common';
import type { TypedOperationHandlers } from '../orchestrator/operationHandlers';
import { ActionSteps, LifecycleActionsOptions } from './ActionSteps';
import { applyConfiguration } from './configureAction';
import { installPlugin } from './installAction';
import { enterMaintenance, exitMaintenance } from './maintenanceActions';
import { replaceInstance } from './replaceInstance';
import { restartPlugin, startPlugin, stopPlugin } from './startStopActions';
import { uninstallPlugin } from './uninstallAction';
import { updatePlugin } from './updateAction';

export type { LifecycleActionsOptions } from './ActionSteps';

/** The actions whose success is told by the state they end in. */
type EndStateAction = 'install' | 'start' | 'stop' | 'restart' | 'uninstall';

/**
 * Where each action leaves a plugin when it succeeds, for actions whose
 * success is told by the state alone (update and configure end where they
 * began, so a finished earlier attempt cannot be told apart by state).
 */
const ACTION_END_STATES: Record<EndStateAction, LifecycleState> = {
  install: 'installed',
  start: 'running',
  stop: 'installed',
  restart: 'running',
  uninstall: 'inactive',
};

/**
 * What each lifecycle action does, step by step, with the compensating
 * action for each failure: a failed install cleans up and returns to
 * `inactive`; a failed start stops what it started and ends in `error`.
 *
 * This is the registry of the actions (one module per action family:
 * install, start/stop/restart, update and its rollback, uninstall,
 * configure, the replacement of one instance) over the steps they share
 * ({@link ActionSteps}, with {@link InstanceManager} for the instances).
 */
export class LifecycleActions {
  readonly #steps: ActionSteps;

  private constructor(options: LifecycleActionsOptions) {
    this.#steps = ActionSteps.create(options);
  }

  static create(options: LifecycleActionsOptions) {
    return new LifecycleActions(options);
  }

  /** The steps the actions share, for the deployment controller's instance work. */
  get steps(): ActionSteps {
    return this.#steps;
  }

  /** The handler of each operation type, for the orchestrator. */
  handlers(): TypedOperationHandlers {
    const s = this.#steps;
    return {
      install: async (op, signal) =>
        (await this.#completedEarlier(op)) ?? installPlugin(s, op, signal),
      start: async (op, signal) =>
        (await this.#completedEarlier(op)) ?? startPlugin(s, op, signal),
      stop: async op => (await this.#completedEarlier(op)) ?? stopPlugin(s, op),
      restart: async (op, signal) => {
        const done = await this.#completedEarlier(op);
        if (done) return done;
        const { instanceId } = op.params;
        return instanceId
          ? replaceInstance(s, op, instanceId, signal)
          : restartPlugin(s, op, signal);
      },
      uninstall: async op =>
        (await this.#completedEarlier(op)) ?? uninstallPlugin(s, op),
      // Update and configure end in the state they began in: an earlier
      // attempt's success cannot be told by state (see ACTION_END_STATES).
      update: (op, signal) => updatePlugin(s, op, signal),
      configure: (op, signal) => applyConfiguration(s, op, signal),
      // No transitional state and no instance touched: see maintenanceActions.
      'maintenance-on': op => enterMaintenance(s, op),
      'maintenance-off': op => exitMaintenance(s, op),
    };
  }

  /**
   * A later attempt of an operation whose earlier attempt finished the work
   * but was cut off before its outcome was written (its replica went away):
   * the plugin is in the action's end state by this operation's own
   * transition. Running the action again would try to leave that state
   * (installed -> installing) and fail; the work is done, so say so.
   */
  async #completedEarlier(
    op: TypedOperation<EndStateAction>,
  ): Promise<CompletedEarlierResult | undefined> {
    if (op.attempts <= 1) return undefined;
    const endState = ACTION_END_STATES[op.type];
    const last = await this.#steps.plugins.lastTransition(op.pluginId);
    if (!last || last.operationId !== op.id || last.toState !== endState) {
      return undefined;
    }
    this.#steps.logger.info(
      `operation ${op.id} (${op.type} of ${op.pluginId}) was completed by an earlier attempt; nothing to redo`,
    );
    return { completedByEarlierAttempt: true, state: endState };
  }
}
