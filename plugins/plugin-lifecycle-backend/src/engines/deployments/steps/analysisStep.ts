import {
  AnalysisCriteria,
  AnalysisRun,
  AnalysisVerdict,
} from '@internal/plugin-lifecycle-common';
import type { DeploymentRecord } from '../../../database/DeploymentStore';
import {
  addStats,
  evaluateAnalysis,
  evidenceOf,
  nextAfterInsufficient,
  statsDelta,
} from '../../../domain/deployments';
import type { PluginRecord } from '../../../database/PluginStore';
import type { RequestStats } from '../../discovery/ProxyMetrics';
import { errorMessage } from '../../lifecycle/ActionSteps';
import { DeploymentControllerOptions, StepOutcome } from '../deploymentTypes';
import { sideInstances } from './scaleStep';

/** How often a running window is looked at for an early failure (ms). */
export const ANALYSIS_CHECK_MS = 500;

/** Both versions' counters, as one replica saw them or as the window added them up. */
interface VersionCounters {
  new?: RequestStats;
  old?: RequestStats;
}

/**
 * What an analysis step keeps between looks (in `stepState.step`). Each
 * replica counts what its own data plane served, and any replica may take
 * the next look: so the window adds up, per replica, the difference from
 * that replica's previous look (`seen`), never one replica's counters
 * minus another's.
 */
interface AnalysisState {
  windowStartMs: number;
  untilMs: number;
  extensions: number;
  /** The counters each replica showed at its last look. */
  seen: Record<string, VersionCounters>;
  /** The window's requests so far, every replica's. */
  counted: VersionCounters;
  /** Index into `analysis` of this window's run. */
  run: number;
}

/** This replica's counters of both versions now. */
function countersNow(
  o: DeploymentControllerOptions,
  plugin: PluginRecord,
  d: DeploymentRecord,
): VersionCounters {
  return {
    new: o.traffic.versionStats(plugin, d.toVersion),
    old: o.traffic.versionStats(plugin, d.fromVersion),
  };
}

/** The window with what this replica counted since its previous look. */
function lookHere(
  state: AnalysisState,
  replicaId: string,
  now: VersionCounters,
): AnalysisState {
  const last = state.seen[replicaId];
  const add = (side: 'new' | 'old') => {
    const current = now[side];
    if (!current) return state.counted[side];
    // A replica's first look in this window only sets where it counts from.
    if (!last) return state.counted[side];
    return addStats(state.counted[side], statsDelta(last[side], current));
  };
  return {
    ...state,
    counted: { new: add('new'), old: add('old') },
    seen: { ...state.seen, [replicaId]: now },
  };
}

/**
 * One analysis window: counts each version's requests through our data
 * planes from the window's start, with the new instances' health. A
 * clear failure (enough requests and a threshold broken, or an unhealthy
 * instance) ends the window at once; at its end the verdict is pass, fail,
 * or too little traffic, which extends the window (up to the criteria's
 * limit) and never counts as a pass.
 */
