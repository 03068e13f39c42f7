import { InputError } from '@backstage/errors';
import { ProbeDefinition } from '@internal/plugin-lifecycle-common';

/** The app-config section of the limits. */
export const PROBE_LIMITS_KEY = 'pluginLifecycle.health.probeLimits';

/**
 * How often and how many probes a caller may ask for: every probe runs on
 * the backend's replicas, so these bound the work one request can start.
 *
 * @public
 */
export interface ProbeLimits {
  /** Shortest `periodSeconds`; a probe without one uses the default (10 s). */
  minPeriodSeconds: number;
  /** Most probes of one plugin (or one registration). */
  maxProbesPerPlugin: number;
}

/** The defaults: Kubernetes' one-second floor, and 16 probes. */
export const DEFAULT_PROBE_LIMITS: ProbeLimits = {
  minPeriodSeconds: 1,
  maxProbesPerPlugin: 16,
};

/**
 * Throws an InputError (400) naming the probe and the app-config key when
 * probes ask for more than the limits allow.
 */
export function assertWithinProbeLimits(
  probes: ReadonlyArray<ProbeDefinition>,
  limits: ProbeLimits,
  origin: string,
): void {
  if (probes.length > limits.maxProbesPerPlugin) {
    throw new InputError(
      `Too many probes of ${origin}: ${probes.length}, at most ${limits.maxProbesPerPlugin} (${PROBE_LIMITS_KEY}.maxProbesPerPlugin)`,
    );
  }
  for (const probe of probes) {
    if (
      probe.periodSeconds !== undefined &&
      !(probe.periodSeconds >= limits.minPeriodSeconds)
    ) {
      throw new InputError(
        `Probe '${probe.name}' of ${origin} has periodSeconds ${probe.periodSeconds}; it must be at least ${limits.minPeriodSeconds} (${PROBE_LIMITS_KEY}.minPeriodSeconds)`,
      );
    }
  }
}
