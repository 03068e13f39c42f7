import {
  AnalysisCriteria,
  AnalysisRun,
  AnalysisVerdict,
} from '@internal/plugin-lifecycle-common';
import type { DeploymentRecord } from '../../../database/DeploymentStore';
import {
  evaluateAnalysis,
  evidenceOf,
  nextAfterInsufficient,
  statsDelta,
} from '../../../domain/deployments';
import type { RequestStats } from '../../discovery/ProxyMetrics';
import { errorMessage } from '../../lifecycle/ActionSteps';
import { DeploymentControllerOptions, StepOutcome } from '../deploymentTypes';
import { sideInstances } from './scaleStep';

/** How often a running window is looked at for an early failure (ms). */
export const ANALYSIS_CHECK_MS = 500;

/** What an analysis step keeps between looks (in `stepState.step`). */
interface AnalysisState {
  windowStartMs: number;
  untilMs: number;
  extensions: number;
  baselineNew?: RequestStats;
  baselineOld?: RequestStats;
  /** Index into `analysis` of this window's run. */
  run: number;
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
  const state = d.stepState.step as AnalysisState | undefined;
  if (!state) {
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
      baselineNew: o.traffic.versionStats(plugin, d.toVersion),
      baselineOld: o.traffic.versionStats(plugin, d.fromVersion),
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
  const newIds = (await sideInstances(o, d, d.toVersion)).ready.map(i => i.id);
  const unhealthy = await o.unhealthyInstances(d.pluginId, newIds);
  const candidate = evidenceOf(
    d.toVersion,
    statsDelta(
      state.baselineNew,
      o.traffic.versionStats(plugin, d.toVersion) ?? emptyStats(),
    ),
    unhealthy,
  );
  const baseline = evidenceOf(
    d.fromVersion,
    statsDelta(
      state.baselineOld,
      o.traffic.versionStats(plugin, d.fromVersion) ?? emptyStats(),
    ),
    0,
  );
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
      patch: { analysis: runs },
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

function emptyStats(): RequestStats {
  return {
    requests: 0,
    status: { '2xx': 0, '3xx': 0, '4xx': 0, '5xx': 0, errors: 0 },
    errorRate: 0,
    latency: {
      count: 0,
      sumMs: 0,
      maxMs: 0,
      p50Ms: 0,
      p90Ms: 0,
      p99Ms: 0,
      buckets: [],
    },
    activeConnections: 0,
  };
}
