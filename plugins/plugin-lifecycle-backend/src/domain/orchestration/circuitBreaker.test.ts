import { InputError } from '@backstage/errors';
import {
  BreakerOptions,
  BreakerState,
  INITIAL_BREAKER_STATE,
  breakerAllows,
  breakerRecord,
} from './circuitBreaker';

const options: BreakerOptions = { failureThreshold: 3, coolDownMs: 60_000 };
const T0 = Date.parse('2026-01-01T00:00:00.000Z');

function fail(state: BreakerState, times: number, now = T0) {
  let result = state;
  for (let i = 0; i < times; i++) {
    result = breakerRecord(result, 'failure', now, options);
  }
  return result;
}

describe('circuit breaker', () => {
  it('starts closed and allows work', () => {
    expect(INITIAL_BREAKER_STATE).toEqual({
      status: 'closed',
      consecutiveFailures: 0,
    });
    const decision = breakerAllows(INITIAL_BREAKER_STATE, T0, options);
    expect(decision).toEqual({ allowed: true, state: INITIAL_BREAKER_STATE });
  });

  it('counts failures while closed and stays closed below the threshold', () => {
    const state = fail(INITIAL_BREAKER_STATE, 2);
    expect(state).toEqual({ status: 'closed', consecutiveFailures: 2 });
    expect(breakerAllows(state, T0, options).allowed).toBe(true);
  });

  it('resets the count on success', () => {
    const state = breakerRecord(
      fail(INITIAL_BREAKER_STATE, 2),
      'success',
      T0,
      options,
    );
    expect(state).toEqual({ status: 'closed', consecutiveFailures: 0 });
    // so two more failures do not open it
    expect(fail(state, 2).status).toBe('closed');
  });

  it('opens at the threshold', () => {
    const state = fail(INITIAL_BREAKER_STATE, 3, T0 + 5);
    expect(state).toEqual({
      status: 'open',
      consecutiveFailures: 3,
      openedAt: T0 + 5,
    });
  });

  it('opens on the first failure with a threshold of 1', () => {
    const state = breakerRecord(INITIAL_BREAKER_STATE, 'failure', T0, {
      ...options,
      failureThreshold: 1,
    });
    expect(state.status).toBe('open');
  });

  it('refuses work while open, saying why and until when', () => {
    const open = fail(INITIAL_BREAKER_STATE, 3);
    const decision = breakerAllows(open, T0 + 59_999, options);
    expect(decision).toEqual({
      allowed: false,
      state: open,
      reason:
        'circuit open after 3 consecutive failures; retry after 2026-01-01T00:01:00.000Z',
    });
  });

  it('uses the singular for one failure', () => {
    const open = breakerRecord(INITIAL_BREAKER_STATE, 'failure', T0, {
      ...options,
      failureThreshold: 1,
    });
    expect(breakerAllows(open, T0, options).reason).toBe(
      'circuit open after 1 consecutive failure; retry after 2026-01-01T00:01:00.000Z',
    );
  });

  it('lets exactly one trial through after the cool-down', () => {
    const open = fail(INITIAL_BREAKER_STATE, 3);
    const first = breakerAllows(open, T0 + 60_000, options);
    expect(first.allowed).toBe(true);
    expect(first.state).toEqual({
      status: 'half-open',
      consecutiveFailures: 3,
      openedAt: T0,
      trialInFlight: true,
      trialStartedAt: T0 + 60_000,
    });

    // the caller persisted first.state; a second claim is refused
    const second = breakerAllows(first.state, T0 + 60_001, options);
    expect(second.allowed).toBe(false);
    expect(second.state).toBe(first.state);
    expect(second.reason).toBe(
      'circuit half-open after 3 consecutive failures; a trial operation is in flight',
    );
  });

  it('closes when the trial succeeds', () => {
    const trial = breakerAllows(
      fail(INITIAL_BREAKER_STATE, 3),
      T0 + 60_000,
      options,
    ).state;
    const closed = breakerRecord(trial, 'success', T0 + 61_000, options);
    expect(closed).toEqual({ status: 'closed', consecutiveFailures: 0 });
    expect(breakerAllows(closed, T0 + 61_001, options).allowed).toBe(true);
  });

  it('re-opens with a fresh openedAt when the trial fails', () => {
    const trial = breakerAllows(
      fail(INITIAL_BREAKER_STATE, 3),
      T0 + 60_000,
      options,
    ).state;
    const reopened = breakerRecord(trial, 'failure', T0 + 61_000, options);
    expect(reopened).toEqual({
      status: 'open',
      consecutiveFailures: 4,
      openedAt: T0 + 61_000,
    });
    expect(breakerAllows(reopened, T0 + 120_000, options).allowed).toBe(false);
    expect(breakerAllows(reopened, T0 + 121_000, options).allowed).toBe(true);
  });

  it('allows a new trial when the pending one never reported back', () => {
    const trial = breakerAllows(
      fail(INITIAL_BREAKER_STATE, 3),
      T0 + 60_000,
      options,
    ).state;
    expect(breakerAllows(trial, T0 + 119_999, options).allowed).toBe(false);
    const retried = breakerAllows(trial, T0 + 120_000, options);
    expect(retried.allowed).toBe(true);
    expect(retried.state).toMatchObject({
      status: 'half-open',
      trialInFlight: true,
      trialStartedAt: T0 + 120_000,
    });
  });

  it('allows a trial in half-open when none is in flight', () => {
    const state: BreakerState = {
      status: 'half-open',
      consecutiveFailures: 3,
      openedAt: T0,
    };
    const decision = breakerAllows(state, T0 + 1, options);
    expect(decision.allowed).toBe(true);
    expect(decision.state.trialInFlight).toBe(true);
  });

  it('counts late failures while open without extending the cool-down', () => {
    const open = fail(INITIAL_BREAKER_STATE, 3);
    const later = breakerRecord(open, 'failure', T0 + 30_000, options);
    expect(later).toEqual({
      status: 'open',
      consecutiveFailures: 4,
      openedAt: T0,
    });
    expect(breakerAllows(later, T0 + 60_000, options).allowed).toBe(true);
  });

  it('closes on a late success while open', () => {
    const open = fail(INITIAL_BREAKER_STATE, 3);
    expect(breakerRecord(open, 'success', T0 + 1, options)).toEqual({
      status: 'closed',
      consecutiveFailures: 0,
    });
  });

  it('treats an open breaker without openedAt as cooled down', () => {
    const state: BreakerState = { status: 'open', consecutiveFailures: 3 };
    const decision = breakerAllows(state, T0, options);
    expect(decision.allowed).toBe(true);
    expect(decision.state).toEqual({
      status: 'half-open',
      consecutiveFailures: 3,
      trialInFlight: true,
      trialStartedAt: T0,
    });
    expect(breakerRecord(state, 'failure', T0, options).openedAt).toBe(T0);
  });

  it('does not mutate its input', () => {
    const open = Object.freeze(fail(INITIAL_BREAKER_STATE, 3));
    expect(() => breakerAllows(open, T0 + 60_000, options)).not.toThrow();
    expect(() => breakerRecord(open, 'failure', T0, options)).not.toThrow();
    expect(open).toEqual({
      status: 'open',
      consecutiveFailures: 3,
      openedAt: T0,
    });
  });

  it('copes with a cool-down beyond the range of dates', () => {
    const open = fail(INITIAL_BREAKER_STATE, 3);
    const decision = breakerAllows(open, T0, { ...options, coolDownMs: 1e20 });
    expect(decision.allowed).toBe(false);
    expect(decision.reason).toMatch(/retry after 1\d+ ms$/);
  });

  it('behaves like a breaker over a random sequence of events', () => {
    // A model check: at most one trial at a time in half-open, never work
    // while open before the cool-down.
    let seed = 17;
    const random = () => {
      seed = (seed * 16807) % 2147483647;
      return seed / 2147483647;
    };
    let state: BreakerState = INITIAL_BREAKER_STATE;
    let now = T0;
    let inFlightTrials = 0;
    let trials = 0;
    const problems: string[] = [];
    const check = (ok: boolean, problem: string) => {
      if (!ok) problems.push(`step at ${now - T0}: ${problem}`);
    };
    for (let step = 0; step < 5_000; step++) {
      now += Math.floor(random() * 20_000);
      const decision = breakerAllows(state, now, options);
      check(
        !(
          decision.allowed &&
          state.status === 'open' &&
          now < state.openedAt! + 60_000
        ),
        'allowed work while open',
      );
      check(
        !(
          decision.allowed &&
          state.status === 'half-open' &&
          state.trialInFlight &&
          now < state.trialStartedAt! + 60_000
        ),
        'allowed a second trial',
      );
      state = decision.state;
      if (!decision.allowed) continue;
      if (state.status === 'half-open') {
        inFlightTrials++;
        trials++;
      }
      check(inFlightTrials <= 1, 'more than one trial in flight');
      // finish the operation right away most of the time; otherwise its
      // worker died and the breaker must recover on its own
      if (random() < 0.9) {
        state = breakerRecord(
          state,
          random() < 0.4 ? 'failure' : 'success',
          now,
          options,
        );
      }
      inFlightTrials = 0;
      check(
        state.status !== 'closed' || state.consecutiveFailures < 3,
        'closed at the threshold',
      );
    }
    expect(problems).toEqual([]);
    expect(trials).toBeGreaterThan(10);
  });

  it('rejects bad input', () => {
    const bad: BreakerOptions[] = [
      { failureThreshold: 0, coolDownMs: 1 },
      { failureThreshold: 1.5, coolDownMs: 1 },
      { failureThreshold: 3, coolDownMs: -1 },
      { failureThreshold: 3, coolDownMs: NaN },
    ];
    for (const o of bad) {
      expect(() => breakerAllows(INITIAL_BREAKER_STATE, T0, o)).toThrow(
        InputError,
      );
      expect(() =>
        breakerRecord(INITIAL_BREAKER_STATE, 'failure', T0, o),
      ).toThrow(InputError);
    }
    expect(() => breakerAllows(INITIAL_BREAKER_STATE, NaN, options)).toThrow(
      InputError,
    );
    expect(() =>
      breakerRecord(INITIAL_BREAKER_STATE, 'maybe' as 'success', T0, options),
    ).toThrow(InputError);
  });
});
