import { CustomErrorBase, InputError } from '@backstage/errors';
import { classifyFailure } from './failures';

/**
 * Options of {@link retryDelayMs}.
 *
 * @public
 */
export interface RetryDelayOptions {
  /** The delay before the first retry, without jitter. */
  baseMs: number;
  /** No delay is longer than this. */
  maxMs: number;
  /** Whether to spread retries with decorrelated jitter. */
  jitter: boolean;
  /**
   * A source of numbers in [0, 1) for the jitter, to make delays
   * reproducible; default `Math.random`.
   */
  random?: () => number;
}

/**
 * Beyond this many steps every delay is `maxMs` anyway: the jitter formula
 * reaches `Infinity` past 2^1024 and is capped, so walking further only costs
 * time.
 */
const MAX_WALK = 1100;

/** Smooths the first delays of the decorrelated jitter formula. */
const P_FACTOR = 4;

/**
 * Scales the formula's medians to fall near 1, 2, 4 ... times the base
 * (instead of 1.4, 2.8, 5.6 ...).
 */
const RP_SCALING_FACTOR = 1 / 1.4;

/**
 * How long to wait before a retry, as an exponential backoff.
 *
 * Without jitter the delay is exactly `baseMs * 2^(attempt - 1)`, capped at
 * `maxMs`. With jitter it follows the decorrelated jitter of Polly (as
 * cockatiel implements it), whose median roughly tracks that value, rounded
 * down to whole milliseconds; it is always within [0, maxMs].
 *
 * @param attempt - the retry, counting from 1 for the first retry
 * @throws InputError for an attempt below 1 or negative delays
 * @public
 */
export function retryDelayMs(
  attempt: number,
  options: RetryDelayOptions,
): number {
  if (!Number.isInteger(attempt) || attempt < 1) {
    throw new InputError(
      `Retry attempt must be a whole number from 1, got ${attempt}`,
    );
  }
  const { baseMs, maxMs, jitter, random = Math.random } = options;
  if (!Number.isFinite(baseMs) || baseMs < 0) {
    throw new InputError(`baseMs must be a non-negative number, got ${baseMs}`);
  }
  if (!Number.isFinite(maxMs) || maxMs < 0) {
    throw new InputError(`maxMs must be a non-negative number, got ${maxMs}`);
  }
  // 0 * 2^n turns into NaN once 2^n overflows
  if (baseMs === 0 || maxMs === 0) {
    return 0;
  }
  if (!jitter) {
    return Math.min(maxMs, baseMs * 2 ** (Math.min(attempt, MAX_WALK) - 1));
  }
  const delay = decorrelatedJitterMs(
    Math.min(attempt, MAX_WALK),
    baseMs,
    maxMs,
    random,
  );
  return Math.floor(Math.min(Math.max(delay, 0), maxMs));
}

/**
 * Decorrelated jitter (Polly's V2, the formula of cockatiel's
 * `decorrelatedJitterGenerator`): step k draws `t = k + random()`, the
 * curve's value there is `2^t * tanh(sqrt(4t))`, and the delay is the rise
 * since the previous step, scaled to the base. Each delay depends on the one
 * before, so the walk runs from the first retry; it draws one number per step.
 */
function decorrelatedJitterMs(
  attempt: number,
  baseMs: number,
  maxMs: number,
  random: () => number,
): number {
  let previous = 0;
  let delay = 0;
  for (let step = 0; step < attempt; step++) {
    const t = step + random();
    const next = 2 ** t * Math.tanh(Math.sqrt(P_FACTOR * t));
    const rise = Number.isFinite(next)
      ? Math.max(0, next - previous)
      : Infinity;
    delay = Math.min(rise * RP_SCALING_FACTOR * baseMs, maxMs);
    previous = next;
  }
  return delay;
}

/**
 * Whether an operation that failed with this error should be retried: the
 * verdict of {@link classifyFailure}, which says why.
 *
 * @public
 */
export function isRetryable(error: unknown): boolean {
  return classifyFailure(error).retryable;
}

/**
 * A precondition of an operation does not hold, for example a dependency is
 * not running. Retrying does not help until something else changes, so it is
 * never retried.
 *
 * @public
 */
export class PreconditionError extends CustomErrorBase {
  name = 'PreconditionError' as const;
  readonly retryable = false as const;
}
