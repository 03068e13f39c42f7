import { retryDelayMs } from './backoff';

/**
 * What happens to a plugin's instance that exits without being asked to,
 * as a kubelet restarts a container: replaced after a back-off that doubles
 * with each crash, until the plugin has crashed `maxRestarts` times within
 * `windowMs`; then the restart budget is spent (a crash loop) and the
 * plugin goes to error for a person to look at.
 *
 * @public
 */
export interface RestartPolicy {
  /** The wait before replacing the first crash of a window. */
  backoffBaseMs: number;
  /** No wait is longer. */
  backoffMaxMs: number;
  /** Crashes within the window that are still replaced; 0 replaces none. */
  maxRestarts: number;
  /** How far back crashes count. */
  windowMs: number;
}

/** The decision for one crash. @public */
export type RestartDecision =
  | { action: 'replace'; delayMs: number; crashes: number }
  | { action: 'give-up'; crashes: number; reason: string };

/**
 * Decides about a crash at `now`, given the times of the plugin's crashes
 * (this one included) in milliseconds since the epoch.
 */
export function decideRestart(
  crashTimes: readonly number[],
  now: number,
  policy: RestartPolicy,
): RestartDecision {
  const crashes = crashTimes.filter(t => t > now - policy.windowMs).length;
  const windowText = `${Math.round(policy.windowMs / 1000)} s`;
  if (crashes > policy.maxRestarts) {
    return {
      action: 'give-up',
      crashes,
      reason: `crash loop: ${crashes} crashes within ${windowText}, restart budget of ${policy.maxRestarts} spent`,
    };
  }
  return {
    action: 'replace',
    crashes,
    delayMs: retryDelayMs(Math.max(1, crashes), {
      baseMs: policy.backoffBaseMs,
      maxMs: policy.backoffMaxMs,
      jitter: false,
    }),
  };
}
