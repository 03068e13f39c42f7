import {
  ConfigureResult,
  PluginInstance,
  TypedOperation,
} from '@internal/plugin-lifecycle-common';
import {
  PluginRuntime,
  RuntimeInstance,
} from '@internal/plugin-lifecycle-node';
import { PluginRecord, StoredVersion } from '../../database/PluginStore';
import type { ResolvedConfiguration } from '../configuration/ConfigurationManager';
import { ActionSteps, errorMessage } from './ActionSteps';
import { instanceEnv } from './InstanceManager';

/** A signal is handled asynchronously: give the instance this long before checking it. */
const SIGNAL_SETTLE_MS = 500;

type Touched =
  | { kind: 'reloaded'; instance: PluginInstance }
  | {
      kind: 'replaced';
      old: PluginInstance;
      newId: string;
      oldStopped: boolean;
    };

/**
 * Brings a configuration change to a running plugin's instances, one at a
 * time, by the plugin's reload strategy: `signal` or `endpoint` reload in
 * place; `restart` (the default, and for runtimes that cannot reload)
 * replaces each instance by one started with the new configuration, which
 * must pass its probes before the old one stops: the first instance is the
 * trial of the change. If an instance does not stay ready, every instance
 * touched goes back to the previous configuration and the layer's stored
 * content is rolled back too, so what is stored is what runs. A revision
 * that changes no value the instances get touches none of them.
 */
export async function applyConfiguration(
  s: ActionSteps,
  op: TypedOperation<'configure'>,
  signal: AbortSignal,
): Promise<ConfigureResult> {
  const { params } = op;
  let plugin = await s.plugins.getOrThrow(op.pluginId);
  const resuming = s.resuming(plugin, 'configuring', op);
  if (!resuming && plugin.state !== 'running') {
    // Nothing runs: the next start uses the configuration as it is then.
    return { applied: 0, reason: `plugin is ${plugin.state}` };
  }
  const target = await s.configuration.resolve(plugin);
  const previousRevision =
    plugin.configRevision ?? Math.max(0, (params.revision ?? 1) - 1);
  if (!resuming && plugin.configRevision === target.revision) {
    return { applied: 0, reason: `revision ${target.revision} already runs` };
  }
  const stored =
    plugin.currentVersion &&
    (await s.plugins.getVersion(plugin.id, plugin.currentVersion));
  if (!stored) {
    return { applied: 0, reason: 'no installed version' };
  }
  if (!resuming && plugin.configRevision !== undefined) {
    const running = await s.configuration.resolveAtRevision(
      plugin,
      plugin.configRevision,
    );
    if (sameValues(running, target)) {
      return recordUnchanged(s, plugin, op, target.revision);
    }
  }
  const runtime = s.runtimes.get(plugin.runtime);
  const wanted = stored.manifest.reloadStrategy ?? 'restart';
  const strategy =
    wanted !== 'restart' && runtime.reloadInstance ? wanted : 'restart';
  plugin = await s.begin(
    plugin,
    'configuring',
    op,
    `configuration revision ${target.revision} by ${strategy}`,
  );
  const instances = (
    await s.instances.listForPlugin(plugin.id, { activeOnly: true })
  ).filter(i => i.status === 'running' || i.status === 'starting');
  const touched: Touched[] = [];
  try {
    for (const instance of instances) {
      signal.throwIfAborted();
      if (strategy === 'restart') {
        const entry: Touched = {
          kind: 'replaced',
          old: instance,
          newId: '',
          oldStopped: false,
        };
        const fresh = await s.fleet.start(
          plugin,
          stored,
          runtime,
          signal,
          id => {
            entry.newId = id;
            touched.push(entry);
          },
          target,
        );
        await s.fleet.awaitReady(plugin.probes, fresh, runtime, signal);
        await s.fleet.stop(
          plugin.id,
          instance.id,
          instance.runtime,
          `replaced for configuration revision ${target.revision}`,
        );
        entry.oldStopped = true;
      } else {
        touched.push({ kind: 'reloaded', instance });
        await reload(runtime, plugin, stored, instance, target, strategy);
        await s.fleet.awaitReady(
          plugin.probes,
          asRuntime(instance),
          runtime,
          signal,
        );
        await s.instances.setConfigRevision(instance.id, target.revision);
      }
    }
    await s.stateMachine.transition(plugin, 'running', {
      ...s.ctx(
        op,
        `configuration revision ${target.revision} applied to ${instances.length} instance(s) by ${strategy}`,
      ),
      patch: { configRevision: target.revision, lastError: undefined },
    });
    return {
      revision: target.revision,
      strategy,
      instances: instances.length,
    };
  } catch (error) {
    const message = `configuration revision ${
      target.revision
    } failed (${strategy}): ${errorMessage(error)}`;
    const previous = await s.configuration.resolveAtRevision(
      plugin,
      previousRevision,
    );
    await restore(s, runtime, plugin, stored, touched, previous);
    let restoredNote = 'instances restored';
    if (params.layer && params.version) {
      const reverted = await s.configuration
        .revertLayer(
          plugin,
          params.layer,
          params.version - 1,
          `automatic rollback: ${message}`,
        )
        .catch(e => {
          s.logger.error(`rolling back configuration of ${plugin.id}: ${e}`);
          return undefined;
        });
      if (reverted) {
        restoredNote = `instances and configuration restored (${params.layer} version ${reverted.version})`;
      }
    }
    await s.stateMachine.transitionLatest(plugin.id, 'running', {
      ...s.ctx(op, `${message}; ${restoredNote}`),
      patch: { lastError: message, configRevision: previous.revision },
    });
    // A configuration that broke an instance breaks it again: no retry.
    throw Object.assign(new Error(`${message}; ${restoredNote}`), {
      retryable: false,
    });
  }
}

