import { InputError } from '@backstage/errors';

/**
 * The persisted state of one plugin's circuit breaker.
 *
 * @public
 */
export interface BreakerState {
  status: 'closed' | 'open' | 'half-open';
  consecutiveFailures: number;
  /** When the breaker last opened, in ms since the epoch. */
  openedAt?: number;
  /**
   * In half-open: whether the single trial operation has been let through
   * and has not reported back yet.
   */
  trialInFlight?: boolean;
  /** When the pending trial was let through, in ms since the epoch. */
  trialStartedAt?: number;
}

/**
 * Options of the circuit breaker functions.
 *
 * @public
 */
export interface BreakerOptions {
  /** Consecutive failures that open the breaker; at least 1. */
  failureThreshold: number;
  /**
   * How long an open breaker refuses work before letting one trial through.
   * Also how long a trial may stay pending before another one is allowed,
   * so a trial whose worker died cannot wedge the breaker.
   */
  coolDownMs: number;
}

/**
 * The answer of {@link breakerAllows}.
 *
 * @public
 */
export interface BreakerDecision {
  allowed: boolean;
  /** The state to persist; it differs from the input when a trial starts. */
  state: BreakerState;
  /** Why the operation is refused. */
  reason?: string;
}

/**
 * A closed breaker with no failures.
 *
 * @public
 */
export const INITIAL_BREAKER_STATE: BreakerState = Object.freeze({
  status: 'closed',
  consecutiveFailures: 0,
}) as BreakerState;

/**
 * Whether the breaker lets an operation run now.
 *
 * A closed breaker allows everything. An open breaker refuses until its
 * cool-down has passed, then moves to half-open and lets exactly one trial
 * through; the returned state marks the trial as in flight and must be
 * persisted (atomically with claiming the operation), so that further calls
 * are refused until {@link breakerRecord} reports the trial's outcome.
 *
 * @param now - the current time in ms since the epoch
 * @public
 */
export function breakerAllows(
  state: BreakerState,
  now: number,
  options: BreakerOptions,
): BreakerDecision {
  validate(now, options);

  if (state.status === 'closed') {
    return { allowed: true, state };
  }

  if (state.status === 'open') {
    const retryAt = (state.openedAt ?? 0) + options.coolDownMs;
    if (now < retryAt) {
      return {
        allowed: false,
        state,
        reason: `circuit open after ${describeFailures(
          state.consecutiveFailures,
        )}; retry after ${formatTime(retryAt)}`,
      };
    }
    return { allowed: true, state: startTrial(state, now) };
  }

  // half-open
  if (state.trialInFlight) {
    const staleAt = (state.trialStartedAt ?? 0) + options.coolDownMs;
    if (now < staleAt) {
      return {
        allowed: false,
        state,
        reason: `circuit half-open after ${describeFailures(
          state.consecutiveFailures,
        )}; a trial operation is in flight`,
      };
    }
    // The trial never reported back (its worker likely died): try again.
  }
  return { allowed: true, state: startTrial(state, now) };
}

/**
 * The breaker's state after an operation finished.
 *
 * A success closes the breaker and resets the count. A failure counts; it
 * opens a closed breaker at the threshold and re-opens a half-open one with
 * a fresh `openedAt`. Failures of operations that were already running when
 * the breaker opened are counted but do not extend the cool-down.
 *
 * @param now - the current time in ms since the epoch
 * @public
 */
export function breakerRecord(
  state: BreakerState,
  outcome: 'success' | 'failure',
  now: number,
  options: BreakerOptions,
): BreakerState {
  validate(now, options);
  if (outcome !== 'success' && outcome !== 'failure') {
    throw new InputError(`Unknown breaker outcome '${String(outcome)}'`);
  }

  if (outcome === 'success') {
    return { status: 'closed', consecutiveFailures: 0 };
  }

  const consecutiveFailures = state.consecutiveFailures + 1;
  switch (state.status) {
    case 'half-open':
      return { status: 'open', consecutiveFailures, openedAt: now };
    case 'open':
      return {
        status: 'open',
        consecutiveFailures,
        openedAt: state.openedAt ?? now,
      };
    default:
      return consecutiveFailures >= options.failureThreshold
        ? { status: 'open', consecutiveFailures, openedAt: now }
        : { status: 'closed', consecutiveFailures };
  }
}

function startTrial(state: BreakerState, now: number): BreakerState {
  return {
    status: 'half-open',
    consecutiveFailures: state.consecutiveFailures,
    ...(state.openedAt !== undefined && { openedAt: state.openedAt }),
    trialInFlight: true,
    trialStartedAt: now,
  };
}

function formatTime(ms: number) {
  // Dates end at ±8.64e15 ms; beyond that toISOString throws
  return Math.abs(ms) <= 8.64e15 ? new Date(ms).toISOString() : `${ms} ms`;
}

function describeFailures(count: number) {
  return count === 1
    ? '1 consecutive failure'
    : `${count} consecutive failures`;
}

function validate(now: number, options: BreakerOptions) {
  if (!Number.isFinite(now)) {
    throw new InputError(`Breaker time must be a finite number, got ${now}`);
  }
  if (
    !Number.isInteger(options.failureThreshold) ||
    options.failureThreshold < 1
  ) {
    throw new InputError(
      `failureThreshold must be a whole number from 1, got ${options.failureThreshold}`,
    );
  }
  if (!Number.isFinite(options.coolDownMs) || options.coolDownMs < 0) {
    throw new InputError(
      `coolDownMs must be a non-negative number, got ${options.coolDownMs}`,
    );
  }
}
