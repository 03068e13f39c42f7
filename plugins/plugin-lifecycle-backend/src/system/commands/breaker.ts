import { ConflictError } from '@backstage/errors';
import { LifecycleAction } from '@internal/plugin-lifecycle-common';
import { QueuedOperation } from '../../database/OperationStore';
import { PluginRecord, PluginStore } from '../../database/PluginStore';
import {
  BreakerState,
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
    const at = Date.now();
    const decide = (breaker = INITIAL_BREAKER_STATE) => {
      const verdict = breakerAllows(breaker, at, this.#options());
      if (!verdict.allowed) {
        throw new ConflictError(
          `Cannot ${action} plugin '${plugin.id}': ${verdict.reason}`,
        );
      }
      return JSON.stringify(verdict.state) === JSON.stringify(breaker)
        ? undefined
        : { breaker: verdict.state };
    };
    // Decided on the record at hand first (the common case writes nothing),
    // then again on the stored plugin as part of the write.
    if (decide(plugin.breaker)) {
      await this.#o.plugins.change(plugin.id, current =>
        decide(current.breaker),
      );
    }
  }

  /** Records an operation's final outcome (the orchestrator's `onOperationFinished`). */
  async record(op: QueuedOperation, succeeded: boolean) {
    const plugin = await this.#o.plugins.get(op.pluginId);
    if (!plugin) return;
    const unchanged = (breaker: BreakerState) =>
      succeeded &&
      breaker.status === 'closed' &&
      breaker.consecutiveFailures === 0;
    if (unchanged(plugin.breaker ?? INITIAL_BREAKER_STATE)) {
      return; // the common case: nothing changes
    }
    const at = Date.now();
    let before = INITIAL_BREAKER_STATE;
    let after = INITIAL_BREAKER_STATE;
    // The breaker as stored when written (decided again if another write came first).
    await this.#o.plugins.change(plugin.id, current => {
      before = current.breaker ?? INITIAL_BREAKER_STATE;
      if (unchanged(before)) return undefined;
      after = breakerRecord(
        before,
        succeeded ? 'success' : 'failure',
        at,
        this.#options(),
      );
      return { breaker: after };
    });
    if (unchanged(before)) return;
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
