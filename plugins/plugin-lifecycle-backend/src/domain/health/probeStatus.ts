import { InputError } from '@backstage/errors';
import { ProbeDefinition } from '@internal/plugin-lifecycle-common';

/**
 * The kind of a probe, as in Kubernetes.
 *
 * @public
 */
export type ProbeType = ProbeDefinition['type'];

/**
 * What the thresholds make of a probe's results so far: `unknown` until
 * enough consecutive results agree, then `passing` or `failing`.
 *
 * @public
 */
export type ProbeStatus = 'unknown' | 'passing' | 'failing';

/**
 * The settings of a probe with the Kubernetes defaults filled in.
 *
 * @public
 */
export interface ProbeSettings {
  initialDelayMs: number;
  periodMs: number;
  timeoutMs: number;
  successThreshold: number;
  failureThreshold: number;
}

/**
 * The result of one probe run, as far as the thresholds care. The probers'
 * outcome fits it.
 *
 * @public
 */
export interface ProbeObservation {
  ok: boolean;
  message?: string;
}

/**
 * The state of one probe of one instance. Times are ms since the epoch.
 *
 * @public
 */
export interface ProbeState {
  readonly name: string;
  readonly type: ProbeType;
  readonly status: ProbeStatus;
  readonly consecutiveSuccesses: number;
  readonly consecutiveFailures: number;
  /** When the instance started; the initial delay counts from here. */
  readonly startedAt: number;
  /** When the last result was recorded. */
  readonly lastProbeAt?: number;
  /** When `status` last changed. */
  readonly lastTransitionAt?: number;
  readonly lastOk?: boolean;
  readonly lastMessage?: string;
}

/**
 * Whether an instance may take traffic and whether it must be restarted,
 * from the states of all its probes.
 *
 * @public
 */
export interface InstanceProbeGate {
  /** Every startup probe has passed (true when there is none). */
  started: boolean;
  /** Started, and every readiness probe is passing. */
  ready: boolean;
  /**
   * No liveness probe is failing and no startup probe has failed; when
   * false the instance is to be restarted, as Kubernetes would.
   */
  live: boolean;
  /**
   * Started, and a readiness probe has failed (not merely not passed yet):
   * the instance says it cannot serve.
   */
  readinessFailing: boolean;
  /** Readiness and liveness probes not to run while startup is pending. */
  held: string[];
  /** Why the instance is not ready or not live; empty when it is both. */
  reasons: string[];
}

const DEFAULTS = {
  initialDelaySeconds: 0,
  periodSeconds: 10,
  timeoutSeconds: 1,
  successThreshold: 1,
  failureThreshold: 3,
};

/**
 * The settings of a probe with Kubernetes' defaults: no initial delay, a
 * period of 10 s, a timeout of 1 s, one success and three failures. Liveness
 * and startup probes always use a success threshold of 1, which Kubernetes
 * enforces by rejecting anything else.
 *
 * @public
 */
export function probeSettings(probe: ProbeDefinition): ProbeSettings {
  const seconds = (value: number | undefined, fallback: number) =>
    Math.round((value ?? fallback) * 1000);
  return {
    initialDelayMs: seconds(
      probe.initialDelaySeconds,
      DEFAULTS.initialDelaySeconds,
    ),
    periodMs: seconds(probe.periodSeconds, DEFAULTS.periodSeconds),
    timeoutMs: seconds(probe.timeoutSeconds, DEFAULTS.timeoutSeconds),
    successThreshold:
      probe.type === 'readiness'
        ? probe.successThreshold ?? DEFAULTS.successThreshold
        : 1,
    failureThreshold: probe.failureThreshold ?? DEFAULTS.failureThreshold,
  };
}

/**
 * The state of a probe of an instance that has just started.
 *
 * @param startedAt - when the instance started, in ms since the epoch
 * @public
 */
export function initialProbeState(
  probe: ProbeDefinition,
  startedAt: number,
): ProbeState {
  assertTime(startedAt, 'startedAt');
  return {
    name: probe.name,
    type: probe.type,
    status: 'unknown',
    consecutiveSuccesses: 0,
    consecutiveFailures: 0,
    startedAt,
  };
}

