import { InputError } from '@backstage/errors';
import {
  PluginInstance,
  TypedOperation,
  UpdateResult,
} from '@internal/plugin-lifecycle-common';
import { PluginRecord } from '../../database/PluginStore';
import { PreconditionError } from '../../domain/orchestration';
import type { RestoredLayer } from '../configuration/ConfigurationManager';
import {
  ActionOperation,
  ActionSteps,
  errorMessage,
  failure,
} from './ActionSteps';
import { handOverDeployment } from './deploymentHandover';
import { installVersion } from './installAction';
import { checkStartPreconditions } from './preconditionChecks';

/**
 * Moves a plugin to another version. A running plugin is rolled one
 * instance at a time: a new instance must pass its startup and readiness
 * probes before an old one is stopped, so capacity never drops. A failed
 * update stops what it started, starts again the old instances it had
 * stopped, removes the new version and returns to the state it began in.
 *
 * The result records the configuration revision the previous version ran
 * with (`fromConfigRevision`) and the one the new version starts with
 * (`configRevision`), so that a rollback can restore both together: with
 * `restoreConfigRevision` the configuration goes back to that revision
 * before any new instance starts, and back again if the update fails.
 *
 * A resumed update (an earlier attempt was cut off with its replica)
 * never removes capacity it has not replaced: it re-reads what serves,
 * brings the old version back to the plugin's instance count before
 * replacing anything, and its compensation restores that count however
 * many instances the earlier attempt stopped.
 */
export async function updatePlugin(
  s: ActionSteps,
  op: TypedOperation<'update'>,
  signal: AbortSignal,
): Promise<UpdateResult> {
  const { params } = op;
  if (params.deploymentId) return handOverDeployment(s, op, signal);
  const { version } = params;
  let plugin = await s.plugins.getOrThrow(op.pluginId);
  const runtime = s.runtimes.get(plugin.runtime);
  const fromVersion = plugin.currentVersion;
  const previous =
    fromVersion && (await s.plugins.getVersion(op.pluginId, fromVersion));
  if (!fromVersion || !previous) {
    throw new InputError(
      `Plugin '${op.pluginId}' has no installed version to update from`,
    );
  }
  if (
    params.expectedCurrentVersion &&
    fromVersion !== params.expectedCurrentVersion
  ) {
    throw new PreconditionError(
      `Cannot roll back update ${params.rollbackOf} of '${op.pluginId}': it runs ${fromVersion} now, not ${params.expectedCurrentVersion}`,
    );
  }
  if (fromVersion === version) {
    throw new PreconditionError(
      `Plugin '${op.pluginId}' already runs ${version}`,
    );
  }
  const artifact =
    params.artifact ??
    previous.artifact ??
    s.options.configuredArtifact(op.pluginId);
  const resuming = s.resuming(plugin, 'updating', op);
  const active = await s.instances.listForPlugin(plugin.id, {
    activeOnly: true,
  });
  // A resumed attempt (its earlier one was cut off with its replica) does
  // not trust the records: it re-reads what actually serves. Instances of
  // the new version that an earlier attempt got ready count as replacements
  // already; those it never saw ready are not capacity and are stopped;
  // instances whose process is gone are left to the reconciler.
  const view = resuming
    ? await resumeView(s, plugin, op, active, version)
    : {
        wasRunning: plugin.state === 'running',
        old: active.filter(i => i.version !== version),
        carried: [] as PluginInstance[],
        unverified: [] as PluginInstance[],
      };
  const { wasRunning, carried, unverified } = view;
  const old: Array<{ id: string; runtime: string }> = view.old;
  if (!resuming && wasRunning) {
    await checkStartPreconditions(
      s,
      plugin,
      params.manifest ?? previous.manifest,
      op,
      params.restoreConfigRevision === undefined
        ? undefined
        : await s.configuration.resolveAtRevision(
            plugin,
            params.restoreConfigRevision,
          ),
    );
  }
  // Not running: what the previous version would have started with.
  const fromConfigRevision = wasRunning
    ? plugin.configRevision ?? (await s.configuration.resolve(plugin)).revision
    : (await s.configuration.resolve(plugin)).revision;
  plugin = await s.begin(
    plugin,
    'updating',
    op,
    `update ${fromVersion} -> ${version}`,
  );
  // What a failure stops: what this attempt starts, and the new-version
  // instances an earlier attempt left (the failure undoes them too).
  const started: string[] = carried.map(i => i.id);
  let restored: RestoredLayer[] = [];
  try {
    for (const stale of unverified) {
      await s.fleet.stop(
        plugin.id,
        stale.id,
        stale.runtime,
        'started by an interrupted attempt of this update, never seen ready',
      );
    }
    if (resuming && wasRunning) {
      // Capacity first: what the earlier attempt stopped without a ready
      // replacement still serving comes back before anything is replaced.
      const missing = plugin.replicas - carried.length - old.length;
      for (let i = 0; i < missing; i++) {
        const instance = await s.fleet.start(
          plugin,
          previous,
          runtime,
          signal,
          () => {},
        );
        old.push({ id: instance.instanceId, runtime: runtime.type });
        await s.fleet.awaitReady(plugin.probes, instance, runtime, signal);
      }
      if (missing > 0) {
        s.logger.info(
          `update ${op.id} of ${plugin.id} resumed: started ${missing} instance(s) of ${fromVersion} again before replacing any`,
        );
      }
    }
    const { manifest, stored } = await installVersion(s, op, runtime, {
      version,
      artifact,
      manifest: params.manifest,
      signal,
    });
    const probes = params.healthProbes ?? manifest.probes ?? plugin.probes;
    if (params.restoreConfigRevision !== undefined) {
      restored = await s.configuration.restoreAtRevision(
        plugin,
        params.restoreConfigRevision,
        {
          author: op.actor,
          description: `restored with rollback of update ${
            params.rollbackOf ?? op.id
          }`,
        },
      );
    }
    const config = await s.configuration.resolve(plugin);
    if (wasRunning) {
      const oldInstances = [...old];
      for (let i = carried.length; i < plugin.replicas; i++) {
        signal.throwIfAborted();
        const instance = await s.fleet.start(
          plugin,
          stored,
          runtime,
          signal,
          id => started.push(id),
          config,
        );
        await s.fleet.awaitReady(probes, instance, runtime, signal);
        const retiring = oldInstances.shift();
        if (retiring) {
          await s.fleet.stop(
            plugin.id,
            retiring.id,
            retiring.runtime,
            `replaced by ${version}`,
          );
        }
      }
      for (const extra of oldInstances) {
        await s.fleet.stop(
          plugin.id,
          extra.id,
          extra.runtime,
          `replaced by ${version}`,
        );
      }
    }
    await s.stateMachine.transition(
      plugin,
      wasRunning ? 'running' : 'installed',
      {
        ...s.ctx(op, `updated ${fromVersion} -> ${version}`),
        patch: {
          currentVersion: version,
          probes,
          lastError: undefined,
          ...(wasRunning ? { configRevision: config.revision } : {}),
        },
      },
    );
    return {
      fromVersion,
      toVersion: version,
      fromConfigRevision,
      configRevision: config.revision,
      instances: started,
      ...(params.rollbackOf
        ? { rollbackOf: params.rollbackOf, restoredConfiguration: restored }
        : {}),
    };
  } catch (error) {
    const message = `update ${fromVersion} -> ${version} failed: ${errorMessage(
      error,
    )}`;
    // Compensation: the old version keeps (or gets back) its capacity.
    await Promise.all(
      started.map(id => s.fleet.stop(plugin.id, id, runtime.type, message)),
    );
    // The configuration goes back with the code: what is stored is what
    // the old instances run, and those started again below get it.
    const reverted = await revertRestored(s, plugin, restored, message);
    const fresh = await s.plugins.getOrThrow(plugin.id);
    // Back to the instance count the plugin runs with, counting what
    // really serves now: an instance stopped by an earlier attempt (or
    // lost with its replica) is replaced as much as one stopped by this one.
    const serving = wasRunning
      ? (
          await s.fleet.serving(
            await s.instances.listForPlugin(plugin.id, {
              activeOnly: true,
            }),
          )
        ).filter(i => i.version === fromVersion && i.status === 'running')
      : [];
    const restore = wasRunning
      ? Math.max(0, fresh.replicas - serving.length)
      : 0;
    for (let i = 0; i < restore; i++) {
      const instance = await s.fleet.start(
        fresh,
        previous,
        runtime,
        new AbortController().signal,
        () => {},
      );
      await s.fleet
        .awaitReady(
          fresh.probes,
          instance,
          runtime,
          new AbortController().signal,
        )
        .catch(e =>
          s.logger.error(
            `restoring ${fromVersion} after a failed update: ${e}`,
          ),
        );
    }
    await runtime
      .uninstall({ pluginId: op.pluginId, version })
      .catch(e => s.logger.warn(`cleanup after failed update: ${e}`));
    await s.plugins.deleteVersion(op.pluginId, version);
    await s.stateMachine.transitionLatest(
      op.pluginId,
      wasRunning ? 'running' : 'installed',
      {
        ...s.ctx(
          op,
          `${message}; ${fromVersion}${
            reverted ? ' and its configuration' : ''
          } restored`,
        ),
        patch: {
          lastError: message,
          ...(reverted && wasRunning
            ? {
                configRevision: (await s.configuration.resolve(fresh)).revision,
              }
            : {}),
        },
      },
    );
    throw failure(message, error);
  }
}