export async function analyse(
  o: DeploymentControllerOptions,
  d: DeploymentRecord,
  step: { durationMs: number; criteria: AnalysisCriteria; compare?: boolean },
  nowMs: number,
): Promise<StepOutcome> {
  const plugin = await o.steps.plugins.getOrThrow(d.pluginId);
  const stored = d.stepState.step as AnalysisState | undefined;
  if (!stored) {
    const run: AnalysisRun = {
      step: d.currentStep,
      startedAt: new Date(nowMs).toISOString(),
      verdict: 'running',
      extensions: 0,
      minRequests: step.criteria.minRequests,
      evidence: [],
      reasons: [],
    };
    const fresh: AnalysisState = {
      windowStartMs: nowMs,
      untilMs: nowMs + step.durationMs,
      extensions: 0,
      seen: { [o.replicaId]: countersNow(o, plugin, d) },
      counted: {},
      run: d.analysis.length,
    };
    return {
      kind: 'wait',
      untilMs: Math.min(fresh.untilMs, nowMs + ANALYSIS_CHECK_MS),
      patch: {
        analysis: [...d.analysis, run],
        stepState: { ...d.stepState, step: fresh },
      },
    };
  }
  const state = lookHere(stored, o.replicaId, countersNow(o, plugin, d));
  const newIds = (await sideInstances(o, d, d.toVersion)).ready.map(i => i.id);
  const unhealthy = await o.unhealthyInstances(d.pluginId, newIds);
  const candidate = evidenceOf(d.toVersion, state.counted.new, unhealthy);
  const baseline = evidenceOf(d.fromVersion, state.counted.old, 0);
  const ended = nowMs >= state.untilMs;
  const providers = ended
    ? await runProviders(o, d, step.criteria, state, nowMs)
    : undefined;
  const result = evaluateAnalysis({
    criteria: step.criteria,
    candidate,
    baseline,
    compare: step.compare,
    extensions: state.extensions,
    providers,
  });
  const runs = [...d.analysis];
  const run: AnalysisRun = {
    ...runs[state.run],
    evidence: [candidate, baseline],
    reasons: result.reasons,
    extensions: state.extensions,
    ...(providers ? { providers } : {}),
  };
  const finish = (verdict: AnalysisVerdict) => {
    runs[state.run] = {
      ...run,
      verdict,
      finishedAt: new Date(nowMs).toISOString(),
    };
    return runs;
  };
  if (result.verdict === 'fail') {
    return {
      kind: 'fail',
      message: `analysis failed: ${result.reasons.join('; ')}`,
      patch: { analysis: finish('fail') },
    };
  }
  if (!ended) {
    runs[state.run] = run;
    return {
      kind: 'wait',
      untilMs: Math.min(state.untilMs, nowMs + ANALYSIS_CHECK_MS),
      patch: { analysis: runs, stepState: { ...d.stepState, step: state } },
    };
  }
  if (result.verdict === 'pass') {
    const context = { ...(d.stepState.context as object) } as Record<
      string,
      unknown
    >;
    if (step.compare && result.winner) {
      context.abWinner =
        result.winner === 'candidate' ? d.toVersion : d.fromVersion;
    }
    return {
      kind: 'done',
      message: `analysis passed: ${result.reasons.join('; ')}`,
      patch: {
        analysis: finish('pass'),
        stepState: { ...d.stepState, context },
      },
    };
  }
  const next = nextAfterInsufficient(step.criteria, state.extensions);
  const needed = `${candidate.requests} request(s) to ${d.toVersion}, ${step.criteria.minRequests} needed`;
  if (next === 'extend') {
    const extended: AnalysisState = {
      ...state,
      extensions: state.extensions + 1,
      untilMs: state.untilMs + step.durationMs,
    };
    runs[state.run] = { ...run, extensions: extended.extensions };
    return {
      kind: 'wait',
      untilMs: Math.min(extended.untilMs, nowMs + ANALYSIS_CHECK_MS),
      patch: {
        analysis: runs,
        stepState: { ...d.stepState, step: extended },
      },
    };
  }
  if (next === 'fail') {
    return {
      kind: 'fail',
      message: `insufficient evidence after ${state.extensions} extension(s): ${needed}`,
      patch: { analysis: finish('insufficient-data') },
    };
  }
  return {
    kind: 'approval',
    message: `insufficient evidence after ${state.extensions} extension(s) (${needed}): waiting for a person to approve or reject`,
    patch: {
      analysis: finish('insufficient-data'),
      approvals: [
        ...d.approvals,
        {
          step: d.currentStep,
          gate: 'insufficient-data',
          requestedAt: new Date(nowMs).toISOString(),
        },
      ],
    },
  };
}

async function runProviders(
  o: DeploymentControllerOptions,
  d: DeploymentRecord,
  criteria: AnalysisCriteria,
  state: AnalysisState,
  nowMs: number,
) {
  if (!criteria.providers?.length) return undefined;
  return Promise.all(
    criteria.providers.map(async ({ name, params }) => {
      const provider = o.providers?.get(name);
      if (!provider) {
        return {
          name,
          verdict: 'fail' as const,
          message: `no analysis provider named '${name}' is installed`,
        };
      }
      try {
        const result = await provider.evaluate({
          deployment: d,
          params: params ?? {},
          windowStart: new Date(state.windowStartMs).toISOString(),
          windowEnd: new Date(nowMs).toISOString(),
        });
        return { name, ...result };
      } catch (error) {
        return { name, verdict: 'fail' as const, message: errorMessage(error) };
      }
    }),
  );
}
