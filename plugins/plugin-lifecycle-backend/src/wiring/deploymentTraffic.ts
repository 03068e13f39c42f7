import type { LoggerService } from '@backstage/backend-plugin-api';
import { InstanceStore } from '../database/InstanceStore';
import { ALL_TENANTS } from '../domain/tenancy';
import { ServiceDiscovery } from '../engines/discovery/ServiceDiscovery';
import { DeploymentTraffic } from '../engines/deployments/deploymentTypes';
import { RuntimeRegistry } from '../engines/runtime/RuntimeRegistry';

/**
 * What the deployment controller does to traffic, through discovery: the
 * split of a plugin's service (stored, so every replica and both data
 * planes follow it), the measurements per version, and instance tracks
 * (in the store, and on a runtime that labels its workloads by track).
 * Without discovery (an embedding without it) splits are not made and no
 * version has measurements, so an analysis never passes.
 */
export function deploymentTraffic(options: {
  discovery?: ServiceDiscovery;
  instances: InstanceStore;
  runtimes?: RuntimeRegistry;
  logger?: LoggerService;
  /** Resolves once the data planes serve the routing changes made so far. */
  settle?: () => Promise<void>;
}): DeploymentTraffic {
  const { discovery, instances } = options;
  const settle = options.settle ?? (async () => {});
  /**
   * The runtime's labels follow the record. Routing is the data planes'
   * (they read the record), so a cluster refusing the relabel is a warning,
   * not a reason to fail a promotion whose traffic has already moved.
   */
  async function relabel(instanceIds: string[], track: string) {
    if (!options.runtimes || instanceIds.length === 0) return;
    const records = (
      await Promise.all(instanceIds.map(id => instances.get(id)))
    ).flatMap(r => (r ? [r] : []));
    const groups = new Map<
      string,
      { runtime: string; pluginId: string; ids: string[] }
    >();
    for (const r of records) {
      const key = `${r.runtime}\n${r.pluginId}`;
      const group = groups.get(key) ?? {
        runtime: r.runtime,
        pluginId: r.pluginId,
        ids: [],
      };
      group.ids.push(r.id);
      groups.set(key, group);
    }
    for (const group of groups.values()) {
      if (!options.runtimes.has(group.runtime)) continue;
      const runtime = options.runtimes.get(group.runtime);
      if (!runtime.setInstanceTrack) continue;
      try {
        await runtime.setInstanceTrack({
          pluginId: group.pluginId,
          instanceIds: group.ids,
          track,
        });
      } catch (error) {
        options.logger?.warn(
          `moving ${group.ids.join(', ')} to track ${track} on the ${
            runtime.type
          } runtime: ${error}`,
        );
      }
    }
  }
  return {
    async setSplit(plugin, split) {
      if (!discovery) return;
      await discovery.setTrafficSplit(plugin.id, split, {
        scope: ALL_TENANTS,
        tenant: plugin.tenant,
      });
      // A step after this one may stop what the split no longer sends
      // traffic to: only once the data planes route by the new split.
      await settle();
    },
    versionStats(plugin, version) {
      return discovery?.versionStats(plugin.id, version, {
        tenant: plugin.tenant,
      });
    },
    async awaitRoutable(instanceIds, timeoutMs) {
      if (!discovery) return true;
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        if (discovery.routableOf(instanceIds).length === instanceIds.length) {
          await settle();
          return true;
        }
        if (Date.now() >= deadline) return false;
        await discovery.refresh();
        await new Promise(r => setTimeout(r, 50));
      }
    },
    async awaitUnroutable(instanceIds, timeoutMs) {
      if (!discovery) return true;
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        await discovery.refresh();
        if (discovery.routableOf(instanceIds).length === 0) {
          await settle();
          return true;
        }
        if (Date.now() >= deadline) return false;
        await new Promise(r => setTimeout(r, 50));
      }
    },
    async setTrack(instanceIds, track) {
      await instances.setTrack(instanceIds, track);
      await relabel(instanceIds, track);
      // The change log carries it to every replica; this one looks now
      // rather than at its next poll.
      await discovery?.refresh();
    },
  };
}
