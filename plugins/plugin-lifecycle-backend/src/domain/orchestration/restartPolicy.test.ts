import { decideRestart, RestartPolicy } from './restartPolicy';

const policy: RestartPolicy = {
  backoffBaseMs: 1_000,
  backoffMaxMs: 8_000,
  maxRestarts: 4,
  windowMs: 600_000,
};
const NOW = 10_000_000;

describe('decideRestart', () => {
  it('replaces with a back-off that doubles with each crash in the window, capped', () => {
    const delays = [1, 2, 3, 4].map(n => {
      const times = Array.from({ length: n }, (_, i) => NOW - i * 1_000);
      return decideRestart(times, NOW, policy);
    });
    expect(delays).toEqual([
      { action: 'replace', crashes: 1, delayMs: 1_000 },
      { action: 'replace', crashes: 2, delayMs: 2_000 },
      { action: 'replace', crashes: 3, delayMs: 4_000 },
      { action: 'replace', crashes: 4, delayMs: 8_000 },
    ]);
    expect(
      decideRestart([NOW, NOW - 1, NOW - 2, NOW - 3], NOW, {
        ...policy,
        backoffMaxMs: 3_000,
      }),
    ).toMatchObject({ delayMs: 3_000 });
  });

  it('gives up once the budget is spent: a crash loop', () => {
    const times = [0, 1, 2, 3, 4].map(i => NOW - i * 10_000);
    expect(decideRestart(times, NOW, policy)).toEqual({
      action: 'give-up',
      crashes: 5,
      reason: 'crash loop: 5 crashes within 600 s, restart budget of 4 spent',
    });
    expect(
      decideRestart([NOW], NOW, { ...policy, maxRestarts: 0 }),
    ).toMatchObject({ action: 'give-up', crashes: 1 });
  });

  it('forgets crashes older than the window', () => {
    const old = [1, 2, 3, 4, 5].map(i => NOW - 600_000 - i);
    expect(decideRestart([...old, NOW], NOW, policy)).toEqual({
      action: 'replace',
      crashes: 1,
      delayMs: 1_000,
    });
  });
});
