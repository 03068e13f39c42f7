import {
  ConflictError,
  InputError,
  NotAllowedError,
  NotFoundError,
  ServiceUnavailableError,
  serializeError,
} from '@backstage/errors';
import { PreconditionError, isRetryable, retryDelayMs } from './backoff';

/** Deterministic PRNG for reproducible jitter. */
function mulberry32(seed: number) {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function median(values: number[]) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

describe('retryDelayMs', () => {
  describe('without jitter', () => {
    const options = { baseMs: 100, maxMs: 10_000, jitter: false };

    it('doubles from the base delay', () => {
      expect([1, 2, 3, 4, 5, 6, 7].map(n => retryDelayMs(n, options))).toEqual([
        100, 200, 400, 800, 1600, 3200, 6400,
      ]);
    });

    it('is exactly base * 2^(n-1), capped at maxMs', () => {
      for (let n = 1; n <= 40; n++) {
        expect(retryDelayMs(n, options)).toBe(
          Math.min(100 * 2 ** (n - 1), 10_000),
        );
      }
    });

    it('stays at maxMs for huge attempts', () => {
      expect(retryDelayMs(1_000, options)).toBe(10_000);
      expect(retryDelayMs(1_000_000, options)).toBe(10_000);
      expect(retryDelayMs(Number.MAX_SAFE_INTEGER, options)).toBe(10_000);
    });

    it('caps even the first delay', () => {
      expect(retryDelayMs(1, { baseMs: 500, maxMs: 300, jitter: false })).toBe(
        300,
      );
    });

    it('keeps fractional delays exact', () => {
      expect(retryDelayMs(2, { baseMs: 1.5, maxMs: 100, jitter: false })).toBe(
        3,
      );
    });

    it('returns 0 for a zero base or a zero cap', () => {
      expect(retryDelayMs(5, { baseMs: 0, maxMs: 100, jitter: false })).toBe(0);
      expect(retryDelayMs(5_000, { baseMs: 0, maxMs: 100, jitter: true })).toBe(
        0,
      );
      expect(retryDelayMs(3, { baseMs: 10, maxMs: 0, jitter: true })).toBe(0);
    });
  });

  describe('with jitter', () => {
    const options = { baseMs: 100, maxMs: 30_000, jitter: true };

    it('stays within [0, maxMs] and uses whole milliseconds', () => {
      const random = mulberry32(7);
      for (let n = 1; n <= 30; n++) {
        for (let i = 0; i < 200; i++) {
          const delay = retryDelayMs(n, { ...options, random });
          expect(delay).toBeGreaterThanOrEqual(0);
          expect(delay).toBeLessThanOrEqual(30_000);
          expect(Number.isInteger(delay)).toBe(true);
        }
      }
    });

    it('stays within [0, maxMs] with the real Math.random', () => {
      for (let n = 1; n <= 20; n++) {
        for (let i = 0; i < 100; i++) {
          const delay = retryDelayMs(n, {
            baseMs: 250,
            maxMs: 5_000,
            jitter: true,
          });
          expect(delay).toBeGreaterThanOrEqual(0);
          expect(delay).toBeLessThanOrEqual(5_000);
        }
      }
    });

    it('spreads around the exponential curve', () => {
      const random = mulberry32(11);
      for (let n = 1; n <= 6; n++) {
        const nominal = 100 * 2 ** (n - 1);
        const samples = Array.from({ length: 2_000 }, () =>
          retryDelayMs(n, { ...options, random }),
        );
        // decorrelated jitter never exceeds about 1.43 times the nominal
        // delay, and its median sits near it
        expect(Math.max(...samples)).toBeLessThanOrEqual(1.5 * nominal);
        expect(median(samples)).toBeGreaterThan(0.4 * nominal);
        expect(median(samples)).toBeLessThan(1.2 * nominal);
        // and it actually spreads
        expect(new Set(samples).size).toBeGreaterThan(100);
      }
    });

    it('reaches maxMs for large attempts', () => {
      const random = mulberry32(5);
      const samples = Array.from({ length: 200 }, () =>
        retryDelayMs(60, { ...options, random }),
      );
      expect(median(samples)).toBe(30_000);
      expect(retryDelayMs(5_000, { ...options, random })).toBe(30_000);
    });

    it('uses the injected randomness, reproducibly', () => {
      const a = [1, 2, 3, 4, 5].map(n =>
        retryDelayMs(n, { ...options, random: mulberry32(42) }),
      );
      const b = [1, 2, 3, 4, 5].map(n =>
        retryDelayMs(n, { ...options, random: mulberry32(42) }),
      );
      const c = [1, 2, 3, 4, 5].map(n =>
        retryDelayMs(n, { ...options, random: mulberry32(43) }),
      );
      expect(a).toEqual(b);
      expect(a).not.toEqual(c);
    });

    it('follows the decorrelated jitter formula', () => {
      // cockatiel: t = attempt + random, next = 2^t * tanh(sqrt(4t)),
      // delay = (next - previous next) / 1.4 * base
      const formula = (t: number) => 2 ** t * Math.tanh(Math.sqrt(4 * t));
      const base = 1000;
      const first = Math.floor((formula(0.5) / 1.4) * base);
      const second = Math.floor(((formula(1.5) - formula(0.5)) / 1.4) * base);
      const random = () => 0.5;
      expect(
        retryDelayMs(1, { baseMs: base, maxMs: 1e9, jitter: true, random }),
      ).toBe(first);
      expect(
        retryDelayMs(2, { baseMs: base, maxMs: 1e9, jitter: true, random }),
      ).toBe(second);
      expect(
        retryDelayMs(1, {
          baseMs: base,
          maxMs: 1e9,
          jitter: true,
          random: () => 0,
        }),
      ).toBe(0);
    });

    it('draws from Math.random when given no source', () => {
      const spy = jest.spyOn(Math, 'random').mockReturnValue(0.5);
      try {
        expect(
          retryDelayMs(2, { baseMs: 1000, maxMs: 1e9, jitter: true }),
        ).toBe(
          retryDelayMs(2, {
            baseMs: 1000,
            maxMs: 1e9,
            jitter: true,
            random: () => 0.5,
          }),
        );
        // one draw per step of the walk
        expect(spy).toHaveBeenCalledTimes(2);
      } finally {
        spy.mockRestore();
      }
    });

    it('leaves Math.random alone', () => {
      const original = Math.random;
      const spy = jest.spyOn(Math, 'random');
      try {
        retryDelayMs(3, { ...options, random: () => 0.25 });
        expect(spy).not.toHaveBeenCalled();
        spy.mockRestore();
        expect(Math.random).toBe(original);

        // also when the injected source throws
        expect(() =>
          retryDelayMs(3, {
            ...options,
            random: () => {
              throw new Error('boom');
            },
          }),
        ).toThrow('boom');
        expect(Math.random).toBe(original);
      } finally {
        spy.mockRestore();
      }
    });
  });

  it('rejects bad input', () => {
    const options = { baseMs: 100, maxMs: 1000, jitter: false };
    for (const attempt of [0, -1, 1.5, NaN, Infinity]) {
      expect(() => retryDelayMs(attempt, options)).toThrow(InputError);
    }
    expect(() => retryDelayMs(1, { ...options, baseMs: -1 })).toThrow(
      InputError,
    );
    expect(() => retryDelayMs(1, { ...options, baseMs: NaN })).toThrow(
      InputError,
    );
    expect(() => retryDelayMs(1, { ...options, maxMs: -5 })).toThrow(
      InputError,
    );
    expect(() => retryDelayMs(1, { ...options, maxMs: Infinity })).toThrow(
      InputError,
    );
  });
});

describe('isRetryable', () => {
  it('does not retry validation and precondition failures', () => {
    expect(isRetryable(new InputError('bad'))).toBe(false);
    expect(isRetryable(new NotAllowedError('no'))).toBe(false);
    expect(isRetryable(new NotFoundError('gone'))).toBe(false);
    expect(isRetryable(new ConflictError('busy'))).toBe(false);
    expect(isRetryable(new PreconditionError('b is not running'))).toBe(false);
  });

  it('classifies serialized errors by name', () => {
    expect(isRetryable(serializeError(new InputError('bad')))).toBe(false);
    expect(isRetryable({ name: 'NotFoundError', message: 'gone' })).toBe(false);
    expect(isRetryable(serializeError(new Error('crash')))).toBe(true);
  });

  it('retries everything else', () => {
    expect(isRetryable(new Error('ECONNRESET'))).toBe(true);
    expect(isRetryable(new ServiceUnavailableError('later'))).toBe(true);
    expect(isRetryable(new TypeError('oops'))).toBe(true);
    expect(isRetryable('a string')).toBe(true);
    expect(isRetryable(undefined)).toBe(true);
    expect(isRetryable(null)).toBe(true);
    expect(isRetryable(42)).toBe(true);
  });

  it('lets an explicit retryable flag decide', () => {
    expect(
      isRetryable(Object.assign(new Error('quota'), { retryable: false })),
    ).toBe(false);
    expect(
      isRetryable(Object.assign(new InputError('flaky'), { retryable: true })),
    ).toBe(true);
    expect(isRetryable({ retryable: true })).toBe(true);
    expect(isRetryable({ retryable: false })).toBe(false);
    // only booleans count
    expect(isRetryable({ name: 'InputError', retryable: 'yes' })).toBe(false);
    expect(isRetryable({ retryable: 0 })).toBe(true);
  });
});

describe('PreconditionError', () => {
  it('is a named, non-retryable error with an optional cause', () => {
    const cause = new Error('b is stopped');
    const error = new PreconditionError('dependencies not running', cause);
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe('PreconditionError');
    expect(error.retryable).toBe(false);
    expect(error.cause).toBe(cause);
    expect(error.message).toBe(
      'dependencies not running; caused by Error: b is stopped',
    );
    expect(serializeError(error)).toMatchObject({
      name: 'PreconditionError',
      retryable: false,
    });
  });
});
