/*
 * What bench/rollout reads from one run: the load's samples against the
 * deployment's own record (steps, analysis, timestamps).
 */
import type {
  Deployment,
  DeploymentStep,
} from '@internal/plugin-lifecycle-common';
import { Sample, isFailed, isService5xx } from './load';

/** One update 1.0.0 -> 1.1.0 under load. */
export interface RolloutRun {
  sent: number;
  skipped: number;
  failed: number;
  service5xx: number;
  /** Answers that were neither 200 nor counted above (4xx: a bench mistake). */
  other: number;
  durationMs: number;
  waitsMs: number;
  overheadMs: number;
  /** Longest stretch from the last served request before a failure to the next served one. */
  outageMs: number;
  phase: string;
  /** Where the overhead went: the steps that took longest beyond their own waits. */
  slowest: string;
}

/**
 * The time a deployment is configured to spend waiting: analysis windows
 * (with the extensions it actually took), pauses, waits (minReadySeconds,
 * scale-down delay, an experiment's duration). An analysis that failed
 * early counts only until it failed.
 */
export function configuredWaitsMs(d: Deployment): number {
  let total = 0;
  for (const step of d.steps) {
    if (step.status === 'pending' || step.status === 'skipped') continue;
    if (step.kind === 'analysis') {
      const run = d.analysis.find(a => a.step === step.index);
      const planned = step.durationMs * (1 + (run?.extensions ?? 0));
      if (run?.verdict === 'fail' && run.finishedAt) {
        total += Math.min(
          planned,
          Date.parse(run.finishedAt) - Date.parse(run.startedAt),
        );
      } else {
        total += planned;
      }
    } else if (step.kind === 'pause' && step.durationMs !== undefined) {
      total += step.durationMs;
    } else if (step.kind === 'wait') {
      total += step.durationMs;
    }
  }
  return total;
}

function ownWaitMs(d: Deployment, step: DeploymentStep) {
  if (step.kind === 'analysis') {
    const run = d.analysis.find(a => a.step === step.index);
    return step.durationMs * (1 + (run?.extensions ?? 0));
  }
  if (step.kind === 'wait') return step.durationMs;
  if (step.kind === 'pause') return step.durationMs ?? 0;
  return 0;
}

/**
 * The overhead by part: before the first step (the queued update that
 * installs the version), each step beyond its own wait, and the gaps
 * between steps (the controller's ticks).
 */
export function overheadParts(d: Deployment): string {
  const parts: Array<[string, number]> = [];
  const created = Date.parse(d.createdAt);
  const first = d.steps.find(s => s.startedAt);
  if (first?.startedAt) {
    parts.push(['before step 0', Date.parse(first.startedAt) - created]);
  }
  let gaps = 0;
  let previousEnd: number | undefined;
  for (const step of d.steps) {
    if (!step.startedAt || !step.finishedAt) continue;
    const start = Date.parse(step.startedAt);
    const end = Date.parse(step.finishedAt);
    if (previousEnd !== undefined) gaps += Math.max(0, start - previousEnd);
    previousEnd = end;
    const label =
      step.kind === 'scale'
        ? `scale ${step.side} ${step.replicas}`
        : step.kind === 'setWeight'
        ? `setWeight ${step.weight}`
        : step.kind;
    parts.push([`${step.index}:${label}`, end - start - ownWaitMs(d, step)]);
  }
  parts.push(['between steps', gaps]);
  if (previousEnd !== undefined && d.finishedAt) {
    parts.push(['after last step', Date.parse(d.finishedAt) - previousEnd]);
  }
  return parts
    .filter(([, ms]) => ms >= 50)
    .sort((a, b) => b[1] - a[1])
    .slice(0, 4)
    .map(([name, ms]) => `${name} ${Math.round(ms)} ms`)
    .join(', ');
}

/** Longest stretch without a served request around failures. */
export function longestOutageMs(samples: Sample[]): number {
  let longest = 0;
  let lastOk: number | undefined;
  let failing = false;
  for (const s of samples) {
    if (!isFailed(s)) {
      if (failing && lastOk !== undefined) {
        longest = Math.max(longest, s.sentAt - lastOk);
      }
      failing = false;
      lastOk = s.sentAt;
    } else {
      failing = true;
    }
  }
  return longest;
}

export function rolloutRun(
  d: Deployment,
  samples: Sample[],
  skipped: number,
): RolloutRun {
  const durationMs = Date.parse(d.finishedAt!) - Date.parse(d.createdAt);
  const waitsMs = configuredWaitsMs(d);
  const failed = samples.filter(isFailed).length;
  const service5xx = samples.filter(isService5xx).length;
  return {
    sent: samples.length,
    skipped,
    failed,
    service5xx,
    other:
      samples.length -
      failed -
      service5xx -
      samples.filter(s => s.status === 200).length,
    durationMs,
    waitsMs,
    overheadMs: durationMs - waitsMs,
    outageMs: longestOutageMs(samples),
    phase: d.phase,
    slowest: overheadParts(d),
  };
}

/** A canary 1.0.0 -> bad 2.1.0 under load. */
export interface BadCanaryRun {
  sent: number;
  failed: number;
  service5xx: number;
  /** Answers of 2.1.0 (its 500s, and any 200 it gave). */
  badAnswers: number;
  /** The canary's share of the requests sent while it had traffic. */
  shareBound: number;
  /** Same, counting only until the failing analysis ended. */
  shareBoundToVerdict: number;
  /** From the failing analysis's end to the last answer of 2.1.0 (negative: none after it). */
  backAfterMs: number;
  /** From the failing analysis's end to the deployment's end. */
  rollbackMs: number;
  phase: string;
  message: string;
}

export function badCanaryRun(
  d: Deployment,
  samples: Sample[],
  badVersion: string,
): BadCanaryRun {
  const failedRun = d.analysis.find(a => a.verdict === 'fail');
  const failedStep = d.steps.find(s => s.status === 'failed');
  const verdictAt = Date.parse(
    failedRun?.finishedAt ?? failedStep?.finishedAt ?? d.finishedAt!,
  );
  const weightStep = d.steps.find(
    s => s.kind === 'setWeight' && s.weight > 0 && s.startedAt,
  );
  const weight = weightStep?.kind === 'setWeight' ? weightStep.weight : 0;
  // From the step's start: a data plane may route by the new split before
  // the step ends (it ends once every data plane does).
  const shareFrom = Date.parse(weightStep?.startedAt ?? d.createdAt);
  const bad = samples.filter(s => s.version === badVersion);
  const lastBad = bad.reduce((m, s) => Math.max(m, s.doneAt), 0);
  const sentBetween = (from: number, to: number) =>
    samples.filter(s => s.sentAt >= from && s.sentAt <= to).length;
  return {
    sent: samples.length,
    failed: samples.filter(isFailed).length,
    service5xx: samples.filter(isService5xx).length,
    badAnswers: bad.length,
    shareBound: Math.round(
      (sentBetween(shareFrom, Math.max(lastBad, verdictAt)) * weight) / 100,
    ),
    shareBoundToVerdict: Math.round(
      (sentBetween(shareFrom, verdictAt) * weight) / 100,
    ),
    backAfterMs: lastBad ? lastBad - verdictAt : Number.NaN,
    rollbackMs: Date.parse(d.finishedAt!) - verdictAt,
    phase: d.phase,
    message: d.message ?? '',
  };
}

export function median(values: number[]) {
  const sorted = values.filter(v => !Number.isNaN(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}
