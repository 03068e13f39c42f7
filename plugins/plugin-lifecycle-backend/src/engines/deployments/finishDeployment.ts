import type { DeploymentRecord } from '../../database/DeploymentStore';
import type { PluginRecord } from '../../database/PluginStore';
import {
  DeploymentControllerOptions,
  NEW_TRACK,
  OLD_TRACK,
  StepOutcome,
  contextOf,
  splitsTraffic,
} from './deploymentTypes';

/** How long stopped instances may take to leave the data planes' view. */
export const UNROUTABLE_TIMEOUT_MS = 10_000;

/**
 * The last step: the new version becomes the stable one. The old instances
 * (no traffic by now) stop, the split ends, the new instances join the
 * stable track, the plugin leaves `updating` with the new version, and the
 * files of versions beyond the ones kept for rollback are removed. Each part
 * is safe to repeat after an interruption.
 */
export async function finishDeployment(
  o: DeploymentControllerOptions,
  d: DeploymentRecord,
): Promise<StepOutcome> {
  const s = o.steps;
  const context = contextOf(d);
  let plugin = await s.plugins.getOrThrow(d.pluginId);
  const active = await s.instances.listForPlugin(d.pluginId, {
    activeOnly: true,
  });
  const fresh = active.filter(i => i.version === d.toVersion);
  if (context.wasRunning) {
    const old = active.filter(i => i.version !== d.toVersion);
    await Promise.all(
      old.map(i =>
        s.fleet.stop(
          d.pluginId,
          i.id,
          i.runtime,
          `replaced by ${d.toVersion} (deployment ${d.id})`,
        ),
      ),
    );
    if (splitsTraffic(d.strategy)) {
      // The split kept the old instances at weight 0; ending it before
      // the data planes dropped them would send them traffic again.
      await o.traffic.awaitUnroutable(
        old.map(i => i.id),
        UNROUTABLE_TIMEOUT_MS,
      );
      await o.traffic.setSplit(plugin, undefined);
    }
    if (NEW_TRACK[d.strategy] !== OLD_TRACK && fresh.length > 0) {
      await o.traffic.setTrack(
        fresh.map(i => i.id),
        OLD_TRACK,
      );
    }
  }
  plugin = await s.plugins.getOrThrow(d.pluginId);
  if (plugin.state === 'updating') {
    const config = await s.configuration.resolve(plugin);
    // From an external version to a packaged one (or back), the plugin
    // moves to the runtime of the version it now runs.
    const runtime = s.runtimeForVersion(
      plugin,
      (await s.plugins.getVersion(d.pluginId, d.toVersion))?.artifact,
    );
    await s.stateMachine.transition(
      plugin,
      context.wasRunning ? 'running' : 'installed',
      {
        action: 'update',
        operationId: d.operationId,
        actor: d.createdBy,
        reason: `deployment ${d.id} (${d.strategy}): ${d.fromVersion} -> ${d.toVersion}`,
        patch: {
          currentVersion: d.toVersion,
          probes: context.probes,
          lastError: undefined,
          ...(runtime !== plugin.runtime ? { runtime } : {}),
          ...(context.wasRunning ? { configRevision: config.revision } : {}),
        },
      },
    );
  }
  await pruneVersions(o, await s.plugins.getOrThrow(d.pluginId), d);
  return {
    kind: 'done',
    message: `${d.toVersion} serves all traffic`,
    patch: {
      traffic: { [d.toVersion]: 100 },
      match: undefined,
      instances: { [d.toVersion]: fresh.map(i => i.id) },
    },
  };
}

/**
 * Removes the files of installed versions beyond the newest `keep` (the
 * running one always stays), so rollback targets stay on disk and the rest
 * do not pile up.
 */
async function pruneVersions(
  o: DeploymentControllerOptions,
  plugin: PluginRecord,
  d: DeploymentRecord,
) {
  const s = o.steps;
  const keep = d.config.keepVersions ?? o.keepVersions;
  const versions = (await s.plugins.listVersions(plugin.id))
    .filter(v => v.version !== plugin.currentVersion)
    .sort((a, b) => b.installedAt.localeCompare(a.installedAt));
  for (const old of versions.slice(Math.max(0, keep - 1))) {
    try {
      const runtime = s.runtimes.get(s.runtimeForVersion(plugin, old.artifact));
      await runtime.uninstall({ pluginId: plugin.id, version: old.version });
      await s.plugins.deleteVersion(plugin.id, old.version);
      o.logger.info(
        `deployment ${d.id}: removed ${plugin.id} ${old.version} (keeping ${keep} version(s))`,
      );
    } catch (error) {
      o.logger.warn(`pruning ${plugin.id} ${old.version}: ${error}`);
    }
  }
}
