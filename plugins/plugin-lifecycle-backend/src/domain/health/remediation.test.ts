import fc from 'fast-check';
import {
  DEFAULT_REMEDIATION_POLICY,
  InstanceRemedyState,
  RemediationPolicy,
  decideRemediation,
  remediationPolicy,
} from './remediation';

const T0 = Date.parse('2026-11-27T10:00:00.000Z');
type Gate = {
  started: boolean;
  ready: boolean;
  live: boolean;
  readinessFailing?: boolean;
  reasons: string[];
};

const target = {
  pluginId: 'sample',
  instanceId: 'sample-1',
  targetId: 'sample-1',
};
const LIVE: Gate = { started: true, ready: true, live: true, reasons: [] };
const DEAD = {
  started: true,
  ready: true,
  live: false,
  reasons: ["liveness probe 'alive': down (failing)"],
};
const UNREADY = {
  started: true,
  ready: false,
  live: true,
  reasons: ["readiness probe 'ready': 503 (failing)"],
};
const backoff = { baseMs: 1000, maxMs: 8000, stableMs: 60_000 };

/** Feeds gates at the given times (ms after T0) and collects the actions. */
function run(
  steps: Array<[number, Gate]>,
  policy: RemediationPolicy = DEFAULT_REMEDIATION_POLICY,
  start: { instance?: InstanceRemedyState; window?: number[] } = {},
) {
  let instance = start.instance;
  let window = start.window ?? [];
  const actions: Array<[number, string, number | undefined]> = [];
  const suppressed: Array<[number, string]> = [];
  for (const [t, gate] of steps) {
    const decision = decideRemediation({
      instance,
      pluginWindow: window,
      gate,
      target,
      now: T0 + t,
      policy,
      backoff,
    });
    instance = decision.instance;
    window = decision.pluginWindow;
    decision.actions.forEach(a => actions.push([t, a.type, a.attempt]));
    decision.suppressed.forEach(s => suppressed.push([t, s.action.type]));
  }
  return { instance: instance!, window, actions, suppressed };
}

/** A dead instance reported every 100 ms from `from` to `to`. */
function deadFrom(from: number, to: number): Array<[number, Gate]> {
  const steps: Array<[number, Gate]> = [];
  for (let t = from; t <= to; t += 100) steps.push([t, DEAD]);
  return steps;
}

