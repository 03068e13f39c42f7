import { ConflictError } from '@backstage/errors';
import {
  LifecycleState,
  isTransitional,
  isTransitionAllowed,
} from '@internal/plugin-lifecycle-common';
import {
  PluginPatch,
  PluginRecord,
  PluginStore,
} from '../../database/PluginStore';
import { SystemEvents } from '../../events/SystemEvents';

/** Who moves a plugin, and why. */
export interface TransitionContext {
  action: string;
  operationId?: string;
  actor?: string;
  reason?: string;
  patch?: PluginPatch;
}

/**
 * Applies lifecycle transitions: checks them against the table, writes them
 * with optimistic concurrency (same state and revision as read) together with
 * their history entry, and announces them.
 */
export class LifecycleStateMachine {
  readonly #store: PluginStore;
  readonly #events: SystemEvents;

  private constructor(store: PluginStore, events: SystemEvents) {
    this.#store = store;
    this.#events = events;
  }

  static create(options: { store: PluginStore; events: SystemEvents }) {
    return new LifecycleStateMachine(options.store, options.events);
  }

  async transition(
    plugin: PluginRecord,
    to: LifecycleState,
    context: TransitionContext,
  ): Promise<PluginRecord> {
    if (!isTransitionAllowed(plugin.state, to)) {
      throw new ConflictError(
        `Plugin '${plugin.id}' is ${plugin.state}; it cannot move to ${to}`,
      );
    }
    const { updatedAt, revision, rebasedOn } =
      await this.#store.applyTransition({
        pluginId: plugin.id,
        from: plugin.state,
        to,
        expectedRevision: plugin.revision,
        ...context,
      });
    // The row now holds exactly this: no need to read it back.
    // (with the fields written meanwhile, if any: see applyTransition)
    const updated: PluginRecord = {
      ...(rebasedOn ?? plugin),
      ...context.patch,
      state: to,
      revision,
      operationId: isTransitional(to) ? context.operationId : undefined,
      updatedAt,
    };
    this.#events.publish('stateMachine', 'stateChanged', {
      pluginId: plugin.id,
      from: plugin.state,
      to,
      revision: updated.revision,
      action: context.action,
      operationId: context.operationId,
      actor: context.actor,
      reason: context.reason,
    });
    return updated;
  }

  /** Re-reads the plugin, then transitions it (for compensation paths). */
  async transitionLatest(
    pluginId: string,
    to: LifecycleState,
    context: TransitionContext,
  ): Promise<PluginRecord> {
    return this.transition(await this.#store.getOrThrow(pluginId), to, context);
  }
}
