import { trendOptions } from './options';
import { FlapState, INITIAL_FLAP_STATE, observeStatus } from './flapping';

const T0 = Date.parse('2026-11-27T10:00:00.000Z');

describe('observeStatus (flapping)', () => {
  const o = trendOptions({
    flapThreshold: 3,
    flapWindowMs: 60_000,
    flapQuietMs: 30_000,
  });
  const statuses = (
    steps: Array<[number, 'passing' | 'failing' | 'unknown']>,
    state: FlapState = INITIAL_FLAP_STATE,
  ) =>
    steps.reduce(
      (s, [t, status]) => observeStatus(s, status, T0 + t, o),
      state,
    );

  it('does not count the first settled status nor unknown', () => {
    const state = statuses([
      [0, 'unknown'],
      [1000, 'passing'],
      [2000, 'unknown'],
      [3000, 'passing'],
    ]);
    expect(state).toEqual({ status: 'passing', changes: [], flapping: false });
  });

  it('flaps after more than flapThreshold changes within the window', () => {
    const three = statuses([
      [0, 'passing'],
      [1000, 'failing'],
      [2000, 'passing'],
      [3000, 'failing'],
    ]);
    expect(three).toMatchObject({ flapping: false });
    expect(three.changes).toHaveLength(3);
    expect(statuses([[4000, 'passing']], three).flapping).toBe(true);
  });

  it('does not count changes older than the window', () => {
    const state = statuses([
      [0, 'passing'],
      [1000, 'failing'],
      [2000, 'passing'],
      [3000, 'failing'],
      [70_000, 'passing'],
    ]);
    expect(state.flapping).toBe(false);
  });

  it('keeps flapping until a quiet period has passed without a change', () => {
    const flapping = statuses([
      [0, 'passing'],
      [1000, 'failing'],
      [2000, 'passing'],
      [3000, 'failing'],
      [4000, 'passing'],
    ]);
    expect(statuses([[20_000, 'passing']], flapping).flapping).toBe(true);
    // another change restarts the quiet period
    const again = statuses(
      [
        [20_000, 'failing'],
        [45_000, 'failing'],
      ],
      flapping,
    );
    expect(again.flapping).toBe(true);
    const calm = statuses([[50_000, 'failing']], again);
    expect(calm).toEqual({ status: 'failing', changes: [], flapping: false });
  });

  it('returns the same state when nothing changed', () => {
    const state = statuses([[0, 'passing']]);
    expect(observeStatus(state, 'passing', T0 + 5000, o)).toBe(state);
  });
});
