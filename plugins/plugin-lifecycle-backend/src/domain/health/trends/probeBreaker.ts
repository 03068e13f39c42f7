import { ProbeDefinition } from '@internal/plugin-lifecycle-common';
import { BreakerOptions } from '../../orchestration/circuitBreaker';

// The circuit breaker of a probe target.

/**
 * The breaker settings of a probe (its `circuitBreaker`), for the breaker of
 * `domain/orchestration`: `recoveryTimeout` (ms, 30 s by default) is how
 * long an open breaker keeps the probe from running before one half-open
 * trial; `failureThreshold` (5 by default) consecutive failures open it.
 * Undefined when the probe has no breaker.
 *
 * @public
 */
export function probeBreakerOptions(
  probe: Pick<ProbeDefinition, 'circuitBreaker'>,
): BreakerOptions | undefined {
  const breaker = probe.circuitBreaker;
  if (!breaker?.enabled) return undefined;
  return {
    failureThreshold: breaker.failureThreshold ?? 5,
    coolDownMs: breaker.recoveryTimeout ?? 30_000,
  };
}