describe('decideRemediation', () => {
  it('does nothing for a healthy instance', () => {
    expect(
      run([
        [0, LIVE],
        [1000, LIVE],
      ]).actions,
    ).toEqual([]);
  });

  it('restarts a dead instance after 1 s, then after 2 s and 4 s, capped', () => {
    const { actions } = run([[0, LIVE], ...deadFrom(100, 30_000)]);
    expect(actions).toEqual([
      [1100, 'restart', 1],
      [3100, 'restart', 2],
      [7100, 'restart', 3],
      [15_100, 'restart', 4],
      [23_100, 'restart', 5], // capped at 8 s
    ]);
  });

  it('keeps growing the back-off of an instance that recovers and crashes again', () => {
    const { actions, instance } = run([
      ...deadFrom(0, 1000),
      [2000, LIVE],
      ...deadFrom(10_000, 13_000),
    ]);
    expect(actions).toEqual([
      [1000, 'restart', 1],
      [12_000, 'restart', 2],
    ]);
    expect(instance).toMatchObject({ restarts: 2, lastRestartAt: T0 + 12_000 });
  });

  it('forgets the restarts of an instance live for stableMs', () => {
    const { actions, instance } = run([
      ...deadFrom(0, 1000),
      [2000, LIVE],
      [62_000, LIVE],
      ...deadFrom(70_000, 71_000),
    ]);
    expect(actions).toEqual([
      [1000, 'restart', 1],
      [71_000, 'restart', 1],
    ]);
    expect(instance.restarts).toBe(1);
  });

  it('says when a waiting restart is due', () => {
    const decision = decideRemediation({
      gate: DEAD,
      target,
      now: T0,
      backoff,
    });
    expect(decision).toMatchObject({
      actions: [],
      restartDueAt: T0 + 1000,
      instance: { live: false, failingSince: T0 },
    });
  });

  it('rate limits per plugin and reports the suppression once per failure', () => {
    const policy = { ...DEFAULT_REMEDIATION_POLICY, maxPerHour: 2 };
    const { actions, suppressed, window } = run(deadFrom(0, 20_000), policy);
    expect(actions).toEqual([
      [1000, 'restart', 1],
      [3000, 'restart', 2],
    ]);
    expect(suppressed).toEqual([[7000, 'restart']]);
    expect(window).toEqual([T0 + 1000, T0 + 3000]);
    // An hour later the limit has room again.
    const later = run(deadFrom(3_601_000, 3_602_000), policy, {
      instance: run(deadFrom(0, 20_000), policy).instance,
      window,
    });
    expect(later.actions).toEqual([[3_601_000, 'restart', 3]]);
  });

  it('counts every instance of the plugin against the limit', () => {
    const policy: RemediationPolicy = {
      ...DEFAULT_REMEDIATION_POLICY,
      onLivenessFailure: 'mark-error',
      maxPerHour: 1,
    };
    const first = decideRemediation({ gate: DEAD, target, now: T0, policy });
    const second = decideRemediation({
      gate: DEAD,
      target: { ...target, instanceId: 'sample-2', targetId: 'sample-2' },
      pluginWindow: first.pluginWindow,
      now: T0 + 10,
      policy,
    });
    expect(first.actions.map(a => a.type)).toEqual(['mark-error']);
    expect(second.actions).toEqual([]);
    expect(second.suppressed).toEqual([
      {
        action: expect.objectContaining({
          type: 'mark-error',
          instanceId: 'sample-2',
        }),
        reason: "rate limit: 1 remediations of plugin 'sample' per hour",
      },
    ]);
  });

  it.each(['mark-error', 'event'] as const)(
    '%s once per liveness failure',
    remedy => {
      const policy = {
        ...DEFAULT_REMEDIATION_POLICY,
        onLivenessFailure: remedy,
      };
      const { actions } = run(
        [...deadFrom(0, 5000), [6000, LIVE], ...deadFrom(7000, 8000)],
        policy,
      );
      expect(actions).toEqual([
        [0, remedy, undefined],
        [7000, remedy, undefined],
      ]);
    },
  );

  it('does nothing for a dead instance under policy none', () => {
    const policy: RemediationPolicy = {
      ...DEFAULT_REMEDIATION_POLICY,
      onLivenessFailure: 'none',
    };
    expect(run(deadFrom(0, 60_000), policy).actions).toEqual([]);
  });

  it('takes an instance that stops being ready out of rotation and back', () => {
    const { actions } = run([
      [0, UNREADY], // never was ready: nothing to take out
      [100, LIVE],
      [200, UNREADY],
      [300, UNREADY],
      [400, LIVE],
      [500, LIVE],
    ]);
    expect(actions).toEqual([
      [200, 'out-of-rotation', undefined],
      [400, 'into-rotation', undefined],
    ]);
  });

  it('takes out an instance whose readiness probe fails before it was ever ready', () => {
    const failing: Gate = { ...UNREADY, readinessFailing: true };
    const notYet: Gate = {
      ...UNREADY,
      readinessFailing: false,
      reasons: ["readiness probe 'ready' has not passed yet"],
    };
    // A probe that has not run yet says nothing: no flapping at start.
    expect(run([[0, notYet]]).actions).toEqual([]);
    const { actions } = run([
      [0, failing],
      [100, failing],
      [200, LIVE],
    ]);
    expect(actions).toEqual([
      [0, 'out-of-rotation', undefined],
      [200, 'into-rotation', undefined],
    ]);
  });

  it('only emits an event for readiness under policy event, rate limited', () => {
    const policy: RemediationPolicy = {
      ...DEFAULT_REMEDIATION_POLICY,
      onReadinessFailure: 'event',
      maxPerHour: 1,
    };
    const { actions, suppressed } = run(
      [
        [0, LIVE],
        [100, UNREADY],
        [200, LIVE],
        [300, UNREADY],
      ],
      policy,
    );
    expect(actions).toEqual([[100, 'event', undefined]]);
    expect(suppressed).toEqual([[300, 'event']]);
  });

  it('does not judge readiness while not started', () => {
    const { actions } = run([
      [0, LIVE],
      [100, { ...UNREADY, started: false }],
    ]);
    expect(actions).toEqual([]);
  });

  it('never restarts sooner than the back-off for any sequence', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            dt: fc.integer({ min: 1, max: 5000 }),
            live: fc.boolean(),
          }),
          { maxLength: 60 },
        ),
        steps => {
          let t = 0;
          const timeline = steps.map(s => {
            t += s.dt;
            return [t, s.live ? LIVE : DEAD] as [number, Gate];
          });
          const { actions } = run(timeline);
          const tooSoon = actions.filter(([at, , attempt], i) => {
            if (i === 0 || attempt! <= 1) return false;
            const delay = Math.min(1000 * 2 ** (attempt! - 1), 8000);
            return at - actions[i - 1][0] < delay;
          });
          expect(tooSoon).toEqual([]);
        },
      ),
    );
  });
});

describe('remediationPolicy', () => {
  it('layers settings over the defaults', () => {
    expect(remediationPolicy()).toEqual(DEFAULT_REMEDIATION_POLICY);
    expect(
      remediationPolicy(
        { maxPerHour: 3 },
        { onLivenessFailure: 'event', maxPerHour: undefined },
      ),
    ).toEqual({
      onLivenessFailure: 'event',
      onReadinessFailure: 'out-of-rotation',
      maxPerHour: 3,
    });
  });

  it.each([
    [
      { onLivenessFailure: 'reboot' },
      "onLivenessFailure must be restart, mark-error, event or none, got 'reboot'",
    ],
    [
      { onReadinessFailure: 'restart' },
      "onReadinessFailure must be out-of-rotation, event or none, got 'restart'",
    ],
    [{ maxPerHour: -1 }, 'maxPerHour must be a whole number from 0, got -1'],
  ])('refuses %j', (layer, message) => {
    expect(() => remediationPolicy(layer as any)).toThrow(message);
  });
});
