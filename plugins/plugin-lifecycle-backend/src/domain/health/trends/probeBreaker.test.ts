import {
  INITIAL_BREAKER_STATE,
  breakerAllows,
  breakerRecord,
} from '../../orchestration/circuitBreaker';
import { probeBreakerOptions } from './probeBreaker';

const T0 = Date.parse('2026-11-27T10:00:00.000Z');

describe('probeBreakerOptions', () => {
  it('is undefined without an enabled breaker', () => {
    expect(probeBreakerOptions({})).toBeUndefined();
    expect(
      probeBreakerOptions({ circuitBreaker: { enabled: false } }),
    ).toBeUndefined();
  });

  it('maps the probe breaker onto the orchestration breaker', () => {
    const breaker = probeBreakerOptions({
      circuitBreaker: {
        enabled: true,
        failureThreshold: 2,
        recoveryTimeout: 5000,
      },
    })!;
    expect(breaker).toEqual({ failureThreshold: 2, coolDownMs: 5000 });
    expect(probeBreakerOptions({ circuitBreaker: { enabled: true } })).toEqual({
      failureThreshold: 5,
      coolDownMs: 30_000,
    });

    // Two failures open it; it refuses until the recovery timeout, then lets
    // one half-open trial through, whose success closes it.
    let state = breakerRecord(INITIAL_BREAKER_STATE, 'failure', T0, breaker);
    state = breakerRecord(state, 'failure', T0 + 1, breaker);
    expect(state.status).toBe('open');
    expect(breakerAllows(state, T0 + 4000, breaker).allowed).toBe(false);
    const trial = breakerAllows(state, T0 + 5001, breaker);
    expect(trial).toMatchObject({
      allowed: true,
      state: { status: 'half-open' },
    });
    expect(breakerAllows(trial.state, T0 + 5002, breaker).allowed).toBe(false);
    expect(
      breakerRecord(trial.state, 'success', T0 + 5003, breaker).status,
    ).toBe('closed');
  });
});
