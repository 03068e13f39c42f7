import {
  InstanceHealth,
  ProbeHealth,
  VersionMetricsSeries,
} from '@internal/plugin-lifecycle-common';

/**
 * A latency this many standard deviations from the probe's moving mean is
 * marked as an anomaly: the backend's latency detector's default threshold.
 */
export const ANOMALY_Z = 3;

/** Results the rolling success rate of an instance's chart counts. */
export const SUCCESS_WINDOW = 10;

/** The key of a probe's latency in a chart row. */
export const latencyKey = (probe: string) => `latency:${probe}`;

/** One result of one probe, a point of an instance's chart. */
export interface InstanceChartRow {
  /** ms since the epoch. */
  t: number;
  /** Share of successes of the instance's last {@link SUCCESS_WINDOW} results, in %. */
  successRate: number;
  /** `latency:<probe>`: the result's latency, when it succeeded. */
  [key: string]: number | undefined;
}

/** A result worth a mark on the chart. */
export interface SampleMarker {
  t: number;
  probe: string;
  latencyMs: number;
  /** A failed check, or a latency far from the probe's mean. */
  kind: 'failure' | 'anomaly';
  /** What the mark means, for its tooltip. */
  label: string;
}

/** A moment worth a line across the chart. */
export interface TimeMarker {
  t: number;
  probe: string;
  /**
   * `flip`: the results turned from passing to failing or back (many of
   * them are what the monitor calls flapping); `transition`: the probe's
   * status changed (the monitor's verdict on it), as it reported.
   */
  kind: 'flip' | 'transition';
  label: string;
}

/** What an instance's chart draws. */
export interface InstanceChartData {
  rows: InstanceChartRow[];
  /** Probes with at least one result, in the instance's order. */
  probes: string[];
  /** Successful results per probe: the points of its latency line. */
  okCounts: Record<string, number>;
  markers: SampleMarker[];
  changes: TimeMarker[];
}

/**
 * An instance's chart from its probes' recent results (newest first, as
 * the API lists them): each probe's latency over time (of successful
 * checks; a failure's latency is its timeout), the rolling success rate of
 * all its checks, failures and latency anomalies as marks, and the moments
 * a probe's results flipped or its status changed as lines.
 *
 * An anomaly is a successful result more than {@link ANOMALY_Z} standard
 * deviations from the probe's moving mean as the trend reports it now: an
 * estimate for the older results (the mean has moved since), exact for the
 * newest one the detector judged.
 */
export function instanceChartData(instance: InstanceHealth): InstanceChartData {
  const samples = instance.probes
    .flatMap(probe =>
      probe.recent.map(r => ({ ...r, probe, t: Date.parse(r.checkedAt) })),
    )
    .filter(s => Number.isFinite(s.t))
    .sort((a, b) => a.t - b.t);

  const rows: InstanceChartRow[] = [];
  const markers: SampleMarker[] = [];
  const changes: TimeMarker[] = [];
  const window: boolean[] = [];
  const lastOk = new Map<string, boolean>();
  for (const s of samples) {
    const name = s.probe.name;
    window.push(s.ok);
    if (window.length > SUCCESS_WINDOW) window.shift();
    const successRate =
      (100 * window.filter(Boolean).length) / Math.max(1, window.length);
    const row: InstanceChartRow = { t: s.t, successRate };
    if (s.ok) row[latencyKey(name)] = s.latencyMs;
    rows.push(row);

    if (!s.ok) {
      markers.push({
        t: s.t,
        probe: name,
        latencyMs: s.latencyMs,
        kind: 'failure',
        label: `${name} failed${s.message ? `: ${s.message}` : ''}`,
      });
    } else {
      const z = zScore(s.probe, s.latencyMs);
      if (z !== undefined && Math.abs(z) > ANOMALY_Z) {
        markers.push({
          t: s.t,
          probe: name,
          latencyMs: s.latencyMs,
          kind: 'anomaly',
          label: `${name} latency anomaly (z-score ${z.toFixed(1)})`,
        });
      }
    }
    const before = lastOk.get(name);
    if (before !== undefined && before !== s.ok) {
      changes.push({
        t: s.t,
        probe: name,
        kind: 'flip',
        label: `${name} ${s.ok ? 'passed again' : 'started failing'}`,
      });
    }
    lastOk.set(name, s.ok);
  }

  // The status change the monitor reported, when it falls in the chart.
  const first = rows[0]?.t;
  for (const probe of instance.probes.filter(p => p.recent.length > 0)) {
    const t = probe.lastTransitionAt ? Date.parse(probe.lastTransitionAt) : NaN;
    if (first !== undefined && Number.isFinite(t) && t >= first) {
      changes.push({
        t,
        probe: probe.name,
        kind: 'transition',
        label: `${probe.name} ${probe.status}`,
      });
    }
  }

  const okCounts: Record<string, number> = {};
  for (const probe of instance.probes) {
    okCounts[probe.name] = probe.recent.filter(r => r.ok).length;
  }
  return {
    rows,
    okCounts,
    probes: instance.probes.filter(p => p.recent.length > 0).map(p => p.name),
    markers,
    changes: changes.sort((a, b) => a.t - b.t),
  };
}

function zScore(probe: ProbeHealth, latencyMs: number): number | undefined {
  const { latencyMs: mean, latencyStdDevMs: sd } = probe.trend;
  if (mean === undefined || sd === undefined || !(sd > 0)) return undefined;
  return (latencyMs - mean) / sd;
}

/** What a chart of versions shows of each. */
export type VersionMetric = 'requestRate' | 'errorRate' | 'latencyP90Ms';

/** The key of a version in a row of the version charts. */
export const versionKey = (version?: string) => `v:${version ?? '(none)'}`;

/** One sample of every version, a point of the version charts. */
export interface VersionChartRow {
  t: number;
  [key: string]: number | undefined;
}

/**
 * The rows of one version chart: the versions' values of `metric` at each
 * sample time (the backend samples every version at the same moments). A
 * version without requests in an interval has no latency there; its error
 * rate is left out too (0 of 0 is not a 0% error rate).
 */
export function versionChartRows(
  series: VersionMetricsSeries[],
  metric: VersionMetric,
): VersionChartRow[] {
  const byTime = new Map<number, VersionChartRow>();
  for (const s of series) {
    for (const point of s.points) {
      const t = Date.parse(point.at);
      if (!Number.isFinite(t)) continue;
      let value: number | undefined;
      if (metric === 'requestRate') value = point.requestRate;
      else if (point.requests > 0) {
        value =
          metric === 'errorRate' ? point.errorRate * 100 : point.latencyP90Ms;
      }
      const row = byTime.get(t) ?? { t };
      row[versionKey(s.version)] = value;
      byTime.set(t, row);
    }
  }
  return [...byTime.values()].sort((a, b) => a.t - b.t);
}
