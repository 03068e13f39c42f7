import {
  HealthVerdict,
  InstanceHealth,
  PluginHealth,
  ProbeHealth,
} from '@internal/plugin-lifecycle-common';

/**
 * How a status is shown: the colour of Backstage's `StatusOK`,
 * `StatusWarning`, `StatusError` and `StatusPending`; `neutral` (grey,
 * `StatusAborted`) for what nothing checks, which is neither good nor bad.
 */
export type HealthTone = 'ok' | 'warning' | 'error' | 'pending' | 'neutral';

/**
 * Whether nothing checks an instance: it has no probes (the monitor's
 * verdict is then `unknown`). It takes traffic, but its "ready" and
 * "live" are assumptions, not results: it must not look healthy.
 */
export function isUnchecked(instance: InstanceHealth): boolean {
  return instance.probes.length === 0 || instance.verdict === 'unknown';
}

/**
 * Whether nothing checks any instance of a plugin that has some: its
 * verdict is "not checked" rather than unknown.
 */
export function isPluginUnchecked(health: PluginHealth): boolean {
  return health.instances.length > 0 && health.instances.every(isUnchecked);
}

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

/**
 * How many instances have each verdict, and how many nothing checks (the
 * monitor counts those under no verdict): "2 healthy, 1 not checked".
 */
export function formatCounts(
  counts: PluginHealth['counts'],
  unchecked = 0,
): string {
  const order: HealthVerdict[] = [
    'healthy',
    'degrading',
    'flapping',
    'starting',
    'unhealthy',
  ];
  return [
    ...order
      .filter(verdict => counts[verdict])
      .map(verdict => `${counts[verdict]} ${verdict}`),
    ...(unchecked > 0 ? [`${unchecked} not checked`] : []),
  ].join(', ');
}

/** "127.0.0.1:43117", or empty when the monitor does not know it. */
export function formatAddress(instance: InstanceHealth): string {
  return instance.host && instance.port !== undefined
    ? `${instance.host}:${instance.port}`
    : '';
}
