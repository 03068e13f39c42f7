import { NotAllowedError } from '@backstage/errors';
import { PluginManifest } from '@internal/plugin-lifecycle-common';
import { PluginRecord } from '../../database/PluginStore';
import {
  PreconditionError,
  ResourceAmounts,
  checkDependenciesRunning,
  findRunningDependents,
  instanceResources,
  missingRequiredConfiguration,
} from '../../domain/orchestration';
import type { ResolvedConfiguration } from '../configuration/ConfigurationManager';
import { ActionOperation, ActionSteps } from './ActionSteps';

/**
 * Refuses to start a plugin whose dependencies (of its own tenant) are not
 * running, whose required configuration is missing, or whose instances would
 * exceed its tenant's quota. `config`: what instances would start with, when
 * not the current one.
 */
export async function checkStartPreconditions(
  s: ActionSteps,
  plugin: PluginRecord,
  manifest: PluginManifest,
  op: ActionOperation,
  config?: ResolvedConfiguration,
) {
  const all = await s.plugins.list();
  const byId = new Map(all.map(p => [p.id, p]));
  const problems = [
    // Another tenant's plugin is not there for this one.
    ...checkDependenciesRunning(manifest.dependencies ?? [], id => {
      const dependency = byId.get(id);
      return dependency?.tenant === plugin.tenant ? dependency : undefined;
    }),
    ...missingRequiredConfiguration(
      manifest.configSchema,
      (config ?? (await s.configuration.resolve(plugin))).entries,
    ).map(key => `required configuration '${key}' is missing`),
  ];
  if (problems.length > 0) {
    throw new PreconditionError(
      `Cannot start '${op.pluginId}': ${problems.join('; ')}`,
    );
  }
  const each = (
    s.options.resourcesOf ??
    ((_id: string, requested?: ResourceAmounts) =>
      instanceResources(requested, undefined))
  )(plugin.id, manifest.resources);
  const quota = await s.options.checkQuota?.(
    plugin.tenant,
    {
      instances: plugin.replicas,
      cpuMillicores: plugin.replicas * each.cpuMillicores,
      memoryMiB: plugin.replicas * each.memoryMiB,
    },
    plugin.id,
  );
  if (quota?.length) {
    throw new NotAllowedError(
      `Cannot start '${op.pluginId}': ${quota.join('; ')}`,
    );
  }
}

/**
 * Refuses to take a plugin down (stop, uninstall) while running plugins
 * depend on it, unless the operation is part of a cascade (its batch stops
 * the dependents first).
 */
export async function checkNoRunningDependents(
  s: ActionSteps,
  plugin: PluginRecord,
  op: ActionOperation & { params: { cascade?: boolean } },
) {
  if (op.params.cascade) return; // the batch stops the dependents first
  const dependents = findRunningDependents(
    plugin.id,
    await s.options.dependencyView(),
  );
  if (dependents.length > 0) {
    throw new PreconditionError(
      `Cannot ${op.type} '${plugin.id}': ${dependents
        .map(d => `'${d}'`)
        .join(', ')} ${
        dependents.length === 1
          ? 'depends on it and is'
          : 'depend on it and are'
      } running; stop ${
        dependents.length === 1 ? 'it' : 'them'
      } first or ask for cascade`,
    );
  }
}
