import { LoggerService } from '@backstage/backend-plugin-api';
import { instanceProbeGate } from '../../domain/health/probeStatus';
import {
  InstanceRemedyState,
  INITIAL_REMEDY_STATE,
  decideRemediation,
} from '../../domain/health/remediation';
import { SystemEvents } from '../../events/SystemEvents';
import { Target } from './model';
import { MonitorSettings } from './types';

type ProbeGate = ReturnType<typeof instanceProbeGate>;

/**
 * Decides and carries out the remediation of the targets this replica
 * probes (restart, out of rotation, ...), with the back-off and limits
 * their plugins' policies set.
 */
export class Remediator {
  readonly #settings: MonitorSettings;
  readonly #logger: LoggerService;
  readonly #events: SystemEvents;
  readonly #remedy = new Map<string, InstanceRemedyState>();
  readonly #pluginWindows = new Map<string, number[]>();
  /** The latest restart of each plugin, for instances that replace others. */
  readonly #pluginStreaks = new Map<
    string,
    { restarts: number; lastRestartAt: number }
  >();

  constructor(options: {
    settings: MonitorSettings;
    logger: LoggerService;
    events: SystemEvents;
  }) {
    this.#settings = options.settings;
    this.#logger = options.logger;
    this.#events = options.events;
  }

  /** A restart of the target is under way (its back-off counts). */
  isRestarting(targetId: string): boolean {
    return (this.#remedy.get(targetId)?.restarts ?? 0) > 0;
  }

  /** Decides again when the gate moved or something is still to be done. */
  consider(target: Target, gate: ProbeGate, now: number) {
    const remedy = this.#remedy.get(target.id);
    if (
      !remedy ||
      remedy.ready !== gate.ready ||
      remedy.live !== gate.live ||
      !gate.live ||
      remedy.restarts > 0 ||
      (gate.readinessFailing && !remedy.outOfRotation)
    ) {
      this.#remediate(target, gate, now);
    }
  }

  /** Forgets a target this replica no longer probes. */
  forget(targetId: string) {
    this.#remedy.delete(targetId);
  }

  /** Forgets what is over: gone targets that were live, ended streaks. */
  prune(targets: ReadonlyMap<string, Target>, now: number) {
    for (const [id, state] of this.#remedy) {
      if (!targets.has(id) && state.live) this.#remedy.delete(id);
    }
    for (const [pluginId, streak] of this.#pluginStreaks) {
      if (now - streak.lastRestartAt >= this.#settings.backoff.stableMs) {
        this.#pluginStreaks.delete(pluginId);
      }
    }
  }

  #remediate(target: Target, gate: ProbeGate, now: number) {
    const { backoff, policies, defaultPolicy, remediation } = this.#settings;
    let instance = this.#remedy.get(target.id);
    if (!instance) {
      // A replacement of an instance that was restarted recently inherits
      // the back-off, so a plugin that keeps crashing waits longer and longer.
      const streak = this.#pluginStreaks.get(target.pluginId);
      instance =
        streak && now - streak.lastRestartAt < backoff.stableMs
          ? { ...INITIAL_REMEDY_STATE, ...streak }
          : INITIAL_REMEDY_STATE;
    }
    const decision = decideRemediation({
      instance,
      pluginWindow: this.#pluginWindows.get(target.pluginId),
      gate,
      target: {
        pluginId: target.pluginId,
        instanceId: target.instanceId,
        targetId: target.id,
      },
      now,
      policy: policies.get(target.pluginId) ?? defaultPolicy,
      backoff,
    });
    this.#remedy.set(target.id, decision.instance);
    this.#pluginWindows.set(target.pluginId, decision.pluginWindow);
    for (const action of decision.actions) {
      if (action.type === 'restart') {
        this.#pluginStreaks.set(target.pluginId, {
          restarts: action.attempt ?? 1,
          lastRestartAt: now,
        });
      }
      this.#logger.info(
        `health remediation: ${action.type} ${action.instanceId} of plugin '${
          action.pluginId
        }'${action.attempt ? ` (attempt ${action.attempt})` : ''}: ${
          action.reason
        }`,
      );
      this.#events.publish('healthMonitor', 'remediation', action);
      if (remediation) {
        Promise.resolve()
          .then(() => remediation(action))
          .catch(error =>
            this.#logger.warn(
              `health remediation ${action.type} of ${action.instanceId} failed: ${error}`,
            ),
          );
      }
    }
    for (const { action, reason } of decision.suppressed) {
      this.#logger.warn(
        `health remediation ${action.type} of ${action.instanceId} suppressed: ${reason}`,
      );
      this.#events.publish('healthMonitor', 'remediationSuppressed', {
        ...action,
        suppressedBecause: reason,
      });
    }
  }
}
