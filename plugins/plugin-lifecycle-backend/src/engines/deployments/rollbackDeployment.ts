import { DeploymentPhase } from '@internal/plugin-lifecycle-common';
import type { DeploymentRecord } from '../../database/DeploymentStore';
import { errorMessage } from '../lifecycle/ActionSteps';
import {
  DeploymentContext,
  DeploymentControllerOptions,
  splitsTraffic,
} from './deploymentTypes';
import { scaleSide, sideInstances } from './steps/scaleStep';
import { weightSplit } from './steps/trafficSteps';
import { UNROUTABLE_TIMEOUT_MS } from './finishDeployment';

/**
 * Undoes a deployment, traffic first: every request goes back to the old
 * version (still warm during a canary, or a blue-green's scale-down delay)
 * before anything stops; then the new instances stop, the old version gets
 * its instance count back, the split ends, the new version's files go and
 * the plugin leaves `updating` on the old version, with the reason as its
 * last error. The configuration is the old release's already: a deployment
 * changes code, not configuration. Safe to repeat after an interruption.
 *
 * Returns the terminal phase: `aborted` when a person aborted it, else
 * `rolled-back`.
 */
export async function rollBackDeployment(
  o: DeploymentControllerOptions,
  d: DeploymentRecord,
  signal: AbortSignal,
): Promise<{ phase: DeploymentPhase; message: string }> {
  const s = o.steps;
  const reason = d.message ?? 'rolled back';
  const phase: DeploymentPhase = d.stepState.abortRequested
    ? 'aborted'
    : 'rolled-back';
  const context = d.stepState.context as DeploymentContext | undefined;
  if (!context) {
    // Its update never handed it over: nothing ran, nothing to undo.
    return { phase, message: reason };
  }
  const plugin = await s.plugins.getOrThrow(d.pluginId);
  if (context.wasRunning) {
    if (splitsTraffic(d.strategy) && d.toVersion in d.traffic) {
      const old = await sideInstances(o, d, d.fromVersion);
      if (old.ready.length > 0) {
        await o.traffic.setSplit(plugin, weightSplit(d, 0));
      }
    }
    const active = await s.instances.listForPlugin(d.pluginId, {
      activeOnly: true,
    });
    const fresh = active.filter(i => i.version === d.toVersion);
    await Promise.all(
      fresh.map(i =>
        s.fleet.stop(
          d.pluginId,
          i.id,
          i.runtime,
          `deployment ${d.id} rolled back: ${reason}`,
        ),
      ),
    );
    const restored = await scaleSide(o, d, 'old', context.replicas, signal);
    if (restored.kind === 'fail') {
      throw new Error(`restoring ${d.fromVersion}: ${restored.message}`);
    }
    if (splitsTraffic(d.strategy)) {
      await o.traffic.awaitUnroutable(
        fresh.map(i => i.id),
        UNROUTABLE_TIMEOUT_MS,
      );
      await o.traffic.setSplit(plugin, undefined);
    }
  }
  const after = await s.plugins.getOrThrow(d.pluginId);
  if (after.currentVersion !== d.toVersion) {
    const version = await s.plugins.getVersion(d.pluginId, d.toVersion);
    const runtime = s.runtimes.get(
      s.runtimeForVersion(after, version?.artifact),
    );
    await runtime
      .uninstall({ pluginId: d.pluginId, version: d.toVersion })
      .catch(e =>
        o.logger.warn(
          `removing ${d.toVersion} after rollback: ${errorMessage(e)}`,
        ),
      );
    await s.plugins.deleteVersion(d.pluginId, d.toVersion);
  }
  if (after.state === 'updating') {
    await s.stateMachine.transition(
      after,
      context.wasRunning ? 'running' : 'installed',
      {
        action: 'update',
        operationId: d.operationId,
        actor: d.createdBy,
        reason: `deployment ${d.id} ${phase}: ${reason}`,
        patch: {
          lastError: `update ${d.fromVersion} -> ${d.toVersion} ${phase}: ${reason}`,
        },
      },
    );
  }
  return { phase, message: reason };
}
