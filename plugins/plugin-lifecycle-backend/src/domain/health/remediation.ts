import { InputError } from '@backstage/errors';
import { retryDelayMs } from '../orchestration/backoff';
import { InstanceProbeGate } from './probeStatus';

/**
 * What to do when an instance stops being live (a liveness probe fails or
 * a startup probe failed): restart it through the orchestrator, put its
 * plugin in `error`, only emit an event, or nothing.
 *
 * @public
 */
export type LivenessRemedy = 'restart' | 'mark-error' | 'event' | 'none';

/**
 * What to do when a started instance stops being ready: take it out of load
 * balancing (and back in once ready), only emit an event, or nothing.
 *
 * @public
 */
export type ReadinessRemedy = 'out-of-rotation' | 'event' | 'none';

/**
 * How the health monitor remediates one plugin's instances.
 *
 * @public
 */
export interface RemediationPolicy {
  onLivenessFailure: LivenessRemedy;
  onReadinessFailure: ReadinessRemedy;
  /**
   * Restarts, error markings and events per plugin in any hour; beyond it
   * they are suppressed (and reported once per failure). Taking instances
   * out of and into rotation is not limited: it only mirrors readiness.
   */
  maxPerHour: number;
}

/** @public */
export const DEFAULT_REMEDIATION_POLICY: Readonly<RemediationPolicy> =
  Object.freeze({
    onLivenessFailure: 'restart',
    onReadinessFailure: 'out-of-rotation',
    maxPerHour: 10,
  });

/**
 * A remediation the health monitor asks for.
 *
 * @public
 */
export interface RemediationAction {
  type:
    | 'restart'
    | 'out-of-rotation'
    | 'into-rotation'
    | 'mark-error'
    | 'event';
  pluginId: string;
  instanceId: string;
  targetId: string;
  /** Why, for people and the audit log. */
  reason: string;
  /** For `restart`: the how-many-th restart of this instance in a row. */
  attempt?: number;
  /** For `event` and `mark-error`: which kind of probe failed. */
  failure?: 'liveness' | 'readiness';
}

/**
 * The growing delay between restarts of an instance that keeps failing.
 *
 * @public
 */
export interface RestartBackoff {
  /** The delay before the first restart; doubled for each further one. */
  baseMs: number;
  /** No delay is longer. */
  maxMs: number;
  /** Live this long, an instance's restarts are forgotten. */
  stableMs: number;
}

/** @public */
export const DEFAULT_RESTART_BACKOFF: Readonly<RestartBackoff> = Object.freeze({
  baseMs: 1_000,
  maxMs: 300_000,
  stableMs: 600_000,
});

/**
 * What remediation remembers of one instance.
 *
 * @public
 */
export interface InstanceRemedyState {
  readonly ready: boolean;
  readonly live: boolean;
  /** Since when the instance has not been live (this failure). */
  readonly failingSince?: number;
  /** Since when the instance has been live again. */
  readonly liveSince?: number;
  /** Restarts in a row, forgotten after `stableMs` live. */
  readonly restarts: number;
  readonly lastRestartAt?: number;
  /** The remedy of the current failure was applied or reported. */
  readonly handled: boolean;
  /** This replica took the instance out of rotation. */
  readonly outOfRotation: boolean;
}

/**
 * An instance nothing has been decided for: assumed live, not yet ready.
 *
 * @public
 */
export const INITIAL_REMEDY_STATE: InstanceRemedyState = Object.freeze({
  ready: false,
  live: true,
  restarts: 0,
  handled: false,
  outOfRotation: false,
});

/**
 * The result of {@link decideRemediation}.
 *
 * @public
 */
export interface RemediationDecision {
  instance: InstanceRemedyState;
  /** The plugin's rate-limited actions within the last hour, to keep. */
  pluginWindow: number[];
  actions: RemediationAction[];
  /** Actions the rate limit held back, with why. */
  suppressed: Array<{ action: RemediationAction; reason: string }>;
  /** While a restart waits for its back-off: when it may happen. */
  restartDueAt?: number;
}

const HOUR_MS = 3_600_000;

/**
 * Decides what to do about one instance after its probe gate was
 * evaluated at `now`. Call it whenever readiness or liveness changed, and
 * on every result while the instance is not live (its restart waits for the
 * back-off) or has restarts to forget.
 *
 * - Not live, policy `restart`: the n-th restart in a row happens no sooner
 *   than `baseMs * 2^(n-1)` (capped at `maxMs`) after the later of the
 *   failure and the previous restart; restarts are forgotten once the
 *   instance has been live for `stableMs`.
 * - Not live, `mark-error` or `event`: once per failure.
 * - Ready to not ready (started and live), or a failing readiness probe
 *   before it was ever ready, `out-of-rotation`: taken out, and back
 *   `into-rotation` once ready again (a probe that has not run yet takes
 *   nothing out); `event`: once per failure from ready.
 * - Restarts, error markings and events count against `maxPerHour` per
 *   plugin (sliding hour); a suppressed one is reported once per failure.
 *
 * @public
 */
