import { ProbeDefinition } from '@internal/plugin-lifecycle-common';
import { HealthStatusRecord } from '../../database/HealthStore';
import { stableFraction } from '../../domain/health/assignment';
import {
  ProbeSettings,
  ProbeState,
  initialProbeState,
  probeSettings,
} from '../../domain/health/probeStatus';
import {
  HealthVerdict,
  INITIAL_PROBE_TREND,
  ProbeTrend,
  TrendSummary,
  probeBreakerOptions,
} from '../../domain/health/trends';
import {
  BreakerOptions,
  BreakerState,
} from '../../domain/orchestration/circuitBreaker';
import { probeTimeoutMs } from './probers/deadline';
import { ProbeTarget } from './probers/types';
import { HealthTarget, MonitorSettings } from './types';

// The in-memory model the parts of the health monitor share: a target and
// one slot per probe of it.

export interface TargetHealth {
  verdict: HealthVerdict;
  healthScore: number;
  ready: boolean;
  live: boolean;
  started: boolean;
  reasons: string[];
}

export interface Target {
  readonly id: string;
  readonly pluginId: string;
  readonly instanceId: string;
  readonly host: string;
  readonly port: number;
  readonly startedAt: number;
  readonly probeTarget: ProbeTarget;
  slots: Slot[];
  /** The probes as last given, to skip comparing an unchanged list. */
  probesRef: ProbeDefinition[];
  probesJson: string;
  assigned: boolean;
  removed: boolean;
  /** Its slots' states are loaded and it is being probed. */
  active: boolean;
  health?: TargetHealth;
  /** What was last announced and written. */
  published?: TargetHealth;
}

export interface Slot {
  readonly target: Target;
  readonly probe: ProbeDefinition;
  readonly probeJson: string;
  readonly settings: ProbeSettings;
  readonly timeoutMs: number;
  readonly breakerOptions?: BreakerOptions;
  readonly phase: number;
  state: ProbeState;
  trend: ProbeTrend;
  summary: TrendSummary;
  breaker?: BreakerState;
  lastLatencyMs?: number;
  lastSampledAt: number;
  lastSampledOk?: boolean;
  /** When the row is rewritten if nothing changes before. */
  refreshAt: number;
  dueAt?: number;
  removed: boolean;
}

/** A target's health as the replica that probes it wrote it. */
export interface RemoteHealth extends TargetHealth {
  pluginId: string;
  instanceId: string;
  reportedBy: string;
  updatedAt: number;
}

/** The counters of `HealthMonitorStats` the parts keep. */
export interface MonitorCounters {
  probesRun: number;
  probesFailed: number;
  statusRowsWritten: number;
  resultsWritten: number;
  resultsDropped: number;
}

export const EMPTY_SUMMARY: TrendSummary = Object.freeze({
  degrading: false,
  flapping: false,
  reasons: [],
}) as TrendSummary;

/** A score change this large is announced even when the verdict stays. */
export const SCORE_STEP = 0.1;

export function newTarget(
  spec: HealthTarget,
  startedAt: number,
  settings: ProbeSlotSettings = {},
): Target {
  const instanceId = spec.instanceId ?? spec.id;
  const target: Target = {
    id: spec.id,
    pluginId: spec.pluginId,
    instanceId,
    host: spec.host,
    port: spec.port,
    startedAt,
    probeTarget: {
      host: spec.host,
      port: spec.port,
      instanceId,
      pluginId: spec.pluginId,
      ...(spec.serviceName !== undefined
        ? { serviceName: spec.serviceName }
        : {}),
    },
    slots: [],
    probesRef: spec.probes,
    probesJson: JSON.stringify(spec.probes),
    assigned: false,
    removed: false,
    active: false,
  };
  target.slots = spec.probes.map(p => newSlot(target, p, settings));
  return target;
}

/** The monitor's settings a new slot reads. */
export type ProbeSlotSettings = Partial<
  Pick<MonitorSettings, 'probeDefaults' | 'circuitBreakers'>
>;

export function newSlot(
  target: Target,
  probe: ProbeDefinition,
  monitor: ProbeSlotSettings = {},
): Slot {
  // The monitor's defaults fill in what the probe leaves out. The slot runs
  // the probe with them; `probeJson` stays the definition as written, which
  // is what changes of the plugin's probes are compared with.
  const { periodSeconds, failureThreshold } = monitor.probeDefaults ?? {};
  const effective: ProbeDefinition = {
    ...probe,
    ...(probe.periodSeconds === undefined && periodSeconds !== undefined
      ? { periodSeconds }
      : {}),
    ...(probe.failureThreshold === undefined && failureThreshold !== undefined
      ? { failureThreshold }
      : {}),
  };
  return {
    target,
    probe: effective,
    probeJson: JSON.stringify(probe),
    settings: probeSettings(effective),
    timeoutMs: probeTimeoutMs(effective),
    breakerOptions:
      monitor.circuitBreakers === false
        ? undefined
        : probeBreakerOptions(probe),
    phase: stableFraction(`${target.id}\u0000${probe.name}`),
    state: initialProbeState(effective, target.startedAt),
    trend: INITIAL_PROBE_TREND,
    summary: EMPTY_SUMMARY,
    lastSampledAt: -Infinity,
    refreshAt: -Infinity,
    removed: false,
  };
}

/** A probe waits while a startup probe of its target has not passed. */
export function isHeld(slot: Slot): boolean {
  return (
    slot.probe.type !== 'startup' &&
    slot.target.slots.some(
      s => s.probe.type === 'startup' && s.state.status !== 'passing',
    )
  );
}

/** The state a row describes, on top of a fresh state for its probe. */
export function stateFromRow(
  row: HealthStatusRecord,
  fresh: ProbeState,
): ProbeState {
  return {
    ...fresh,
    status: row.status,
    consecutiveSuccesses: row.consecutiveSuccesses,
    consecutiveFailures: row.consecutiveFailures,
    ...(row.lastCheckedAt === undefined
      ? {}
      : { lastProbeAt: row.lastCheckedAt }),
    ...(row.lastTransitionAt === undefined
      ? {}
      : { lastTransitionAt: row.lastTransitionAt }),
    ...(row.lastOk === undefined ? {} : { lastOk: row.lastOk }),
    ...(row.lastMessage === undefined ? {} : { lastMessage: row.lastMessage }),
  };
}

/** Lets other work run in the middle of handling thousands of targets. */
export function yieldToLoop(): Promise<void> {
  return new Promise(resolve => setImmediate(resolve));
}
