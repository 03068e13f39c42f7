import {
  HealthVerdict,
  InstanceHealth,
  PluginHealth,
  ProbeHealth,
  ProbeResultSample,
} from '@internal/plugin-lifecycle-common';

/**
 * How a status is shown: the colour of Backstage's `StatusOK`,
 * `StatusWarning`, `StatusError` and `StatusPending`.
 */
export type HealthTone = 'ok' | 'warning' | 'error' | 'pending';

/**
 * The tone of a verdict: degrading and flapping instances still take traffic
 * but are not to be trusted; starting and unknown ones are yet to be judged.
 */
export function verdictTone(verdict: PluginHealth['verdict']): HealthTone {
  switch (verdict) {
    case 'healthy':
      return 'ok';
    case 'degrading':
    case 'flapping':
      return 'warning';
    case 'unhealthy':
    case 'down':
      return 'error';
    default:
      return 'pending';
  }
}

/** The tone of a probe: a held probe waits for the startup probe. */
export function probeTone(
  probe: Pick<ProbeHealth, 'status' | 'held'>,
): HealthTone {
  if (probe.held) {
    return 'pending';
  }
  switch (probe.status) {
    case 'passing':
      return 'ok';
    case 'failing':
      return 'error';
    default:
      return 'pending';
  }
}

/** "passing", or "held" for a probe that waits for the startup probe. */
export function probeStatusText(
  probe: Pick<ProbeHealth, 'status' | 'held'>,
): string {
  return probe.held ? 'held' : probe.status;
}

/** "0.42 ms", "12 ms", "1.5 s"; empty for a missing value. */
export function formatLatency(ms?: number): string {
  if (ms === undefined || !Number.isFinite(ms)) {
    return '';
  }
  if (ms >= 1000) {
    return `${(ms / 1000).toFixed(1)} s`;
  }
  if (ms < 10) {
    return `${Number(ms.toFixed(2))} ms`;
  }
  return `${Math.round(ms)} ms`;
}

/** The mean latency of a probe's trend with its spread: "12 ms ± 3 ms". */
export function formatMeanLatency(trend: ProbeHealth['trend']): string {
  const mean = formatLatency(trend.latencyMs);
  if (!mean || trend.latencyStdDevMs === undefined) {
    return mean;
  }
  return `${mean} ± ${formatLatency(trend.latencyStdDevMs)}`;
}

/** A share from 0 to 1 as a whole percentage; empty for a missing value. */
export function formatPercent(share?: number): string {
  if (share === undefined || !Number.isFinite(share)) {
    return '';
  }
  return `${Math.round(share * 100)}%`;
}

/** A health score (0 to 1) with two decimals. */
export function formatScore(score: number): string {
  return score.toFixed(2);
}

/** How many instances have each verdict: "2 healthy, 1 starting". */
export function formatCounts(counts: PluginHealth['counts']): string {
  const order: HealthVerdict[] = [
    'healthy',
    'degrading',
    'flapping',
    'starting',
    'unhealthy',
  ];
  return order
    .filter(verdict => counts[verdict])
    .map(verdict => `${counts[verdict]} ${verdict}`)
    .join(', ');
}

/** "127.0.0.1:43117", or empty when the monitor does not know it. */
export function formatAddress(instance: InstanceHealth): string {
  return instance.host && instance.port !== undefined
    ? `${instance.host}:${instance.port}`
    : '';
}

/**
 * The points of an SVG polyline of latencies, oldest on the left, the
 * slowest at the top. Takes the recent results newest first, as the API
 * lists them; failed runs are left out (their latency is a timeout, not
 * the service's speed). Empty when there are fewer than two to draw.
 */
export function sparklinePoints(
  recent: ProbeResultSample[],
  width: number,
  height: number,
): string {
  const latencies = recent
    .filter(result => result.ok)
    .map(result => result.latencyMs)
    .reverse();
  if (latencies.length < 2) {
    return '';
  }
  const max = Math.max(...latencies);
  const min = Math.min(...latencies);
  const range = max - min || 1;
  const step = width / (latencies.length - 1);
  return latencies
    .map((latency, i) => {
      const x = i * step;
      // Flat when all are equal: a line through the middle.
      const y =
        max === min ? height / 2 : height - ((latency - min) / range) * height;
      return `${round1(x)},${round1(y)}`;
    })
    .join(' ');
}

function round1(value: number): number {
  return Math.round(value * 10) / 10;
}
