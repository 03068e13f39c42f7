import {
  InstanceHealth,
  PluginHealth,
  ProbeDefinition,
  ProbeHealth,
} from '@internal/plugin-lifecycle-common';
import {
  HealthResultRecord,
  HealthStatusRecord,
} from '../../database/HealthStore';
import {
  HealthVerdict,
  TrendOptions,
  summarizeTrend,
} from '../../domain/health/trends';
import { EMPTY_SUMMARY, Slot, Target, TargetHealth, isHeld } from './model';

/** What the view of a plugin's health is built from besides the rows. */
export interface HealthViewContext {
  targets: ReadonlyMap<string, Target>;
  replicaId: string;
  clock: () => number;
  trendOptions: TrendOptions;
}

/**
 * The health of every instance of a plugin: this replica's own state of the
 * targets it probes, the rows other replicas wrote for the rest.
 */
export function buildPluginHealth(
  context: HealthViewContext,
  input: {
    pluginId: string;
    /** The plugin's probes, when the plugin is stored. */
    probes?: ProbeDefinition[];
    /** Whether the plugin should be serving (its state is running). */
    expectedToServe?: boolean;
    /**
     * The plugin's instances the database says are active: rows of other
     * targets are history; an active instance this replica has not picked
     * up as a target yet is "starting", not missing.
     */
    activeInstanceIds?: ReadonlySet<string>;
    /** The targets of the plugin this replica knows. */
    targets: Target[];
    statuses: HealthStatusRecord[];
    results: HealthResultRecord[];
    recentPerProbe: number;
  },
): PluginHealth {
  const { pluginId, targets, recentPerProbe } = input;
  // Rows of targets that are gone (instances that stopped, earlier backend
  // runs) are history, not instances: reporting them made a plugin with no
  // instance running look healthy.
  const active = input.activeInstanceIds;
  const rowsByTarget = groupBy(
    input.statuses.filter(
      r =>
        context.targets.has(r.targetId) ||
        (r.instanceId !== undefined && active?.has(r.instanceId) === true),
    ),
    r => r.targetId,
  );
  const recentByProbe = groupBy(
    input.results,
    r => `${r.targetId}\u0000${r.probeName}`,
  );
  const ids = new Set([...targets.map(t => t.id), ...rowsByTarget.keys()]);
  const instances = [...ids]
    .sort()
    .map(id =>
      instanceHealth(
        context,
        id,
        rowsByTarget.get(id) ?? [],
        recentByProbe,
        recentPerProbe,
      ),
    );
  const counts: Partial<Record<HealthVerdict, number>> = {};
  for (const i of instances) {
    if (i.verdict !== 'unknown')
      counts[i.verdict] = (counts[i.verdict] ?? 0) + 1;
  }
  const verdicts = Object.keys(counts) as HealthVerdict[];
  let verdict: PluginHealth['verdict'] = 'unknown';
  if (verdicts.length === 1) verdict = verdicts[0];
  else if (verdicts.length > 1) verdict = 'degrading';
  const serving = instances.some(i => i.ready || i.verdict === 'starting');
  // Instances the database knows and this view does not yet (just started):
  // too early to say.
  const unseen = [...(active ?? [])].some(
    id => !instances.some(i => i.instanceId === id),
  );
  if (input.expectedToServe && !serving) {
    verdict = unseen ? 'starting' : 'down';
  }
  return {
    pluginId,
    verdict,
    counts,
    probes: input.probes ?? targets[0]?.slots.map(s => s.probe) ?? [],
    instances: instances.map(boundMessages),
    generatedAt: new Date(context.clock()).toISOString(),
  };
}

function instanceHealth(
  context: HealthViewContext,
  targetId: string,
  rows: HealthStatusRecord[],
  recentByProbe: Map<string, HealthResultRecord[]>,
  recentPerProbe: number,
): InstanceHealth {
  const target = context.targets.get(targetId);
  const own = target?.active ? target : undefined;
  const rowByProbe = new Map(rows.map(r => [r.probeName, r]));
  const names = target
    ? target.slots.map(s => s.probe.name)
    : rows.map(r => r.probeName);
  const probes = names.map(name => {
    const slot = target?.slots.find(s => s.probe.name === name);
    const row = rowByProbe.get(name);
    const recent = (recentByProbe.get(`${targetId}\u0000${name}`) ?? [])
      .slice(0, recentPerProbe)
      .map(r => ({
        ok: r.ok,
        latencyMs: r.latencyMs,
        ...(r.message === undefined ? {} : { message: r.message }),
        checkedAt: new Date(r.checkedAt).toISOString(),
      }));
    if (own && slot) return slotHealth(context, slot, recent);
    return rowHealth(context, name, slot, row, recent);
  });
  const freshest = rows.reduce<HealthStatusRecord | undefined>(
    (a, b) => (!a || b.updatedAt > a.updatedAt ? b : a),
    undefined,
  );
  const health: Omit<TargetHealth, 'started'> | undefined =
    own?.health ??
    (freshest && {
      verdict: freshest.verdict,
      healthScore: freshest.healthScore,
      ready: freshest.ready,
      live: freshest.live,
      reasons: [],
    });
  const noProbes = target !== undefined && target.slots.length === 0;
  return {
    targetId,
    instanceId: target?.instanceId ?? freshest?.instanceId ?? targetId,
    ...(target ? { host: target.host, port: target.port } : {}),
    // No probes: it takes traffic (nothing says otherwise), but nothing
    // checks it, so its health is unknown rather than "healthy".
    verdict: health?.verdict ?? (noProbes ? 'unknown' : 'starting'),
    healthScore: health?.healthScore ?? (noProbes ? 1 : 0),
    ready: health?.ready ?? noProbes,
    live: health?.live ?? true,
    reasons:
      health?.reasons ??
      (noProbes ? ['no probes defined: nothing checks this instance'] : []),
    reportedBy: own ? context.replicaId : freshest?.reportedBy,
    ...(freshest || own
      ? {
          updatedAt: new Date(
            own ? context.clock() : freshest!.updatedAt,
          ).toISOString(),
        }
      : {}),
    probes,
  };
}

