import { ConflictError } from '@backstage/errors';
import {
  LIFECYCLE_ACTIONS,
  MaintenanceResult,
  TypedOperation,
  canPerformAction,
  describeLifecycleState,
} from '@internal/plugin-lifecycle-common';
import { PluginRecord } from '../../database/PluginStore';
import { ActionSteps } from './ActionSteps';

/**
 * Maintenance is a hands-off state, entered and left without touching an
 * instance:
 * - the instances keep running, but discovery leaves them out of its pools,
 *   so the proxy (both data planes) and `getLoadBalancedService` answer 503
 *   for the plugin while operators work on it;
 * - no automation acts on it: the crash restarter, health remediation
 *   (restart, mark-error), the reconciler's auto-recovery and the configure
 *   after a configuration change all act on `running` plugins only;
 * - stop and uninstall still work from it; `maintenance-off` puts it back in
 *   rotation (`running`) when instances still run, else `installed`. A
 *   configuration written during maintenance reaches the instances with a
 *   `configure` afterwards.
 */
export async function enterMaintenance(
  s: ActionSteps,
  op: TypedOperation<'maintenance-on'>,
): Promise<MaintenanceResult> {
  const plugin = await s.plugins.getOrThrow(op.pluginId);
  const done = await completedEarlier(s, plugin, op);
  if (done) return done;
  assertAllowed(plugin, 'maintenance-on');
  const instances = await activeInstances(s, plugin);
  await s.stateMachine.transition(plugin, 'maintenance', {
    ...s.ctx(
      op,
      op.params.reason ??
        `out of rotation; ${instances} instance(s) keep running`,
    ),
  });
  // Discovery (every replica) re-reads the instances: out of its pools.
  await s.instances.announceInstances(plugin.id);
  return { fromState: plugin.state, state: 'maintenance', instances };
}

/** Ends maintenance: `running` (in rotation again) with instances, else `installed`. */
export async function exitMaintenance(
  s: ActionSteps,
  op: TypedOperation<'maintenance-off'>,
): Promise<MaintenanceResult> {
  const plugin = await s.plugins.getOrThrow(op.pluginId);
  const done = await completedEarlier(s, plugin, op);
  if (done) return done;
  assertAllowed(plugin, 'maintenance-off');
  const instances = await activeInstances(s, plugin);
  const to = instances > 0 ? 'running' : 'installed';
  await s.stateMachine.transition(plugin, to, {
    ...s.ctx(
      op,
      op.params.reason ??
        (instances > 0
          ? `back in rotation with ${instances} instance(s)`
          : 'no instance runs'),
    ),
  });
  await s.instances.announceInstances(plugin.id);
  return { fromState: plugin.state, state: to, instances };
}

/** Instances that run or are on their way (maintenance stops none). */
async function activeInstances(s: ActionSteps, plugin: PluginRecord) {
  return (
    await s.instances.listForPlugin(plugin.id, { activeOnly: true })
  ).filter(i => i.status === 'running' || i.status === 'starting').length;
}

/**
 * The state may have changed since the command was queued (behind another
 * operation): refused then, without a retry, as the route refuses it.
 */
function assertAllowed(
  plugin: PluginRecord,
  action: 'maintenance-on' | 'maintenance-off',
) {
  if (canPerformAction(plugin.state, action)) return;
  throw Object.assign(
    new ConflictError(
      `Cannot ${action} plugin '${plugin.id}': it is ${describeLifecycleState(
        plugin.state,
      )} (${action} is possible from ${LIFECYCLE_ACTIONS[action].from.join(
        ', ',
      )})`,
    ),
    { retryable: false },
  );
}

/**
 * A later attempt after an earlier one made the transition and was cut off
 * before recording its outcome: the last transition is this operation's.
 */
async function completedEarlier(
  s: ActionSteps,
  plugin: PluginRecord,
  op: TypedOperation<'maintenance-on' | 'maintenance-off'>,
): Promise<MaintenanceResult | undefined> {
  if (op.attempts <= 1) return undefined;
  const last = await s.plugins.lastTransition(op.pluginId);
  if (!last || last.operationId !== op.id) return undefined;
  return {
    fromState: last.fromState,
    state: plugin.state,
    instances: await activeInstances(s, plugin),
  };
}
