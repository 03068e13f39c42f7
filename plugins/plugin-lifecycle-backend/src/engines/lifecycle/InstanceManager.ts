import { randomUUID } from 'node:crypto';
import {
  PluginInstance,
  ProbeDefinition,
} from '@internal/plugin-lifecycle-common';
import {
  PluginRuntime,
  RuntimeInstance,
  RuntimeResources,
} from '@internal/plugin-lifecycle-node';
import {
  instanceResources,
  ResourceAmounts,
} from '../../domain/orchestration/quotas';
import { InstanceStore, assertTrack } from '../../database/InstanceStore';
import { DEFAULT_TRACK } from '../../domain/loadBalancing';
import { PluginRecord, StoredVersion } from '../../database/PluginStore';
import { buildInstanceEnv } from '../../domain/instanceEnv';
import type { ResolvedConfiguration } from '../configuration/ConfigurationManager';
import {
  isOtherReplicaOnThisHost,
  isOwnerGone,
} from '../orchestrator/replicas';
import { RuntimeRegistry } from '../runtime/RuntimeRegistry';
import { waitUntilReady } from './readiness';

/** Options of {@link InstanceManager}. */
export interface InstanceManagerOptions {
  instances: InstanceStore;
  runtimes: RuntimeRegistry;
  /** This backend replica, recorded as the owner of the instances it starts. */
  replicaId: string;
  /** The plugin's effective configuration, for an instance started without one. */
  resolveConfiguration: (
    plugin: PluginRecord,
  ) => Promise<ResolvedConfiguration>;
  readyTimeoutMs: number;
  stopGracePeriodMs: number;
  /**
   * What one instance of the plugin may use: its manifest's request capped
   * by app-config (tenancy's `resourcesOf`); default the request.
   */
  resourcesOf?: (
    pluginId: string,
    requested?: ResourceAmounts,
  ) => { cpuMillicores: number; memoryMiB: number };
}

/** The environment of an instance with a given configuration. */
export function instanceEnv(
  plugin: PluginRecord,
  version: string,
  instanceId: string,
  config: ResolvedConfiguration,
) {
  return buildInstanceEnv({
    pluginId: plugin.id,
    version,
    instanceId,
    environment: config.environment,
    configuration: config.entries,
  });
}

/**
 * What one instance may use, as quantities a cluster takes (`500m`,
 * `256Mi`), for a runtime that reserves them: its manifest's `resources`,
 * capped by app-config as tenancy counts it (`resourcesOf`: the operator's
 * size, `plugins.<id>.resources` else `tenancy.instanceResources`, also
 * when the manifest asks for nothing), so a pod is given what its tenant's
 * quota counts for it.
 */
export function runtimeResources(
  stored: Pick<StoredVersion, 'manifest'>,
  resourcesOf: (requested?: ResourceAmounts) => {
    cpuMillicores: number;
    memoryMiB: number;
  } = requested => instanceResources(requested, undefined),
): RuntimeResources | undefined {
  let amounts: { cpuMillicores: number; memoryMiB: number };
  try {
    amounts = resourcesOf(stored.manifest?.resources);
  } catch {
    // A quantity that does not parse: tenancy refuses it where it counts;
    // a runtime just reserves nothing.
    return undefined;
  }
  const { cpuMillicores, memoryMiB } = amounts;
  if (cpuMillicores <= 0 && memoryMiB <= 0) return undefined;
  return {
    cpu: cpuMillicores > 0 ? `${cpuMillicores}m` : undefined,
    memory: memoryMiB > 0 ? `${memoryMiB}Mi` : undefined,
  };
}

/**
 * The instances of plugins as the lifecycle actions start, watch and stop
 * them: each one through its runtime, each step recorded in the instance
 * store, so that what the store says is what runs.
 */
export class InstanceManager {
  readonly #o: InstanceManagerOptions;

  private constructor(options: InstanceManagerOptions) {
    this.#o = options;
  }

  static create(options: InstanceManagerOptions) {
    return new InstanceManager(options);
  }