/** A probe of a target this replica probes, from its state in memory. */
function slotHealth(
  context: HealthViewContext,
  slot: Slot,
  recent: ProbeHealth['recent'],
): ProbeHealth {
  const { state, summary } = slot;
  const { successRate, ...trend } = summary;
  return {
    name: slot.probe.name,
    type: slot.probe.type,
    method: slot.probe.method,
    status: state.status,
    ...(state.lastOk === undefined ? {} : { lastOk: state.lastOk }),
    ...(state.lastMessage === undefined
      ? {}
      : { lastMessage: state.lastMessage }),
    ...(slot.lastLatencyMs === undefined
      ? {}
      : { lastLatencyMs: slot.lastLatencyMs }),
    ...(successRate === undefined ? {} : { successRate }),
    trend,
    ...(slot.breakerOptions
      ? { circuit: slot.breaker?.status ?? 'closed' }
      : {}),
    consecutiveSuccesses: state.consecutiveSuccesses,
    consecutiveFailures: state.consecutiveFailures,
    held: isHeld(slot),
    ...(state.lastProbeAt === undefined
      ? {}
      : { lastCheckedAt: new Date(state.lastProbeAt).toISOString() }),
    ...(state.lastTransitionAt === undefined
      ? {}
      : {
          lastTransitionAt: new Date(state.lastTransitionAt).toISOString(),
        }),
    checkedBy: context.replicaId,
    recent,
  };
}

/** A probe another replica probes, from the row it wrote. */
function rowHealth(
  context: HealthViewContext,
  name: string,
  slot: Slot | undefined,
  row: HealthStatusRecord | undefined,
  recent: ProbeHealth['recent'],
): ProbeHealth {
  const summary = row?.trend
    ? summarizeTrend(row.trend, context.trendOptions, slot?.timeoutMs)
    : EMPTY_SUMMARY;
  const { successRate, ...trend } = summary;
  return {
    name,
    type: slot?.probe.type ?? row!.probeType,
    ...(slot ? { method: slot.probe.method } : {}),
    status: row?.status ?? 'unknown',
    ...(row?.lastOk === undefined ? {} : { lastOk: row.lastOk }),
    ...(row?.lastMessage === undefined ? {} : { lastMessage: row.lastMessage }),
    ...(row?.lastLatencyMs === undefined
      ? {}
      : { lastLatencyMs: row.lastLatencyMs }),
    ...(successRate === undefined ? {} : { successRate }),
    trend,
    ...(row?.circuit ? { circuit: row.circuit } : {}),
    consecutiveSuccesses: row?.consecutiveSuccesses ?? 0,
    consecutiveFailures: row?.consecutiveFailures ?? 0,
    held: slot ? isHeld(slot) : false,
    ...(row?.lastCheckedAt === undefined
      ? {}
      : { lastCheckedAt: new Date(row.lastCheckedAt).toISOString() }),
    ...(row?.lastTransitionAt === undefined
      ? {}
      : { lastTransitionAt: new Date(row.lastTransitionAt).toISOString() }),
    ...(row ? { checkedBy: row.reportedBy } : {}),
    recent,
  };
}

function groupBy<T>(items: T[], key: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const k = key(item);
    const group = groups.get(k);
    if (group) group.push(item);
    else groups.set(k, [item]);
  }
  return groups;
}

/**
 * The longest probe message the API returns. Probers keep messages shorter
 * (an exec probe's output to its last 512 bytes); this also bounds results
 * stored before they did, which may hold a command's whole output.
 */
export const MAX_API_MESSAGE_LENGTH = 600;

function bound(message: string | undefined): string | undefined {
  if (message === undefined || message.length <= MAX_API_MESSAGE_LENGTH) {
    return message;
  }
  return `${message.slice(0, MAX_API_MESSAGE_LENGTH - 1)}…`;
}

/** An instance's health with every probe message at most {@link MAX_API_MESSAGE_LENGTH} long. */
export function boundMessages(instance: InstanceHealth): InstanceHealth {
  return {
    ...instance,
    probes: instance.probes.map(probe => ({
      ...probe,
      ...(probe.lastMessage === undefined
        ? {}
        : { lastMessage: bound(probe.lastMessage) }),
      recent: probe.recent.map(r =>
        r.message === undefined ? r : { ...r, message: bound(r.message) },
      ),
    })),
  };
}
