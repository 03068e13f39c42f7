import { LoggerService } from '@backstage/backend-plugin-api';
import { RuntimeInstanceExit } from '@internal/plugin-lifecycle-node';
import { InstanceStore } from '../../database/InstanceStore';
import { PluginRecord, PluginStore } from '../../database/PluginStore';
import { RestartPolicy, decideRestart } from '../../domain/orchestration';
import { SystemEvents } from '../../events/SystemEvents';
import { LifecycleStateMachine } from './LifecycleStateMachine';

/** Options of {@link CrashRestarter.create}. */
export interface CrashRestarterOptions {
  logger: LoggerService;
  plugins: PluginStore;
  instances: InstanceStore;
  stateMachine: LifecycleStateMachine;
  events: SystemEvents;
  /** The restart policy of a plugin (app-config, with the plugin's own keys over the defaults). */
  policyFor: (pluginId: string) => RestartPolicy;
  /** Queues the replacement of a crashed instance (a `restart` with its id). */
  replace: (
    plugin: PluginRecord,
    instanceId: string,
    reason: string,
  ) => Promise<unknown>;
  /** ms since the epoch; injected by tests. */
  clock?: () => number;
}

/**
 * The restart policy at work, as a kubelet's for containers: an instance of
 * a running plugin that exits without being asked to is recorded as crashed
 * and replaced after a back-off, while the plugin stays running on what it
 * has left; once the plugin crashed more often than its budget allows within
 * the window (a crash loop), it goes to error instead.
 *
 * The wait is a timer on the replica that saw the exit, not a queued
 * operation: a queued one would hold the plugin's operation slot, so a
 * person's stop would wait out the back-off.
 */
export class CrashRestarter {
  readonly #o: CrashRestarterOptions;
  readonly #now: () => number;
  /** Instance id -> its pending replacement. */
  readonly #pending = new Map<
    string,
    { timer: NodeJS.Timeout; pluginId: string; dueAt: number }
  >();
  #stopped = false;

  static create(options: CrashRestarterOptions): CrashRestarter {
    return new CrashRestarter(options);
  }

  private constructor(options: CrashRestarterOptions) {
    this.#o = options;
    this.#now = options.clock ?? Date.now;
  }

  /** An instance ended without being asked to: record it, then replace it or give up. */
  async onUnexpectedExit(exit: RuntimeInstanceExit): Promise<void> {
    const { instances, plugins, logger } = this.#o;
    const instance = await instances.get(exit.instanceId);
    if (
      !instance ||
      instance.status === 'stopped' ||
      instance.status === 'crashed'
    ) {
      return;
    }
    const message = `instance ${
      exit.instanceId
    } exited unexpectedly with code ${exit.exitCode}${
      exit.signal ? ` (signal ${exit.signal})` : ''
    }${exit.output ? `: ${exit.output.slice(-300)}` : ''}`;
    await instances.setStatus(exit.instanceId, 'crashed', {
      exitCode: exit.exitCode,
      lastError: message,
    });
    const plugin = await plugins.get(exit.pluginId);
    // A plugin in the middle of an operation: the operation deals with it.
    if (plugin?.state !== 'running') return;

    const policy = this.#o.policyFor(plugin.id);
    const now = this.#now();
    const decision = decideRestart(
      await instances.crashTimes(plugin.id, now - policy.windowMs),
      now,
      policy,
    );
    if (decision.action === 'give-up' || this.#stopped) {
      const reason =
        decision.action === 'give-up'
          ? `${message}; ${decision.reason}`
          : message;
      await this.#o.stateMachine.transition(plugin, 'error', {
        action: 'crash',
        reason,
        patch: { lastError: reason },
      });
      return;
    }
    logger.warn(
      `${message}; replacing it in ${decision.delayMs} ms (crash ${decision.crashes} of at most ${policy.maxRestarts} within ${policy.windowMs} ms)`,
    );
    this.#o.events.publish('runtime', 'instanceRestartScheduled', {
      pluginId: plugin.id,
      instanceId: exit.instanceId,
      delayMs: decision.delayMs,
      crashes: decision.crashes,
      maxRestarts: policy.maxRestarts,
    });
    const timer = setTimeout(() => {
      this.#pending.delete(exit.instanceId);
      this.#o
        .replace(
          plugin,
          exit.instanceId,
          `replacing crashed ${exit.instanceId}`,
        )
        .catch(error =>
          logger.warn(
            `could not queue the replacement of ${exit.instanceId}: ${error}`,
          ),
        );
    }, decision.delayMs);
    timer.unref();
    this.#pending.set(exit.instanceId, {
      timer,
      pluginId: plugin.id,
      dueAt: now + decision.delayMs,
    });
  }

  /** What GET /plugins/{id} shows of the policy: crashes in the window, and when the next replacement is due. */
  async status(pluginId: string): Promise<{
    crashes: number;
    maxRestarts: number;
    windowMs: number;
    crashLoop: boolean;
    nextRestartAt?: string;
  }> {
    const policy = this.#o.policyFor(pluginId);
    const now = this.#now();
    const crashes = (
      await this.#o.instances.crashTimes(pluginId, now - policy.windowMs)
    ).length;
    const due = [...this.#pending.values()]
      .filter(p => p.pluginId === pluginId)
      .map(p => p.dueAt)
      .sort((a, b) => a - b)[0];
    return {
      crashes,
      maxRestarts: policy.maxRestarts,
      windowMs: policy.windowMs,
      crashLoop: crashes > policy.maxRestarts,
      ...(due !== undefined
        ? { nextRestartAt: new Date(due).toISOString() }
        : {}),
    };
  }

  /** Drops the pending replacements (the backend is stopping). */
  stop(): void {
    this.#stopped = true;
    for (const { timer } of this.#pending.values()) clearTimeout(timer);
    this.#pending.clear();
  }
}
