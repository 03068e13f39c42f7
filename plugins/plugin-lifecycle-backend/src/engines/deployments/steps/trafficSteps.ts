import { AbMatch } from '@internal/plugin-lifecycle-common';
import type { DeploymentRecord } from '../../../database/DeploymentStore';
import { subsetKey } from '../../../domain/loadBalancing';
import {
  DeploymentControllerOptions,
  DeploymentSplit,
  NEW_TRACK,
  OLD_TRACK,
  StepOutcome,
  splitsTraffic,
} from '../deploymentTypes';

/** The subset keys of the old and the new version of a deployment. */
export function subsetsOf(d: DeploymentRecord) {
  return {
    old: subsetKey(OLD_TRACK, d.fromVersion),
    new: subsetKey(NEW_TRACK[d.strategy], d.toVersion),
  };
}

/** The split that gives the new version `weight` percent. */
export function weightSplit(
  d: DeploymentRecord,
  weight: number,
): DeploymentSplit {
  const keys = subsetsOf(d);
  return { weights: { [keys.old]: 100 - weight, [keys.new]: weight } };
}

/** Sets the new version's share of traffic (strategies that split; rolling follows instance counts). */
export async function setWeight(
  o: DeploymentControllerOptions,
  d: DeploymentRecord,
  weight: number,
): Promise<StepOutcome> {
  if (!splitsTraffic(d.strategy)) return { kind: 'done' };
  const plugin = await o.steps.plugins.getOrThrow(d.pluginId);
  await o.traffic.setSplit(plugin, weightSplit(d, weight));
  return {
    kind: 'done',
    message: `${d.toVersion} gets ${weight}% of the traffic`,
    patch: {
      traffic: { [d.fromVersion]: 100 - weight, [d.toVersion]: weight },
      match: undefined,
    },
  };
}

/** A/B: requests matching a header or cookie go to the new version, the rest to the old. */
export async function setMatch(
  o: DeploymentControllerOptions,
  d: DeploymentRecord,
  match: AbMatch,
): Promise<StepOutcome> {
  const plugin = await o.steps.plugins.getOrThrow(d.pluginId);
  const keys = subsetsOf(d);
  await o.traffic.setSplit(plugin, {
    weights: { [keys.old]: 100, [keys.new]: 0 },
    match: { subset: keys.new, ...match },
  });
  const rule =
    'header' in match
      ? `header ${match.header.name}: ${match.header.value}`
      : `cookie ${match.cookie.name}=${match.cookie.value}`;
  return {
    kind: 'done',
    message: `requests with ${rule} go to ${d.toVersion}`,
    patch: {
      traffic: { [d.fromVersion]: 100, [d.toVersion]: 0 },
      match,
    },
  };
}

/**
 * Before the first new instance of a splitting strategy starts, all traffic
 * is pinned on the old version, so a new instance that turns ready takes
 * nothing until a step gives it a share.
 */
export async function pinOld(
  o: DeploymentControllerOptions,
  d: DeploymentRecord,
): Promise<DeploymentRecord['traffic'] | undefined> {
  if (!splitsTraffic(d.strategy) || d.toVersion in d.traffic) return undefined;
  const plugin = await o.steps.plugins.getOrThrow(d.pluginId);
  await o.traffic.setSplit(plugin, weightSplit(d, 0));
  return { [d.fromVersion]: 100, [d.toVersion]: 0 };
}
