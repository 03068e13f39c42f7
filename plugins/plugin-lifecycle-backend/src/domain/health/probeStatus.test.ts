import { InputError } from '@backstage/errors';
import { ProbeDefinition } from '@internal/plugin-lifecycle-common';
import fc from 'fast-check';
import {
  ProbeState,
  initialProbeState,
  instanceProbeGate,
  nextProbeDue,
  probeSettings,
  recordOutcome,
} from './probeStatus';

const T0 = Date.parse('2026-01-01T00:00:00.000Z');

function probe(overrides: Partial<ProbeDefinition> = {}): ProbeDefinition {
  return { name: 'ready', type: 'readiness', method: 'tcp', ...overrides };
}

/** Records results one period apart, starting one period after T0. */
function record(
  definition: ProbeDefinition,
  results: boolean[],
  state = initialProbeState(definition, T0),
): ProbeState {
  const { periodMs } = probeSettings(definition);
  return results.reduce(
    (current, ok) =>
      recordOutcome(
        current,
        definition,
        { ok, message: ok ? 'fine' : 'broken' },
        (current.lastProbeAt ?? T0) + periodMs,
      ),
    state,
  );
}

describe('probeSettings', () => {
  it('fills in the Kubernetes defaults', () => {
    expect(probeSettings(probe())).toEqual({
      initialDelayMs: 0,
      periodMs: 10_000,
      timeoutMs: 1_000,
      successThreshold: 1,
      failureThreshold: 3,
    });
  });

  it('takes the given values, in ms', () => {
    expect(
      probeSettings(
        probe({
          initialDelaySeconds: 5,
          periodSeconds: 2.5,
          timeoutSeconds: 0.25,
          successThreshold: 2,
          failureThreshold: 7,
        }),
      ),
    ).toEqual({
      initialDelayMs: 5_000,
      periodMs: 2_500,
      timeoutMs: 250,
      successThreshold: 2,
      failureThreshold: 7,
    });
  });

  it.each(['liveness', 'startup'] as const)(
    'uses a success threshold of 1 for %s probes',
    type => {
      expect(
        probeSettings(probe({ type, successThreshold: 4 })).successThreshold,
      ).toBe(1);
    },
  );
});

describe('initialProbeState and nextProbeDue', () => {
  it('starts unknown and is first due after the initial delay', () => {
    const definition = probe({ initialDelaySeconds: 15 });
    const state = initialProbeState(definition, T0);
    expect(state).toEqual({
      name: 'ready',
      type: 'readiness',
      status: 'unknown',
      consecutiveSuccesses: 0,
      consecutiveFailures: 0,
      startedAt: T0,
    });
    expect(nextProbeDue(state, definition)).toBe(T0 + 15_000);
  });

  it('is due one period after the last result', () => {
    const definition = probe({ periodSeconds: 3 });
    const state = recordOutcome(
      initialProbeState(definition, T0),
      definition,
      { ok: false },
      T0 + 1234,
    );
    expect(nextProbeDue(state, definition)).toBe(T0 + 1234 + 3_000);
  });

  it('rejects a time that is not a number', () => {
    expect(() => initialProbeState(probe(), NaN)).toThrow(InputError);
    expect(() =>
      recordOutcome(
        initialProbeState(probe(), T0),
        probe(),
        { ok: true },
        Infinity,
      ),
    ).toThrow('now must be a time in ms since the epoch, got Infinity');
  });
});

