import { InputError } from '@backstage/errors';
import { TypedOperation } from '@internal/plugin-lifecycle-common';
import { ActionOperation, ActionSteps, errorMessage } from './ActionSteps';
import {
  checkNoRunningDependents,
  checkStartPreconditions,
} from './preconditionChecks';

/**
 * Starts the plugin's installed version with its instance count, each
 * instance ready (startup and readiness probes) before the plugin is
 * `running`. A failed start stops what it started and ends in `error`.
 * Also the second half of an install with `start` and of a restart.
 */
export async function startPlugin(
  s: ActionSteps,
  op: ActionOperation,
  signal: AbortSignal,
) {
  let plugin = await s.plugins.getOrThrow(op.pluginId);
  const version = plugin.currentVersion;
  const stored = version && (await s.plugins.getVersion(op.pluginId, version));
  if (!stored) {
    throw new InputError(
      `Plugin '${op.pluginId}' has no installed version to start`,
    );
  }
  const runtime = s.runtimes.get(plugin.runtime);
  if (!s.resuming(plugin, 'starting', op)) {
    await checkStartPreconditions(s, plugin, stored.manifest, op);
  }
  plugin = await s.begin(plugin, 'starting', op);
  // Instances left by an interrupted attempt (another replica that went
  // away) are not served by anyone: stop what can be stopped, forget the rest.
  await s.fleet.stopAll(plugin);
  const started: string[] = [];
  try {
    const config = await s.configuration.resolve(plugin);
    const instances = [];
    for (let i = 0; i < plugin.replicas; i++) {
      signal.throwIfAborted();
      const instance = await s.fleet.start(
        plugin,
        stored,
        runtime,
        signal,
        id => started.push(id),
        config,
      );
      instances.push(instance);
    }
    for (const instance of instances) {
      await s.fleet.awaitReady(plugin.probes, instance, runtime, signal);
    }
    await s.stateMachine.transition(plugin, 'running', {
      ...s.ctx(
        op,
        `${instances.length} instance(s) of ${stored.version} ready`,
      ),
      patch: {
        desiredState: 'running',
        lastError: undefined,
        configRevision: config.revision,
      },
    });
    return {
      configRevision: config.revision,
      instances: instances.map(i => ({
        id: i.instanceId,
        host: i.host,
        port: i.port,
      })),
    };
  } catch (error) {
    const message = `start failed: ${errorMessage(error)}`;
    await Promise.all(
      started.map(instanceId =>
        s.fleet.stop(op.pluginId, instanceId, runtime.type, message),
      ),
    );
    throw await s.fail(op, 'error', message, error);
  }
}

/**
 * Stops every instance of the plugin; it ends `installed`. Refused while
 * running plugins depend on it, unless part of a cascade.
 */
export async function stopPlugin(
  s: ActionSteps,
  op: TypedOperation<'stop' | 'restart'>,
) {
  let plugin = await s.plugins.getOrThrow(op.pluginId);
  if (!s.resuming(plugin, 'stopping', op)) {
    await checkNoRunningDependents(s, plugin, op);
  }
  plugin = await s.begin(plugin, 'stopping', op);
  try {
    const stopped = await s.fleet.stopAll(plugin);
    await s.stateMachine.transition(plugin, 'installed', {
      ...s.ctx(op, `${stopped} instance(s) stopped`),
      patch: { desiredState: 'installed', lastError: undefined },
    });
    return { stopped };
  } catch (error) {
    throw await s.fail(
      op,
      'error',
      `stop failed: ${errorMessage(error)}`,
      error,
    );
  }
}

/** A restart of the whole plugin: its stop, then its start. */
export async function restartPlugin(
  s: ActionSteps,
  op: TypedOperation<'restart'>,
  signal: AbortSignal,
) {
  return {
    ...(await stopPlugin(s, op)),
    ...(await startPlugin(s, op, signal)),
  };
}
