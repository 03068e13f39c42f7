import { PluginInstance } from '@internal/plugin-lifecycle-common';
import type { DeploymentRecord } from '../../../database/DeploymentStore';
import { errorMessage } from '../../lifecycle/ActionSteps';
import {
  DeploymentControllerOptions,
  NEW_TRACK,
  OLD_TRACK,
  StepOutcome,
  contextOf,
} from '../deploymentTypes';

/** How long ready instances may take to reach the data planes' view. */
export const ROUTABLE_TIMEOUT_MS = 30_000;

/**
 * The active instances of one version of the deployment's plugin whose
 * process is there to serve, split into those seen ready and those an
 * interrupted attempt started and nobody saw ready.
 */
export async function sideInstances(
  o: DeploymentControllerOptions,
  d: DeploymentRecord,
  version: string,
): Promise<{ ready: PluginInstance[]; unverified: PluginInstance[] }> {
  const s = o.steps;
  const active = (
    await s.instances.listForPlugin(d.pluginId, { activeOnly: true })
  ).filter(i => i.version === version);
  const serving = await s.fleet.serving(active);
  return {
    ready: serving.filter(i => i.status === 'running'),
    unverified: serving.filter(i => i.status !== 'running'),
  };
}

/**
 * Brings one side of a deployment (the new version or the old) to a count
 * of ready instances: starts what is missing, each in the side's track,
 * and completes only when every one passed its startup and readiness
 * probes; stops what is over. Safe to repeat: it counts what serves now,
 * and what an interrupted attempt started without seeing it ready is
 * stopped, never counted as capacity.
 */
export async function scaleSide(
  o: DeploymentControllerOptions,
  d: DeploymentRecord,
  side: 'new' | 'old',
  replicas: number,
  signal: AbortSignal,
): Promise<StepOutcome> {
  const s = o.steps;
  const context = contextOf(d);
  const version = side === 'new' ? d.toVersion : d.fromVersion;
  const track = side === 'new' ? NEW_TRACK[d.strategy] : OLD_TRACK;
  const plugin = await s.plugins.getOrThrow(d.pluginId);
  const { ready, unverified } = await sideInstances(o, d, version);
  for (const stale of unverified) {
    await s.fleet.stop(
      plugin.id,
      stale.id,
      stale.runtime,
      `started by an interrupted step of deployment ${d.id}, never seen ready`,
    );
  }
  const instances = { ...d.instances };
  if (ready.length >= replicas) {
    // The newest go first: the longest-serving keep their warm caches.
    const sorted = [...ready].sort((a, b) =>
      a.startedAt.localeCompare(b.startedAt),
    );
    const extra = sorted.slice(replicas);
    await Promise.all(
      extra.map(i =>
        s.fleet.stop(
          plugin.id,
          i.id,
          i.runtime,
          `deployment ${d.id}: ${version} scaled to ${replicas}`,
        ),
      ),
    );
    instances[version] = sorted.slice(0, replicas).map(i => i.id);
    if (
      extra.length === 0 &&
      !(await o.traffic.awaitRoutable(instances[version], ROUTABLE_TIMEOUT_MS))
    ) {
      return {
        kind: 'fail',
        message: `the ready instances of ${version} did not become routable in discovery within ${
          ROUTABLE_TIMEOUT_MS / 1000
        } s`,
        patch: { instances },
      };
    }
    return {
      kind: 'done',
      message: `${version}: ${replicas} instance(s)`,
      patch: { instances },
    };
  }
  const stored = await s.plugins.getVersion(plugin.id, version);
  if (!stored) {
    return {
      kind: 'fail',
      message: `version ${version} of ${plugin.id} is not installed`,
    };
  }
  const runtime = s.runtimes.get(s.runtimeForVersion(plugin, stored.artifact));
  const config = await s.configuration.resolve(plugin);
  const probes = side === 'new' ? context.probes : plugin.probes;
  const missing = replicas - ready.length;
  const results = await Promise.allSettled(
    Array.from({ length: missing }, async () => {
      const instance = await s.fleet.start(
        plugin,
        stored,
        runtime,
        signal,
        () => {},
        config,
        { track },
      );
      try {
        await s.fleet.awaitReady(probes, instance, runtime, signal);
      } catch (error) {
        // Not capacity: stopped now rather than left for the rollback.
        await s.fleet
          .stop(
            plugin.id,
            instance.instanceId,
            runtime.type,
            errorMessage(error),
          )
          .catch(() => {});
        throw error;
      }
      return instance.instanceId;
    }),
  );
  const started = results.flatMap(r =>
    r.status === 'fulfilled' ? [r.value] : [],
  );
  instances[version] = [...ready.map(i => i.id), ...started];
  const failed = results.find(r => r.status === 'rejected');
  if (failed) {
    return {
      kind: 'fail',
      message: `an instance of ${version} did not become ready: ${errorMessage(
        (failed as PromiseRejectedResult).reason,
      )}`,
      patch: { instances },
    };
  }
  // Ready by its probes is not yet routed to: the data planes learn it
  // from discovery. Capacity counts once they route to it, so a rolling
  // step never stops an old instance before its replacement takes traffic.
  if (
    !(await o.traffic.awaitRoutable(instances[version], ROUTABLE_TIMEOUT_MS))
  ) {
    return {
      kind: 'fail',
      message: `the ready instances of ${version} did not become routable in discovery within ${
        ROUTABLE_TIMEOUT_MS / 1000
      } s`,
      patch: { instances },
    };
  }
  return {
    kind: 'done',
    message: `${version}: ${replicas} instance(s) ready`,
    patch: { instances },
  };
}