export function decideRemediation(input: {
  instance?: InstanceRemedyState;
  /** Times of the plugin's rate-limited actions (any order). */
  pluginWindow?: readonly number[];
  gate: Pick<InstanceProbeGate, 'started' | 'ready' | 'live' | 'reasons'> &
    Partial<Pick<InstanceProbeGate, 'readinessFailing'>>;
  target: { pluginId: string; instanceId: string; targetId: string };
  now: number;
  policy?: RemediationPolicy;
  backoff?: RestartBackoff;
}): RemediationDecision {
  const {
    gate,
    target,
    now,
    policy = DEFAULT_REMEDIATION_POLICY,
    backoff = DEFAULT_RESTART_BACKOFF,
  } = input;
  if (!Number.isFinite(now)) {
    throw new InputError(`now must be a time in ms, got ${now}`);
  }
  const prev = input.instance ?? INITIAL_REMEDY_STATE;
  let window = (input.pluginWindow ?? []).filter(t => t > now - HOUR_MS);
  const actions: RemediationAction[] = [];
  const suppressed: RemediationDecision['suppressed'] = [];
  let next: InstanceRemedyState = prev;
  let restartDueAt: number | undefined;
  const reason = gate.reasons.join('; ') || 'probes failing';
  const action = (
    type: RemediationAction['type'],
    extra: Partial<RemediationAction> = {},
  ): RemediationAction => ({ type, ...target, reason, ...extra });

  /** Takes the action if the rate limit allows; true when it did. */
  const limited = (candidate: RemediationAction, report = true): boolean => {
    if (window.length < policy.maxPerHour) {
      actions.push(candidate);
      window = [...window, now];
      return true;
    }
    if (report) {
      suppressed.push({
        action: candidate,
        reason: `rate limit: ${policy.maxPerHour} remediations of plugin '${target.pluginId}' per hour`,
      });
    }
    return false;
  };

  if (!gate.live) {
    const failingSince = prev.live ? now : prev.failingSince ?? now;
    next = {
      ...next,
      live: false,
      failingSince,
      liveSince: undefined,
      handled: prev.live ? false : prev.handled,
    };
    switch (policy.onLivenessFailure) {
      case 'restart': {
        const attempt = next.restarts + 1;
        const from = Math.max(failingSince, next.lastRestartAt ?? -Infinity);
        const dueAt =
          from +
          retryDelayMs(attempt, {
            baseMs: backoff.baseMs,
            maxMs: backoff.maxMs,
            jitter: false,
          });
        if (now < dueAt) {
          restartDueAt = dueAt;
        } else if (limited(action('restart', { attempt }), !next.handled)) {
          next = {
            ...next,
            restarts: attempt,
            lastRestartAt: now,
            handled: false,
          };
        } else {
          next = { ...next, handled: true };
        }
        break;
      }
      case 'mark-error':
      case 'event':
        if (!next.handled) {
          limited(action(policy.onLivenessFailure, { failure: 'liveness' }));
          next = { ...next, handled: true };
        }
        break;
      default:
        break;
    }
  } else {
    const liveSince = prev.live ? prev.liveSince : now;
    next = {
      ...next,
      live: true,
      failingSince: undefined,
      liveSince,
      handled: prev.live ? prev.handled : false,
    };
    if (
      next.restarts > 0 &&
      liveSince !== undefined &&
      now - liveSince >= backoff.stableMs
    ) {
      next = { ...next, restarts: 0, lastRestartAt: undefined };
    }
  }

  if (gate.live && gate.started && !gate.ready) {
    // From ready to not ready; or failing before it was ever seen ready
    // (a registered service is routable until its first probe says no).
    const failing = prev.ready || gate.readinessFailing === true;
    if (policy.onReadinessFailure === 'out-of-rotation') {
      if (failing && !next.outOfRotation) {
        actions.push(action('out-of-rotation'));
        next = { ...next, outOfRotation: true };
      }
    } else if (policy.onReadinessFailure === 'event' && prev.ready) {
      limited(action('event', { failure: 'readiness' }));
    }
  }
  if (gate.ready && next.outOfRotation) {
    actions.push(action('into-rotation', { reason: 'ready again' }));
    next = { ...next, outOfRotation: false };
  }
  next = { ...next, ready: gate.ready };

  return {
    instance: next,
    pluginWindow: window,
    actions,
    suppressed,
    ...(restartDueAt === undefined ? {} : { restartDueAt }),
  };
}

/**
 * The policy of a plugin: its own settings over the defaults.
 *
 * @throws InputError for an unknown remedy or a negative limit
 * @public
 */
export function remediationPolicy(
  ...layers: Array<Partial<RemediationPolicy> | undefined>
): RemediationPolicy {
  const policy: RemediationPolicy = { ...DEFAULT_REMEDIATION_POLICY };
  for (const layer of layers) {
    for (const [key, value] of Object.entries(layer ?? {})) {
      if (value !== undefined) (policy as any)[key] = value;
    }
  }
  if (
    !['restart', 'mark-error', 'event', 'none'].includes(
      policy.onLivenessFailure,
    )
  ) {
    throw new InputError(
      `onLivenessFailure must be restart, mark-error, event or none, got '${policy.onLivenessFailure}'`,
    );
  }
  if (
    !['out-of-rotation', 'event', 'none'].includes(policy.onReadinessFailure)
  ) {
    throw new InputError(
      `onReadinessFailure must be out-of-rotation, event or none, got '${policy.onReadinessFailure}'`,
    );
  }
  if (!Number.isInteger(policy.maxPerHour) || policy.maxPerHour < 0) {
    throw new InputError(
      `maxPerHour must be a whole number from 0, got ${policy.maxPerHour}`,
    );
  }
  return policy;
}