describe('recordOutcome', () => {
  it('fails only after failureThreshold consecutive failures', () => {
    const definition = probe({ failureThreshold: 3 });
    const twice = record(definition, [false, false]);
    expect(twice).toMatchObject({
      status: 'unknown',
      consecutiveFailures: 2,
      lastOk: false,
      lastMessage: 'broken',
    });
    expect(twice.lastTransitionAt).toBeUndefined();

    const thrice = record(definition, [false], twice);
    expect(thrice).toMatchObject({
      status: 'failing',
      consecutiveFailures: 3,
      lastTransitionAt: T0 + 30_000,
    });
  });

  it('passes after one success by default', () => {
    const state = record(probe(), [true]);
    expect(state).toMatchObject({
      status: 'passing',
      consecutiveSuccesses: 1,
      consecutiveFailures: 0,
      lastProbeAt: T0 + 10_000,
      lastTransitionAt: T0 + 10_000,
    });
  });

  it('keeps passing through fewer failures than the threshold', () => {
    const definition = probe({ failureThreshold: 3 });
    const state = record(definition, [true, false, false]);
    expect(state).toMatchObject({
      status: 'passing',
      consecutiveFailures: 2,
      lastTransitionAt: T0 + 10_000,
    });
    // A success in between starts the count again.
    expect(record(definition, [false, false, true, false, false]).status).toBe(
      'passing',
    );
    expect(record(definition, [true, false, false, false]).status).toBe(
      'failing',
    );
  });

  it('recovers only after successThreshold consecutive successes', () => {
    const definition = probe({ successThreshold: 2, failureThreshold: 1 });
    const failing = record(definition, [false]);
    expect(failing.status).toBe('failing');
    const once = record(definition, [true], failing);
    expect(once).toMatchObject({ status: 'failing', consecutiveSuccesses: 1 });
    expect(record(definition, [true], once).status).toBe('passing');
    expect(record(definition, [true, false, true], failing).status).toBe(
      'failing',
    );
  });

  it('needs successThreshold successes to pass for the first time too', () => {
    const definition = probe({ successThreshold: 3 });
    expect(record(definition, [true, true]).status).toBe('unknown');
    expect(record(definition, [true, true, true]).status).toBe('passing');
  });

  it('ignores successThreshold for liveness probes', () => {
    const definition = probe({
      type: 'liveness',
      successThreshold: 5,
      failureThreshold: 1,
    });
    expect(record(definition, [false, true]).status).toBe('passing');
  });

  it('latches a startup probe once it has passed', () => {
    const definition = probe({
      name: 'boot',
      type: 'startup',
      failureThreshold: 1,
    });
    const passed = record(definition, [false, true]);
    expect(passed.status).toBe('passing');
    expect(nextProbeDue(passed, definition)).toBeUndefined();
    expect(record(definition, [false, false], passed)).toBe(passed);
  });

  it('refuses the result of another probe', () => {
    const state = initialProbeState(probe(), T0);
    expect(() =>
      recordOutcome(state, probe({ name: 'other' }), { ok: true }, T0),
    ).toThrow(
      "The state of readiness probe 'ready' cannot record a result of readiness probe 'other'",
    );
  });

  it('counts the trailing run and applies the thresholds for any results', () => {
    fc.assert(
      fc.property(
        fc.array(fc.boolean(), { maxLength: 40 }),
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 1, max: 5 }),
        (results, successThreshold, failureThreshold) => {
          const definition = probe({ successThreshold, failureThreshold });
          const state = record(definition, results);
          // The status is set by the last result that completed a run as
          // long as its threshold; before any did, it is unknown.
          let expected = 'unknown';
          let run = 0;
          results.forEach((ok, i) => {
            run = i > 0 && results[i - 1] === ok ? run + 1 : 1;
            if (run >= (ok ? successThreshold : failureThreshold)) {
              expected = ok ? 'passing' : 'failing';
            }
          });
          const last = results[results.length - 1];
          expect(state).toMatchObject({
            status: expected,
            consecutiveSuccesses: last === true ? run : 0,
            consecutiveFailures: last === false ? run : 0,
          });
        },
      ),
    );
  });
});

describe('instanceProbeGate', () => {
  const startup = probe({ name: 'boot', type: 'startup', failureThreshold: 2 });
  const readiness = probe({ name: 'ready', type: 'readiness' });
  const liveness = probe({ name: 'alive', type: 'liveness' });
  const initial = (definition: ProbeDefinition) =>
    initialProbeState(definition, T0);

  it('counts an instance without probes as started, ready and live', () => {
    expect(instanceProbeGate([])).toEqual({
      started: true,
      ready: true,
      live: true,
      readinessFailing: false,
      held: [],
      reasons: [],
    });
  });

  it('holds readiness and liveness while a startup probe is pending', () => {
    const gate = instanceProbeGate([
      record(startup, [false]),
      initial(readiness),
      initial(liveness),
    ]);
    expect(gate).toEqual({
      started: false,
      ready: false,
      live: true,
      readinessFailing: false,
      held: ['ready', 'alive'],
      reasons: ["startup probe 'boot' has not passed yet"],
    });
  });

  it('does not judge liveness before startup passed', () => {
    const gate = instanceProbeGate([
      initial(startup),
      record(liveness, [false, false, false]),
    ]);
    expect(gate).toMatchObject({ started: false, live: true });
  });

  it('is ready once started when there is no readiness probe', () => {
    const gate = instanceProbeGate([
      record(startup, [true]),
      initial(liveness),
    ]);
    expect(gate).toEqual({
      started: true,
      ready: true,
      live: true,
      readinessFailing: false,
      held: [],
      reasons: [],
    });
  });

  it('is ready only when every readiness probe passes', () => {
    const other = probe({ name: 'db', type: 'readiness' });
    const started = record(startup, [true]);
    expect(
      instanceProbeGate([started, initial(readiness), record(other, [true])]),
    ).toMatchObject({
      started: true,
      ready: false,
      readinessFailing: false,
      reasons: ["readiness probe 'ready' has not passed yet"],
    });
    expect(
      instanceProbeGate([
        started,
        record(readiness, [true]),
        record(other, [false, false, false]),
      ]),
    ).toMatchObject({
      ready: false,
      live: true,
      readinessFailing: true,
      reasons: ["readiness probe 'db': broken (failing)"],
    });
    expect(
      instanceProbeGate([
        started,
        record(readiness, [true]),
        record(other, [true]),
      ]),
    ).toMatchObject({ ready: true, live: true, reasons: [] });
  });

  it('is not live while a liveness probe fails, ready or not', () => {
    const gate = instanceProbeGate([
      record(readiness, [true]),
      record(liveness, [false, false, false]),
    ]);
    expect(gate).toEqual({
      started: true,
      ready: true,
      live: false,
      readinessFailing: false,
      held: [],
      reasons: ["liveness probe 'alive': broken (failing)"],
    });
  });

  it('is neither ready nor live once a startup probe has failed', () => {
    const gate = instanceProbeGate([
      record(startup, [false, false]),
      initial(readiness),
    ]);
    expect(gate).toEqual({
      started: false,
      ready: false,
      live: false,
      readinessFailing: false,
      held: ['ready'],
      reasons: ["startup probe 'boot': broken (failed)"],
    });
  });
});
