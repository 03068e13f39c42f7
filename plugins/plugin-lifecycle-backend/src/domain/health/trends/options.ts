import { InputError } from '@backstage/errors';

/**
 * Settings of the trend detectors. Every field has a default
 * ({@link DEFAULT_TREND_OPTIONS}).
 *
 * @public
 */
export interface TrendOptions {
  /** The weight of a new latency sample in the moving averages, in (0, 1]. */
  alpha: number;
  /** A sample this many standard deviations above the mean is anomalous. */
  zThreshold: number;
  /**
   * Consecutive anomalous samples that make a probe `degrading`, and
   * consecutive normal ones that end it (the hysteresis).
   */
  anomalySamples: number;
  /** Latency samples taken before anomalies are judged. */
  warmupSamples: number;
  /**
   * How much less an anomalous sample moves the averages than a normal one
   * (a factor of `alpha`), so that a jump stands out for a while before it
   * becomes the new normal.
   */
  anomalyWeight: number;
  /**
   * The smallest standard deviation used, in ms: local probes answer in
   * fractions of a millisecond, and a jitter of a few ms (a busy event loop,
   * a garbage collection) is no anomaly.
   */
  minStdDevMs: number;
  /** The smallest standard deviation used, as a share of the mean. */
  minRelativeStdDev: number;
  /**
   * A mean latency above this share of the probe's timeout is `degrading`:
   * the probe is about to time out.
   */
  slowFraction: number;
  /** Results in the rolling success window, 1 to 32. */
  successWindow: number;
  /** Results needed in the window before the success rate is judged. */
  minSuccessSamples: number;
  /** A success rate below this is `degrading`. */
  degradedSuccessRate: number;
  /** More status changes than this within `flapWindowMs` is `flapping`. */
  flapThreshold: number;
  flapWindowMs: number;
  /** `flapping` ends only after this long without a status change. */
  flapQuietMs: number;
}

/** @public */
export const DEFAULT_TREND_OPTIONS: Readonly<TrendOptions> = Object.freeze({
  alpha: 0.2,
  zThreshold: 3,
  anomalySamples: 3,
  warmupSamples: 10,
  anomalyWeight: 0.1,
  minStdDevMs: 5,
  minRelativeStdDev: 0.1,
  slowFraction: 0.8,
  successWindow: 20,
  minSuccessSamples: 5,
  degradedSuccessRate: 0.9,
  flapThreshold: 4,
  flapWindowMs: 120_000,
  flapQuietMs: 120_000,
});

/**
 * The defaults with the given settings, checked.
 *
 * @throws InputError for a setting out of its range
 * @public
 */
export function trendOptions(overrides: Partial<TrendOptions> = {}) {
  const options: TrendOptions = { ...DEFAULT_TREND_OPTIONS };
  for (const [key, value] of Object.entries(overrides)) {
    if (value !== undefined) (options as any)[key] = value;
  }
  const check = (ok: boolean, key: keyof TrendOptions, range: string) => {
    if (!ok) {
      throw new InputError(
        `trend option ${key} must be ${range}, got ${options[key]}`,
      );
    }
  };
  const positive = (key: keyof TrendOptions) =>
    check(options[key] > 0 && Number.isFinite(options[key]), key, 'positive');
  const whole = (key: keyof TrendOptions, min: number, max = Infinity) =>
    check(
      Number.isInteger(options[key]) &&
        options[key] >= min &&
        options[key] <= max,
      key,
      `a whole number from ${min}${max < Infinity ? ` to ${max}` : ''}`,
    );
  const share = (key: keyof TrendOptions) =>
    check(options[key] >= 0 && options[key] <= 1, key, 'between 0 and 1');
  check(options.alpha > 0 && options.alpha <= 1, 'alpha', 'in (0, 1]');
  positive('zThreshold');
  whole('anomalySamples', 1);
  whole('warmupSamples', 1);
  share('anomalyWeight');
  check(options.minStdDevMs >= 0, 'minStdDevMs', 'at least 0');
  share('minRelativeStdDev');
  positive('slowFraction');
  whole('successWindow', 1, 32);
  whole('minSuccessSamples', 1, 32);
  share('degradedSuccessRate');
  whole('flapThreshold', 1, 1000);
  positive('flapWindowMs');
  check(options.flapQuietMs >= 0, 'flapQuietMs', 'at least 0');
  return options;
}
