// Success rate over the last results, as bits.

/**
 * The last results of a probe, newest in the lowest bit: small enough to be
 * copied on every result.
 *
 * @public
 */
export interface SuccessWindow {
  readonly bits: number;
  /** Results in the window, at most its size. */
  readonly count: number;
}

/** @public */
export const EMPTY_SUCCESS_WINDOW: SuccessWindow = Object.freeze({
  bits: 0,
  count: 0,
});

function mask(n: number) {
  return n >= 32 ? 0xffffffff : (1 << n) - 1;
}

function popcount(value: number) {
  let v = value - ((value >>> 1) & 0x55555555);
  v = (v & 0x33333333) + ((v >>> 2) & 0x33333333);
  return (Math.imul((v + (v >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24) & 0xff;
}

/** Adds one result to a window of `size` results (1 to 32). @public */
export function observeSuccess(
  window: SuccessWindow,
  ok: boolean,
  size: number,
): SuccessWindow {
  return {
    bits: (((window.bits << 1) | (ok ? 1 : 0)) & mask(size)) >>> 0,
    count: Math.min(window.count + 1, size),
  };
}

/** The share of successes in the window; undefined while it is empty. @public */
export function successRate(window: SuccessWindow): number | undefined {
  if (window.count === 0) return undefined;
  return popcount(window.bits & mask(window.count)) / window.count;
}
