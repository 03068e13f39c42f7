import { Deployment } from '@internal/plugin-lifecycle-common';

/** The split at one moment: percent of traffic on the old and the new version. */
export interface TrafficPoint {
  /** Epoch milliseconds. */
  t: number;
  old: number;
  new: number;
}

/**
 * The traffic split over a rollout, from the steps' times and weights: the
 * new version starts at 0, each `setWeight` step sets its share when it
 * took effect (its end; its start while it runs), `finish` moves everything
 * to it, a failed step (the start of a rollback) moves everything back, and the last point is the split the deployment reports now (or
 * when it ended). Strategies that move traffic by instance counts
 * (rolling, recreate) have only the first and the last point.
 */
export function trafficTimeline(
  d: Deployment,
  now = Date.now(),
): TrafficPoint[] {
  const points: TrafficPoint[] = [];
  const add = (t: number, weight: number) => {
    const w = Math.max(0, Math.min(100, weight));
    const last = points[points.length - 1];
    // Times only move forward: a step that ended before the one before it
    // (clock skew between replicas) is drawn at the same moment.
    const time = last ? Math.max(t, last.t) : t;
    if (last && last.t === time) {
      last.new = w;
      last.old = 100 - w;
    } else {
      points.push({ t: time, old: 100 - w, new: w });
    }
  };
  add(Date.parse(d.createdAt), 0);
  for (const step of d.steps) {
    const at = step.finishedAt ?? step.startedAt;
    if (step.status === 'failed' && step.finishedAt) {
      // A failed step rolls back: traffic returns to the old version first.
      add(Date.parse(step.finishedAt), 0);
      continue;
    }
    if (!at || (step.status !== 'succeeded' && step.status !== 'running')) {
      continue;
    }
    if (step.kind === 'setWeight') {
      add(Date.parse(at), step.weight);
    } else if (step.kind === 'finish' && step.status === 'succeeded') {
      add(Date.parse(at), 100);
    }
  }
  const end = d.finishedAt
    ? Date.parse(d.finishedAt)
    : Math.max(now, points[points.length - 1].t);
  add(end, currentNewWeight(d, points[points.length - 1].new));
  return points;
}

/** The new version's share now: the reported split, or what the phase implies without one. */
function currentNewWeight(d: Deployment, last: number): number {
  const reported = d.traffic[d.toVersion];
  if (reported !== undefined) return reported;
  if (d.traffic[d.fromVersion] !== undefined) return 0;
  if (d.phase === 'succeeded') return 100;
  if (d.phase === 'rolled-back' || d.phase === 'aborted') return 0;
  return last;
}

/** The split now as chart rows: one entry per version, the old first. */
export function currentSplit(
  d: Deployment,
): Array<{ version: string; weight: number }> {
  const versions = Object.keys(d.traffic);
  const order = (v: string) => {
    if (v === d.fromVersion) return 0;
    return v === d.toVersion ? 2 : 1;
  };
  return versions
    .sort((a, b) => order(a) - order(b))
    .map(version => ({ version, weight: d.traffic[version] }));
}
