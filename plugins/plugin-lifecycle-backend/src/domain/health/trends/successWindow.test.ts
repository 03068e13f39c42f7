import fc from 'fast-check';
import {
  EMPTY_SUCCESS_WINDOW,
  observeSuccess,
  successRate,
} from './successWindow';

describe('success window', () => {
  it('is empty, then the share of successes of the last results', () => {
    expect(successRate(EMPTY_SUCCESS_WINDOW)).toBeUndefined();
    let window = EMPTY_SUCCESS_WINDOW;
    for (const ok of [true, false, true, true]) {
      window = observeSuccess(window, ok, 4);
    }
    expect(successRate(window)).toBe(0.75);
    window = observeSuccess(window, false, 4); // drops the first success
    expect(window.count).toBe(4);
    expect(successRate(window)).toBe(0.5);
  });

  it('is the share of successes among the last results for any sequence', () => {
    fc.assert(
      fc.property(
        fc.array(fc.boolean(), { maxLength: 80 }),
        fc.integer({ min: 1, max: 32 }),
        (results, size) => {
          const window = results.reduce(
            (w, ok) => observeSuccess(w, ok, size),
            EMPTY_SUCCESS_WINDOW,
          );
          const last = results.slice(-size);
          expect(window.count).toBe(last.length);
          expect(successRate(window)).toBe(
            last.length ? last.filter(Boolean).length / last.length : undefined,
          );
        },
      ),
    );
  });
});
