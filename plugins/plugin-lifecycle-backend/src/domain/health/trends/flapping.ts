import { ProbeStatus } from '../probeStatus';
import { TrendOptions } from './options';

// Flapping, with hysteresis.

/**
 * When a probe's status last changed, and whether it is flapping.
 *
 * @public
 */
export interface FlapState {
  /** The last settled status seen (passing or failing). */
  readonly status?: Exclude<ProbeStatus, 'unknown'>;
  /** Times of the recent status changes, oldest first; a few at most. */
  readonly changes: readonly number[];
  readonly flapping: boolean;
}

/** @public */
export const INITIAL_FLAP_STATE: FlapState = Object.freeze({
  changes: [],
  flapping: false,
});

/**
 * Notes a probe's status at `now`. A change between passing and failing
 * counts (the first settled status does not); more than `flapThreshold`
 * changes within `flapWindowMs` make the probe `flapping`, which ends only
 * once `flapQuietMs` have passed without a change.
 *
 * @public
 */
export function observeStatus(
  state: FlapState,
  status: ProbeStatus,
  now: number,
  options: TrendOptions,
): FlapState {
  let { changes } = state;
  let settled = state.status;
  if (status !== 'unknown' && status !== settled) {
    if (settled !== undefined) {
      const since = now - options.flapWindowMs;
      changes = [...changes.filter(t => t > since), now].slice(
        -(options.flapThreshold + 1),
      );
    }
    settled = status;
  }
  let flapping = state.flapping;
  const last = changes.length ? changes[changes.length - 1] : undefined;
  if (!flapping) {
    // (cheap when there are too few changes to count: the usual case)
    if (changes.length > options.flapThreshold) {
      const since = now - options.flapWindowMs;
      flapping = changes.filter(t => t > since).length > options.flapThreshold;
    }
  } else if (last === undefined || now - last >= options.flapQuietMs) {
    flapping = false;
    changes = [];
  }
  if (
    changes === state.changes &&
    flapping === state.flapping &&
    settled === state.status
  ) {
    return state;
  }
  return { status: settled, changes, flapping };
}
