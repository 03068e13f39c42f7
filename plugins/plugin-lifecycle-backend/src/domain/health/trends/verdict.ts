import { InstanceProbeGate } from '../probeStatus';
import { TrendSummary } from './probeTrend';

/**
 * What the health monitor makes of an instance: its probes, their trends
 * and what the proxy saw, in one word.
 *
 * - `starting`: a startup probe has not passed yet.
 * - `healthy`: started, ready and live, with nothing worrying in the trends.
 * - `degrading`: still ready and live, but latency is anomalous, the success
 *   rate is slipping or the proxy sees errors: it is likely to fail soon.
 * - `flapping`: its probes keep changing status; not to be trusted.
 * - `unhealthy`: not live, not ready, or failing most requests.
 *
 * @public
 */
export type HealthVerdict =
  | 'starting'
  | 'healthy'
  | 'degrading'
  | 'flapping'
  | 'unhealthy';

/**
 * What the proxy saw of an instance recently (passive health checking).
 *
 * @public
 */
export interface PassiveHealth {
  requests: number;
  /** Requests that failed: connection errors, timeouts, 5xx. */
  errors: number;
}

/**
 * Thresholds of {@link healthVerdict} for passive data.
 *
 * @public
 */
export interface VerdictOptions {
  /** Requests needed before the proxy's error rate counts. */
  passiveMinRequests: number;
  /** An error rate at or above this is `degrading`. */
  passiveDegradedErrorRate: number;
  /** An error rate at or above this is `unhealthy`. */
  passiveUnhealthyErrorRate: number;
}

/** @public */
export const DEFAULT_VERDICT_OPTIONS: Readonly<VerdictOptions> = Object.freeze({
  passiveMinRequests: 20,
  passiveDegradedErrorRate: 0.05,
  passiveUnhealthyErrorRate: 0.5,
});

/**
 * The verdict on an instance and its health score.
 *
 * @public
 */
export interface HealthAssessment {
  verdict: HealthVerdict;
  /**
   * From 0 (send nothing) to 1 (fully healthy): the weight factor of
   * health-weighted load balancing. 0 whenever the instance is not ready,
   * not live or still starting; at most 0.25 while flapping and 0.5 while
   * degrading (which is where latency counts: through the detector's
   * hysteresis, not sample by sample, so the score does not flicker);
   * otherwise the success rate times the share of the proxy's requests
   * that succeeded.
   */
  healthScore: number;
  reasons: string[];
}

/**
 * One verdict per instance from its probe gate, the trends of its probes
 * and, when given, what the proxy saw. In order: not live is `unhealthy`;
 * a pending startup probe is `starting`; flapping probes are `flapping`;
 * not ready while a readiness probe has not settled yet (`pending`) is
 * `starting`; not ready, or an error rate at the proxy of `passiveUnhealthyErrorRate`
 * or more, is `unhealthy`; a degrading trend or an error rate of
 * `passiveDegradedErrorRate` or more is `degrading`; else `healthy`.
 *
 * @public
 */
export function healthVerdict(
  input: {
    gate: Pick<InstanceProbeGate, 'started' | 'ready' | 'live' | 'reasons'>;
    trend: TrendSummary;
    passive?: PassiveHealth;
    /** A readiness probe has had no settled status yet (still `unknown`). */
    pending?: boolean;
  },
  options: VerdictOptions = DEFAULT_VERDICT_OPTIONS,
): HealthAssessment {
  const { gate, trend, passive, pending } = input;
  const errorRate =
    passive && passive.requests >= options.passiveMinRequests
      ? Math.min(1, Math.max(0, passive.errors / passive.requests))
      : undefined;
  const base = (trend.successRate ?? 1) * (1 - (errorRate ?? 0));
  const score = (value: number) => Math.round(value * 1000) / 1000;
  const passiveReason = () =>
    `the proxy saw ${Math.round((errorRate ?? 0) * 100)}% of ${
      passive!.requests
    } requests fail`;

  if (!gate.live) {
    return { verdict: 'unhealthy', healthScore: 0, reasons: gate.reasons };
  }
  if (!gate.started) {
    return { verdict: 'starting', healthScore: 0, reasons: gate.reasons };
  }
  if (trend.flapping) {
    return {
      verdict: 'flapping',
      healthScore: gate.ready ? score(Math.min(0.25, base)) : 0,
      reasons: [...gate.reasons, ...trend.reasons],
    };
  }
  if (!gate.ready) {
    return {
      verdict: pending ? 'starting' : 'unhealthy',
      healthScore: 0,
      reasons: gate.reasons,
    };
  }
  if (
    errorRate !== undefined &&
    errorRate >= options.passiveUnhealthyErrorRate
  ) {
    return { verdict: 'unhealthy', healthScore: 0, reasons: [passiveReason()] };
  }
  const passiveDegraded =
    errorRate !== undefined && errorRate >= options.passiveDegradedErrorRate;
  if (trend.degrading || passiveDegraded) {
    return {
      verdict: 'degrading',
      healthScore: score(Math.min(0.5, base)),
      reasons: [
        ...trend.reasons,
        ...(passiveDegraded ? [passiveReason()] : []),
      ],
    };
  }
  return { verdict: 'healthy', healthScore: score(base), reasons: [] };
}