/**
 * What a resumed update finds: whether the plugin was running when the
 * update began (the transition into `updating` says), the serving
 * instances of other versions (the old capacity), the new-version
 * instances an earlier attempt saw ready (`carried`) and those it did not
 * (`unverified`, to be stopped).
 */
async function resumeView(
  s: ActionSteps,
  plugin: PluginRecord,
  op: ActionOperation,
  active: PluginInstance[],
  version: string,
) {
  const entered = await s.plugins.lastTransition(plugin.id);
  const wasRunning =
    entered?.operationId === op.id && entered.toState === 'updating'
      ? entered.fromState === 'running'
      : active.length > 0;
  const serving = await s.fleet.serving(active);
  const carried = serving.filter(
    i => i.version === version && i.status === 'running',
  );
  return {
    wasRunning,
    old: serving.filter(i => i.version !== version),
    carried,
    unverified: serving.filter(
      i => i.version === version && !carried.includes(i),
    ),
  };
}

/**
 * Undoes the configuration a failed rollback restored, as new versions
 * with each layer's content from before. Whether anything was undone.
 */
async function revertRestored(
  s: ActionSteps,
  plugin: PluginRecord,
  restored: RestoredLayer[],
  message: string,
): Promise<boolean> {
  for (const layer of [...restored].reverse()) {
    await s.configuration
      .revertLayer(
        plugin,
        layer.layer,
        layer.previousVersion,
        `automatic rollback: ${message}`,
        { author: 'plugin-lifecycle:update' },
      )
      .catch(e =>
        s.logger.error(
          `reverting the restored configuration of ${plugin.id} (${layer.layer}): ${e}`,
        ),
      );
  }
  return restored.length > 0;
}
