import { InputError } from '@backstage/errors';
import { OutlierEjectionOptions, ProxyOutcome } from './discoveryTypes';

interface Outlier {
  consecutiveFailures: number;
  ejections: number;
  ejectedUntil?: number;
  lastEjectedAt?: number;
}

/** An ejection that a reported failure caused. */
export interface Ejection {
  ejectedUntil: number;
  durationMs: number;
  /** How many times the instance was ejected, this one included. */
  ejections: number;
}

const DEFAULT_EJECTION: Required<OutlierEjectionOptions> = {
  consecutiveFailures: 5,
  baseEjectionMs: 30_000,
  maxEjectionMs: 300_000,
};

/**
 * Passive outlier detection from what a data plane saw, this replica's own
 * (like an Envoy sidecar's): `consecutiveFailures` failures in a row eject
 * an instance for a time that doubles with each ejection, up to
 * `maxEjectionMs`; its count is forgiven after it served well that long.
 * Only the bookkeeping: the caller tells the balancer and the world.
 */
export class OutlierEjection {
  readonly settings: Required<OutlierEjectionOptions>;
  readonly #outliers = new Map<string, Outlier>();

  /** Throws an `InputError` for settings out of range. */
  static create(options?: OutlierEjectionOptions): OutlierEjection {
    const settings = { ...DEFAULT_EJECTION, ...options };
    const { consecutiveFailures, baseEjectionMs, maxEjectionMs } = settings;
    if (
      !Number.isInteger(consecutiveFailures) ||
      consecutiveFailures < 1 ||
      !(baseEjectionMs > 0) ||
      !(maxEjectionMs >= baseEjectionMs)
    ) {
      throw new InputError(
        'Outlier ejection needs consecutiveFailures of at least 1 and 0 < baseEjectionMs <= maxEjectionMs',
      );
    }
    return new OutlierEjection(settings);
  }

  private constructor(settings: Required<OutlierEjectionOptions>) {
    this.settings = settings;
  }

  /** Until when the instance is ejected, if it ever was (the time may have passed). */
  ejectedUntil(id: string): number | undefined {
    return this.#outliers.get(id)?.ejectedUntil;
  }

  /** Forgets an instance that left the view. */
  forget(id: string): void {
    this.#outliers.delete(id);
  }

  /** Forgets every instance `keep` says no to. */
  retain(keep: (id: string) => boolean): void {
    for (const id of this.#outliers.keys()) {
      if (!keep(id)) this.#outliers.delete(id);
    }
  }

  /** Counts one outcome; the ejection it caused, if any. */
  report(id: string, outcome: ProxyOutcome, now: number): Ejection | undefined {
    let outlier = this.#outliers.get(id);
    if (outcome.ok) {
      if (!outlier) return undefined;
      outlier.consecutiveFailures = 0;
      if (
        outlier.ejections > 0 &&
        !(outlier.ejectedUntil !== undefined && outlier.ejectedUntil > now) &&
        now - (outlier.lastEjectedAt ?? 0) >= this.settings.maxEjectionMs
      ) {
        this.#outliers.delete(id);
      }
      return undefined;
    }
    if (!outlier) {
      outlier = { consecutiveFailures: 0, ejections: 0 };
      this.#outliers.set(id, outlier);
    }
    if (outlier.ejectedUntil !== undefined && outlier.ejectedUntil > now) {
      return undefined; // requests in flight when it was ejected
    }
    outlier.consecutiveFailures++;
    if (outlier.consecutiveFailures < this.settings.consecutiveFailures) {
      return undefined;
    }
    outlier.consecutiveFailures = 0;
    outlier.ejections++;
    const { baseEjectionMs, maxEjectionMs } = this.settings;
    const durationMs = Math.min(
      baseEjectionMs * 2 ** (outlier.ejections - 1),
      maxEjectionMs,
    );
    outlier.ejectedUntil = now + durationMs;
    outlier.lastEjectedAt = now;
    return {
      ejectedUntil: outlier.ejectedUntil,
      durationMs,
      ejections: outlier.ejections,
    };
  }
}
