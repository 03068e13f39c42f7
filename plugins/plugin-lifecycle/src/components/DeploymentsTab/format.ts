import {
  Deployment,
  DeploymentPhase,
  DeploymentStep,
  TERMINAL_DEPLOYMENT_PHASES,
} from '@internal/plugin-lifecycle-common';

/** Whether a deployment is still moving (not terminal: a retry aside). */
export function isActiveDeployment(d: Deployment): boolean {
  return !TERMINAL_DEPLOYMENT_PHASES.includes(d.phase);
}

/** A duration for people: `850 ms`, `12 s`, `3 m 20 s`, `2 h 5 m`. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '-';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return s % 60 ? `${m} m ${s % 60} s` : `${m} m`;
  const h = Math.floor(m / 60);
  return m % 60 ? `${h} h ${m % 60} m` : `${h} h`;
}

/** How long a deployment ran (until now while it runs). */
export function deploymentDuration(d: Deployment, now = Date.now()): number {
  const end = d.finishedAt ? Date.parse(d.finishedAt) : now;
  return end - Date.parse(d.createdAt);
}

/** A percentage with at most one decimal: `99.5 %`. */
export function formatPercent(value: number | undefined): string {
  if (value === undefined || !Number.isFinite(value)) return '-';
  return `${Math.round(value * 10) / 10} %`;
}

/** A latency in ms, rounded to what is worth reading: `0.8 ms`, `22 ms`. */
export function formatLatency(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms)) return '-';
  return ms < 10 ? `${Math.round(ms * 10) / 10} ms` : `${Math.round(ms)} ms`;
}

/** What a step does, in a few words. */
export function describeStep(step: DeploymentStep): string {
  switch (step.kind) {
    case 'approval':
      return `Approval before ${step.gate}${
        step.timeoutMs
          ? ` (${step.onTimeout} after ${formatDuration(step.timeoutMs)})`
          : ''
      }`;
    case 'scale':
      return `Scale ${step.side} version to ${step.replicas}`;
    case 'setWeight':
      return `Set weight ${step.weight} %`;
    case 'setMatch':
      return 'header' in step.match
        ? `Route header ${step.match.header.name}: ${step.match.header.value} to the new version`
        : `Route cookie ${step.match.cookie.name}=${step.match.cookie.value} to the new version`;
    case 'pause':
      return step.durationMs === undefined
        ? 'Pause until promoted'
        : `Pause ${formatDuration(step.durationMs)}`;
    case 'wait':
      return `Wait ${formatDuration(step.durationMs)} (${step.reason})`;
    case 'analysis':
      return `Analysis ${formatDuration(step.durationMs)}${
        step.compare ? ', comparing versions' : ''
      }`;
    case 'smoke':
      return `Smoke test ${step.test.method} ${step.test.path}`;
    case 'decide':
      return step.by === 'manual'
        ? 'Winner chosen by a person'
        : 'Winner chosen by the analysis';
    case 'finish':
      return 'Finish';
    default:
      return (step as DeploymentStep).kind;
  }
}

/** What a phase is called on screen. */
export function phaseLabel(phase: DeploymentPhase): string {
  return phase.replace(/-/g, ' ');
}

/** The steps that are over (done or skipped) and all of them. */
export function stepProgress(d: Deployment): { done: number; total: number } {
  const done = d.steps.filter(
    s => s.status === 'succeeded' || s.status === 'skipped',
  ).length;
  return { done, total: d.steps.length };
}

/** The new version's share of traffic now, when a split is in place. */
export function newVersionWeight(d: Deployment): number | undefined {
  return d.traffic[d.toVersion];
}
