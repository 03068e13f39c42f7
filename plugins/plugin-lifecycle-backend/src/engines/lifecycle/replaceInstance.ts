import {
  ReplaceInstanceResult,
  TypedOperation,
} from '@internal/plugin-lifecycle-common';
import { ActionSteps } from './ActionSteps';

/**
 * Restarts one instance of a running plugin without taking the plugin
 * down: a new instance of the same version and configuration starts and
 * must pass its startup and readiness probes before the old one stops.
 * The plugin stays `running`; its other instances are not touched. If the
 * new instance never gets ready it is stopped and the old one keeps
 * running (the operation fails, so a retry or the health monitor tries
 * again).
 *
 * A plugin that is not running, or an instance that is already gone,
 * needs nothing: the result says why.
 */
export async function replaceInstance(
  s: ActionSteps,
  op: TypedOperation<'restart'>,
  instanceId: string,
  signal: AbortSignal,
): Promise<ReplaceInstanceResult> {
  const { reason } = op.params;
  const plugin = await s.plugins.getOrThrow(op.pluginId);
  if (plugin.state !== 'running') {
    return { replaced: 0, reason: `plugin is ${plugin.state}` };
  }
  const old = await s.instances.get(instanceId);
  if (
    !old ||
    old.pluginId !== plugin.id ||
    !['running', 'starting', 'crashed'].includes(old.status)
  ) {
    return { replaced: 0, reason: `instance ${instanceId} is not running` };
  }
  const crashed = old.status === 'crashed';
  if (crashed) {
    // Only capacity that was lost is replaced: a second replacement of the
    // same crash (the liveness probe and the restart policy both saw it)
    // finds the plugin at its instance count and does nothing.
    const active = await s.instances.listForPlugin(plugin.id, {
      activeOnly: true,
    });
    if (active.length >= plugin.replicas) {
      return {
        replaced: 0,
        reason: `plugin already runs its ${plugin.replicas} instance(s)`,
      };
    }
  }
  const stored = await s.plugins.getVersion(plugin.id, old.version);
  if (!stored) {
    return { replaced: 0, reason: `version ${old.version} is not installed` };
  }
  const runtime = s.runtimes.get(old.runtime);
  let freshId: string | undefined;
  try {
    const fresh = await s.fleet.start(plugin, stored, runtime, signal, id => {
      freshId = id;
    });
    await s.fleet.awaitReady(plugin.probes, fresh, runtime, signal);
  } catch (error) {
    if (freshId) {
      await s.fleet
        .stop(plugin.id, freshId, runtime.type, 'never got ready')
        .catch(e =>
          s.logger.warn(`stopping replacement ${freshId} failed: ${e}`),
        );
    }
    throw error;
  }
  if (!crashed) {
    await s.fleet.stop(
      plugin.id,
      old.id,
      old.runtime,
      `replaced by ${freshId}${reason ? `: ${reason}` : ''}`,
    );
  }
  s.logger.info(
    `replaced instance ${old.id} of ${plugin.id} by ${freshId}${
      reason ? ` (${reason})` : ''
    }`,
  );
  return { replaced: 1, oldInstanceId: old.id, newInstanceId: freshId };
}
