import { ConflictError } from '@backstage/errors';
import { LifecycleAction } from '@internal/plugin-lifecycle-common';
import { QueuedOperation } from '../../database/OperationStore';
import { PluginRecord, PluginStore } from '../../database/PluginStore';
import {
  INITIAL_BREAKER_STATE,
  breakerAllows,
  breakerRecord,
} from '../../domain/orchestration';
import { SystemEvents } from '../../events/SystemEvents';

/** Options of {@link PluginBreaker.create}. */
export interface PluginBreakerOptions {
  plugins: PluginStore;
  events: SystemEvents;
  /** pluginLifecycle.orchestrator.circuitBreaker.failureThreshold */
  failureThreshold: number;
  /** pluginLifecycle.orchestrator.circuitBreaker.coolDown */
  coolDownMs: number;
}

/**
 * The per-plugin circuit breaker on operations: commands ask it before they
 * queue, the orchestrator tells it how each operation ended.
 */
export class PluginBreaker {
  readonly #o: PluginBreakerOptions;

  static create(options: PluginBreakerOptions): PluginBreaker {
    return new PluginBreaker(options);
  }

  private constructor(options: PluginBreakerOptions) {
    this.#o = options;
  }

  /**
   * Refuses the action while the plugin's breaker is open; after the
   * cool-down one trial goes through (and is recorded as in flight).
   */
  async assertAllows(plugin: PluginRecord, action: LifecycleAction) {
    const before = plugin.breaker ?? INITIAL_BREAKER_STATE;
    const verdict = breakerAllows(before, Date.now(), this.#options());
    if (!verdict.allowed) {
      throw new ConflictError(
        `Cannot ${action} plugin '${plugin.id}': ${verdict.reason}`,
      );
    }
    if (JSON.stringify(verdict.state) !== JSON.stringify(before)) {
      await this.#o.plugins.update(plugin.id, { breaker: verdict.state });
    }
  }

  /** Records an operation's final outcome (the orchestrator's `onOperationFinished`). */
  async record(op: QueuedOperation, succeeded: boolean) {
    const plugin = await this.#o.plugins.get(op.pluginId);
    if (!plugin) return;
    const before = plugin.breaker ?? INITIAL_BREAKER_STATE;
    if (
      succeeded &&
      before.status === 'closed' &&
      before.consecutiveFailures === 0
    ) {
      return; // the common case: nothing changes
    }
    const after = breakerRecord(
      before,
      succeeded ? 'success' : 'failure',
      Date.now(),
      this.#options(),
    );
    await this.#o.plugins.update(plugin.id, { breaker: after });
    if (after.status === 'open' && before.status !== 'open') {
      this.#o.events.publish('orchestrator', 'circuitOpened', {
        pluginId: plugin.id,
        consecutiveFailures: after.consecutiveFailures,
      });
    }
  }

  #options() {
    return {
      failureThreshold: this.#o.failureThreshold,
      coolDownMs: this.#o.coolDownMs,
    };
  }
}
