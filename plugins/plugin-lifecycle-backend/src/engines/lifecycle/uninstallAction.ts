import { TypedOperation } from '@internal/plugin-lifecycle-common';
import { ActionSteps, errorMessage } from './ActionSteps';
import { checkNoRunningDependents } from './preconditionChecks';

/**
 * Stops the plugin's instances and removes every installed version (from
 * its runtime and from the store) and forgets its ended instances; the
 * plugin ends `inactive`, its record and configuration kept. Refused while running plugins depend on it, unless
 * part of a cascade. A failure ends in `error`.
 */
export async function uninstallPlugin(
  s: ActionSteps,
  op: TypedOperation<'uninstall'>,
) {
  let plugin = await s.plugins.getOrThrow(op.pluginId);
  if (!s.resuming(plugin, 'uninstalling', op)) {
    await checkNoRunningDependents(s, plugin, op);
  }
  plugin = await s.begin(plugin, 'uninstalling', op);
  try {
    await s.fleet.stopAll(plugin);
    const runtime = s.runtimes.get(plugin.runtime);
    const versions = await s.plugins.listVersions(op.pluginId);
    for (const v of versions) {
      await runtime.uninstall({
        pluginId: op.pluginId,
        version: v.version,
        location: v.location,
      });
      await s.plugins.deleteVersion(op.pluginId, v.version);
    }
    // The instance list is what runs and ran lately; after an uninstall
    // nothing of it is the plugin's any more.
    await s.instances.deleteEnded(op.pluginId);
    await s.stateMachine.transition(plugin, 'inactive', {
      ...s.ctx(
        op,
        `removed ${versions.map(v => v.version).join(', ') || 'nothing'}`,
      ),
      patch: {
        currentVersion: undefined,
        desiredState: undefined,
        lastError: undefined,
      },
    });
    return { removedVersions: versions.map(v => v.version) };
  } catch (error) {
    throw await s.fail(
      op,
      'error',
      `uninstall failed: ${errorMessage(error)}`,
      error,
    );
  }
}