/** Every key with its value, as instances get them (see `instanceEnv`). */
function instanceValues(config: ResolvedConfiguration): string {
  return JSON.stringify(
    config.entries
      .map(e => [e.key, JSON.stringify(e.value)])
      .sort(([a], [b]) => (a < b ? -1 : 1)),
  );
}

function sameValues(a: ResolvedConfiguration, b: ResolvedConfiguration) {
  return instanceValues(a) === instanceValues(b);
}

/**
 * A revision that gives the instances the values they run with (a change to
 * a key another layer overrides, an environment layer repeating the base, a
 * description): recorded as theirs, no instance restarted or reloaded.
 */
async function recordUnchanged(
  s: ActionSteps,
  plugin: PluginRecord,
  op: TypedOperation<'configure'>,
  revision: number,
): Promise<ConfigureResult> {
  const reason = `revision ${revision} changes no value the instances get`;
  const configuring = await s.begin(plugin, 'configuring', op, reason);
  for (const instance of await s.instances.listForPlugin(plugin.id, {
    activeOnly: true,
  })) {
    await s.instances.setConfigRevision(instance.id, revision);
  }
  await s.stateMachine.transition(configuring, 'running', {
    ...s.ctx(op, `configuration ${reason}; no instance restarted`),
    patch: { configRevision: revision },
  });
  return { applied: 0, reason };
}

async function reload(
  runtime: PluginRuntime,
  plugin: PluginRecord,
  stored: StoredVersion,
  instance: PluginInstance,
  config: ResolvedConfiguration,
  strategy: 'signal' | 'endpoint',
) {
  await runtime.reloadInstance!({
    pluginId: plugin.id,
    instanceId: instance.id,
    env: instanceEnv(plugin, stored.version, instance.id, config),
    strategy,
    signal: stored.manifest.reloadSignal,
    endpoint: stored.manifest.reloadEndpoint,
  });
  if (strategy === 'signal') {
    await new Promise(r => setTimeout(r, SIGNAL_SETTLE_MS));
  }
}

/** Compensation: every touched instance back on the previous configuration. */
async function restore(
  s: ActionSteps,
  runtime: PluginRuntime,
  plugin: PluginRecord,
  stored: StoredVersion,
  touched: Touched[],
  previous: ResolvedConfiguration,
) {
  const never = new AbortController().signal;
  for (const entry of touched.reverse()) {
    try {
      if (entry.kind === 'reloaded') {
        await reload(
          runtime,
          plugin,
          stored,
          entry.instance,
          previous,
          runtime.reloadInstance ? guessStrategy(stored) : 'endpoint',
        );
        await s.instances.setConfigRevision(
          entry.instance.id,
          previous.revision,
        );
        continue;
      }
      if (entry.newId) {
        await s.fleet.stop(
          plugin.id,
          entry.newId,
          runtime.type,
          'configuration change rolled back',
        );
      }
      if (entry.oldStopped) {
        const instance = await s.fleet.start(
          plugin,
          stored,
          runtime,
          never,
          () => {},
          previous,
        );
        await s.fleet.awaitReady(plugin.probes, instance, runtime, never);
      }
    } catch (error) {
      s.logger.error(
        `restoring ${plugin.id} to configuration revision ${previous.revision}: ${error}`,
      );
    }
  }
}

function guessStrategy(stored: StoredVersion): 'signal' | 'endpoint' {
  return stored.manifest.reloadStrategy === 'signal' ? 'signal' : 'endpoint';
}

function asRuntime(instance: PluginInstance): RuntimeInstance {
  return {
    instanceId: instance.id,
    host: instance.host,
    port: instance.port,
    protocol: instance.protocol,
    pid: instance.pid,
  };
}