  /**
   * Starts one instance of a stored version and records it as starting,
   * with the plugin's current configuration unless another is given.
   * `onSpawn` hears the instance's id before the runtime starts it, so a
   * failure can stop what may have started. `options.track` (default
   * `stable`) puts it in discovery's subset `track/version`: a deployment
   * starts its new instances as `canary` (or `preview`) and moves them with
   * {@link InstanceStore.setTrack}.
   */
  async start(
    plugin: PluginRecord,
    stored: StoredVersion,
    runtime: PluginRuntime,
    signal: AbortSignal,
    onSpawn: (instanceId: string) => void,
    config?: ResolvedConfiguration,
    options: { track?: string } = {},
  ): Promise<RuntimeInstance> {
    const track = options.track ?? DEFAULT_TRACK;
    assertTrack(track);
    const instanceId = `${plugin.id}-${randomUUID().slice(0, 8)}`;
    const resolved = config ?? (await this.#o.resolveConfiguration(plugin));
    onSpawn(instanceId);
    const instance = await runtime.startInstance({
      pluginId: plugin.id,
      version: stored.version,
      instanceId,
      artifact: stored.artifact,
      location: stored.location,
      env: instanceEnv(plugin, stored.version, instanceId, resolved),
      track,
      // A cluster runtime makes them container probes; the health monitor
      // runs them either way.
      probes: plugin.probes,
      resources: runtimeResources(
        stored,
        this.#o.resourcesOf &&
          (requested => this.#o.resourcesOf!(plugin.id, requested)),
      ),
      signal,
    });
    await this.#o.instances.insert({
      id: instanceId,
      pluginId: plugin.id,
      version: stored.version,
      track,
      runtime: runtime.type,
      host: instance.host,
      port: instance.port,
      protocol: instance.protocol,
      pid: instance.pid,
      processGroup: instance.processGroup,
      processStartTime: instance.processStartTime,
      status: 'starting',
      owner: this.#o.replicaId,
      configRevision: resolved.revision,
    });
    return instance;
  }

  /** Moves instances to another track; see {@link InstanceStore.setTrack}. */
  setTrack(instanceIds: string[], track: string): Promise<number> {
    return this.#o.instances.setTrack(instanceIds, track);
  }

  /** Waits for an instance's startup and readiness probes, then marks it running. */
  async awaitReady(
    probes: ProbeDefinition[],
    instance: RuntimeInstance,
    runtime: PluginRuntime,
    signal: AbortSignal,
  ) {
    await waitUntilReady({
      instance,
      probes,
      timeoutMs: this.#o.readyTimeoutMs,
      isAlive: () => runtime.isAlive(instance.instanceId),
      signal,
    });
    await this.#o.instances.setStatus(instance.instanceId, 'running');
  }

  /** Stops one instance within the grace period and records how it ended. */
  async stop(
    pluginId: string,
    instanceId: string,
    runtimeType: string,
    reason?: string,
  ) {
    const runtime = this.#o.runtimes.get(runtimeType);
    await this.#o.instances.setStatus(instanceId, 'stopping');
    const result =
      (await this.#stopOtherReplicas(runtime, instanceId)) ??
      (await runtime.stopInstance({
        pluginId,
        instanceId,
        gracePeriodMs: this.#o.stopGracePeriodMs,
      }));
    await this.#o.instances.setStatus(instanceId, 'stopped', {
      exitCode: result.exitCode,
      lastError: result.forced
        ? `killed after the ${this.#o.stopGracePeriodMs} ms grace period`
        : reason,
    });
  }

  /**
   * A deployment step or an operation runs on any replica, but a runtime
   * stops only the processes it started: an instance of another replica
   * on this host is stopped by its recorded process identity (pid, group
   * and start time), or its record would say stopped while it runs on.
   * Undefined when the instance is this replica's (or the runtime's own).
   */
  async #stopOtherReplicas(runtime: PluginRuntime, instanceId: string) {
    if (!runtime.reapOrphan || (await runtime.isAlive(instanceId))) {
      return undefined;
    }
    const recorded = await this.#o.instances.getWithProcess(instanceId);
    if (!recorded?.pid || !isOtherReplicaOnThisHost(recorded.owner)) {
      return undefined;
    }
    await runtime.reapOrphan({
      pluginId: recorded.pluginId,
      version: recorded.version,
      instanceId: recorded.id,
      pid: recorded.pid,
      processGroup: recorded.processGroup,
      processStartTime: recorded.processStartTime,
    });
    return { exitCode: null, forced: false };
  }

  /** Stops every active instance of a plugin; how many there were. */
  async stopAll(plugin: PluginRecord): Promise<number> {
    const active = await this.#o.instances.listForPlugin(plugin.id, {
      activeOnly: true,
    });
    await Promise.all(active.map(i => this.stop(plugin.id, i.id, i.runtime)));
    return active.length;
  }

  /**
   * The instances whose process is there to serve: this replica's that its
   * runtime still runs, and other replicas' while those replicas are alive
   * (as the reconciler judges them).
   */
  async serving(instances: PluginInstance[]): Promise<PluginInstance[]> {
    const alive = await Promise.all(
      instances.map(async i => {
        if (i.owner !== this.#o.replicaId) return !isOwnerGone(i.owner);
        if (!this.#o.runtimes.has(i.runtime)) return false;
        return this.#o.runtimes.get(i.runtime).isAlive(i.id);
      }),
    );
    return instances.filter((_, n) => alive[n]);
  }
}