/**
 * When the probe is next to run, in ms since the epoch: the initial delay
 * after the start, then one period after the last result. A startup probe
 * that has passed never runs again, hence `undefined`.
 *
 * Readiness and liveness probes held by a pending startup probe (see
 * {@link instanceProbeGate}) are due all the same; the caller skips them.
 *
 * @public
 */
export function nextProbeDue(
  state: ProbeState,
  probe: ProbeDefinition,
): number | undefined {
  if (state.type === 'startup' && state.status === 'passing') {
    return undefined;
  }
  const settings = probeSettings(probe);
  if (state.lastProbeAt === undefined) {
    return state.startedAt + settings.initialDelayMs;
  }
  return state.lastProbeAt + settings.periodMs;
}

/**
 * Records the result of one run of the probe.
 *
 * As in Kubernetes, the status changes only once `successThreshold`
 * consecutive successes or `failureThreshold` consecutive failures agree;
 * until then it keeps its previous value (`unknown` before the thresholds
 * were ever met). A startup probe that has passed is latched: further
 * results change nothing.
 *
 * @param now - when the result arrived, in ms since the epoch
 * @throws InputError when the state belongs to another probe
 * @public
 */
export function recordOutcome(
  state: ProbeState,
  probe: ProbeDefinition,
  outcome: ProbeObservation,
  now: number,
): ProbeState {
  assertTime(now, 'now');
  if (state.name !== probe.name || state.type !== probe.type) {
    throw new InputError(
      `The state of ${state.type} probe '${state.name}' cannot record a result of ${probe.type} probe '${probe.name}'`,
    );
  }
  if (state.type === 'startup' && state.status === 'passing') {
    return state;
  }
  const settings = probeSettings(probe);
  const consecutiveSuccesses = outcome.ok ? state.consecutiveSuccesses + 1 : 0;
  const consecutiveFailures = outcome.ok ? 0 : state.consecutiveFailures + 1;
  let status = state.status;
  if (outcome.ok && consecutiveSuccesses >= settings.successThreshold) {
    status = 'passing';
  } else if (!outcome.ok && consecutiveFailures >= settings.failureThreshold) {
    status = 'failing';
  }
  return {
    ...state,
    status,
    consecutiveSuccesses,
    consecutiveFailures,
    lastProbeAt: now,
    lastTransitionAt: status === state.status ? state.lastTransitionAt : now,
    lastOk: outcome.ok,
    lastMessage: outcome.message,
  };
}

/**
 * What the probes say about an instance, in Kubernetes' terms: while any
 * startup probe has not passed, readiness and liveness probes are held (not
 * run) and the instance is neither ready nor judged by liveness; once
 * started, it is ready when every readiness probe passes (at once when it has
 * none) and live while no liveness probe fails. A failed startup probe makes
 * it not live, so it is restarted.
 *
 * @public
 */
export function instanceProbeGate(
  states: readonly ProbeState[],
): InstanceProbeGate {
  const reasons: string[] = [];
  const of = (type: ProbeType) => states.filter(s => s.type === type);
  const describe = (s: ProbeState) =>
    `${s.type} probe '${s.name}'`.concat(
      s.lastMessage ? `: ${s.lastMessage}` : '',
    );

  const startup = of('startup');
  const started = startup.every(s => s.status === 'passing');
  let live = true;
  for (const s of startup) {
    if (s.status === 'failing') {
      live = false;
      reasons.push(`${describe(s)} (failed)`);
    } else if (s.status === 'unknown') {
      reasons.push(`startup probe '${s.name}' has not passed yet`);
    }
  }

  const held = started
    ? []
    : states.filter(s => s.type !== 'startup').map(s => s.name);

  let ready = started;
  if (started) {
    for (const s of of('readiness')) {
      if (s.status !== 'passing') {
        ready = false;
        reasons.push(
          s.status === 'failing'
            ? `${describe(s)} (failing)`
            : `readiness probe '${s.name}' has not passed yet`,
        );
      }
    }
    for (const s of of('liveness')) {
      if (s.status === 'failing') {
        live = false;
        reasons.push(`${describe(s)} (failing)`);
      }
    }
  }

  const readinessFailing =
    started && of('readiness').some(s => s.status === 'failing');
  return { started, ready, live, readinessFailing, held, reasons };
}

function assertTime(value: number, name: string) {
  if (!Number.isFinite(value)) {
    throw new InputError(
      `${name} must be a time in ms since the epoch, got ${value}`,
    );
  }
}
