import { CustomErrorBase, InputError } from '@backstage/errors';
import {
  ExponentialBackoff,
  GeneratorFn,
  IExponentialBackoffOptions,
  decorrelatedJitterGenerator,
  noJitterGenerator,
} from 'cockatiel';
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
  /** Whether to spread retries with cockatiel's decorrelated jitter. */
  jitter: boolean;
  /**
   * A source of numbers in [0, 1) used instead of `Math.random` for the
   * jitter, to make delays reproducible.
   */
  random?: () => number;
}

/**
 * Beyond this many steps every delay is `maxMs` anyway: cockatiel's formulas
 * reach `Infinity` past 2^1024 and cap it, so walking further only costs time.
 */
const MAX_WALK = 1100;

/**
 * How long to wait before a retry, as an exponential backoff from cockatiel.
 *
 * Without jitter the delay is exactly `baseMs * 2^(attempt - 1)`, capped at
 * `maxMs`. With jitter it follows cockatiel's decorrelated jitter, whose
 * median roughly tracks that value, rounded down to whole milliseconds; it
 * is always within [0, maxMs].
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
  const { baseMs, maxMs, jitter, random } = options;
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

  const common = { initialDelay: baseMs, maxDelay: maxMs, exponent: 2 };
  const factory = jitter
    ? new ExponentialBackoff({
        ...common,
        generator: withRandom(decorrelatedJitterGenerator, random),
      })
    : new ExponentialBackoff({ ...common, generator: noJitterGenerator });

  // The factory's first next() is the first delay; each further next() is
  // the delay of the following retry.
  let backoff = factory.next();
  for (let step = 1; step < Math.min(attempt, MAX_WALK); step++) {
    backoff = backoff.next(undefined);
  }
  const delay = Math.min(Math.max(backoff.duration, 0), maxMs);
  return jitter ? Math.floor(delay) : delay;
}

/**
 * cockatiel's generators call `Math.random` and take no source of
 * randomness, so an injected one stands in for it during the generator's
 * synchronous call only.
 */
function withRandom<S>(
  generator: GeneratorFn<S>,
  random: (() => number) | undefined,
): GeneratorFn<S> {
  if (!random) {
    return generator;
  }
  return (state: S | undefined, options: IExponentialBackoffOptions<S>) => {
    const original = Math.random;
    Math.random = random;
    try {
      return generator(state, options);
    } finally {
      Math.random = original;
    }
  };
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
