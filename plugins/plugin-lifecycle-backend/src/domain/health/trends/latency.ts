import { InputError } from '@backstage/errors';
import { TrendOptions } from './options';

// Latency: exponentially weighted mean and variance, with a z-score detector.

/**
 * The latency trend of one probe: an exponentially weighted moving mean and
 * variance of the latencies of its successful runs, and the anomaly
 * detector's counters.
 *
 * @public
 */
export interface LatencyTrend {
  readonly samples: number;
  readonly mean: number;
  readonly variance: number;
  /** The z-score of the last sample against the averages before it. */
  readonly lastZ?: number;
  /** Consecutive anomalous samples (while not degrading). */
  readonly anomalous: number;
  /** Consecutive normal samples (while degrading). */
  readonly normal: number;
  readonly degrading: boolean;
}

/** @public */
export const INITIAL_LATENCY_TREND: LatencyTrend = Object.freeze({
  samples: 0,
  mean: 0,
  variance: 0,
  anomalous: 0,
  normal: 0,
  degrading: false,
});

/**
 * The standard deviation the detector divides by: the measured one, but
 * never below `minStdDevMs` nor `minRelativeStdDev` of the mean.
 *
 * @public
 */
export function effectiveStdDev(
  trend: Pick<LatencyTrend, 'mean' | 'variance'>,
  options: TrendOptions,
): number {
  return Math.max(
    Math.sqrt(trend.variance),
    options.minStdDevMs,
    options.minRelativeStdDev * trend.mean,
    Number.EPSILON,
  );
}

/**
 * Adds one latency sample. After the warm-up, a sample more than
 * `zThreshold` (effective) standard deviations above the mean is anomalous;
 * `anomalySamples` anomalous samples in a row make the trend `degrading`,
 * and as many normal ones in a row end it. Anomalous samples move the
 * averages `anomalyWeight` times less, so a jump is seen before it becomes
 * the new normal. Faster than usual is never an anomaly.
 *
 * @public
 */
export function observeLatency(
  trend: LatencyTrend,
  latencyMs: number,
  options: TrendOptions,
): LatencyTrend {
  if (!Number.isFinite(latencyMs) || latencyMs < 0) {
    throw new InputError(
      `latency must be a non-negative number of ms, got ${latencyMs}`,
    );
  }
  if (trend.samples === 0) {
    return { ...INITIAL_LATENCY_TREND, samples: 1, mean: latencyMs };
  }
  const judged = trend.samples >= options.warmupSamples;
  const z = (latencyMs - trend.mean) / effectiveStdDev(trend, options);
  const anomaly = judged && z > options.zThreshold;
  const alpha = anomaly ? options.alpha * options.anomalyWeight : options.alpha;
  const diff = latencyMs - trend.mean;
  const increment = alpha * diff;
  const mean = trend.mean + increment;
  const variance = (1 - alpha) * (trend.variance + diff * increment);

  let { anomalous, normal, degrading } = trend;
  if (judged) {
    if (anomaly) {
      anomalous = degrading ? 0 : anomalous + 1;
      normal = 0;
      if (anomalous >= options.anomalySamples) {
        degrading = true;
        anomalous = 0;
      }
    } else {
      anomalous = 0;
      normal = degrading ? normal + 1 : 0;
      if (degrading && normal >= options.anomalySamples) {
        degrading = false;
        normal = 0;
      }
    }
  }
  return {
    samples: trend.samples + 1,
    mean,
    variance,
    lastZ: judged ? z : undefined,
    anomalous,
    normal,
    degrading,
  };
}
