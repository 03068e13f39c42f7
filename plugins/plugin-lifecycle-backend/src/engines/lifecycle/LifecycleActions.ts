import { ExecProbePolicy } from '../health/execProbePolicy';
import { randomUUID } from 'node:crypto';
import { LoggerService } from '@backstage/backend-plugin-api';
import { InputError, NotAllowedError, stringifyError } from '@backstage/errors';
import {
  Artifact,
  ConfigurationEntry,
  LifecycleAction,
  LifecycleState,
  Operation,
  PluginInstance,
  PluginManifest,
  ProbeDefinition,
  manifestSchema,
} from '@internal/plugin-lifecycle-common';
import { InstanceStore } from '../../database/InstanceStore';
import {
  PluginRecord,
  PluginStore,
  StoredVersion,
} from '../../database/PluginStore';
import {
  PluginRuntime,
  RuntimeInstance,
} from '@internal/plugin-lifecycle-node';
import type {
  ResolvedConfiguration,
  RestoredLayer,
} from '../configuration/ConfigurationManager';
import {
  ConfigureSteps,
  applyConfiguration,
  instanceEnv,
} from './configureAction';
import type { ActionHandler } from '../orchestrator/Orchestrator';
import { isOwnerGone } from '../orchestrator/replicas';
import { RuntimeRegistry } from '../runtime/RuntimeRegistry';
import { replaceInstance } from './replaceInstance';
import { LifecycleStateMachine } from './LifecycleStateMachine';
import { waitUntilReady } from './readiness';
import {
  PreconditionError,
  Usage,
  classifyFailure,
  checkDependenciesRunning,
  findRunningDependents,
  missingRequiredConfiguration,
  instanceResources,
  ResourceAmounts,
} from '../../domain/orchestration';

/** What an update operation carries (validated by the API schema). */
export interface UpdateParams {
  version: string;
  artifact?: Artifact;
  manifest?: PluginManifest;
  healthProbes?: ProbeDefinition[];
  /**
   * Set by a rollback of an earlier update (`rollbackOf`): before new
   * instances start, the configuration goes back to its content as of this
   * revision (the one the earlier update's previous version ran with).
   */
  restoreConfigRevision?: number;
  /** The update this one rolls back. */
  rollbackOf?: string;
  /** The version the plugin must have when this runs (a rollback's). */
  expectedCurrentVersion?: string;
}

/** What an install operation carries (validated by the API schema). */
export interface InstallParams {
  version: string;
  artifact?: Artifact;
  manifest?: PluginManifest;
  configuration?: ConfigurationEntry[];
  healthProbes?: ProbeDefinition[];
  replicas?: number;
  environment?: string;
  start?: boolean;
}

export interface LifecycleActionsOptions {
  logger: LoggerService;
  plugins: PluginStore;
  instances: InstanceStore;
  stateMachine: LifecycleStateMachine;
  runtimes: RuntimeRegistry;
  /** This backend replica, recorded as the owner of the instances it starts. */
  replicaId: string;
  /** Artifacts configured in app-config, by plugin id. */
  configuredArtifact: (pluginId: string) => Artifact | undefined;
  /**
   * The commands exec probes may run; a manifest (the package's or the
   * request's) with another exec probe fails the install. Default: none.
   */
  execProbes?: ExecProbePolicy;
  readyTimeoutMs: number;
  stopGracePeriodMs: number;
  /**
   * What one instance of a plugin counts against its tenant's quota, given
   * its manifest's request; default: the request.
   */
  resourcesOf?: (
    pluginId: string,
    requested?: ResourceAmounts,
  ) => { cpuMillicores: number; memoryMiB: number };
  /** Quota problems of a tenant for a request, if any. */
  checkQuota?: (
    tenant: string,
    request: Partial<Usage>,
    pluginId: string,
  ) => Promise<string[]>;
  /** Every plugin with the plugins it depends on and its state. */
  dependencyView: () => Promise<
    Array<{ id: string; state: string; dependencies: string[] }>
  >;
  /** The plugin's effective configuration (plaintext), from the configuration manager. */
  configuration: {
    resolve: (plugin: PluginRecord) => Promise<ResolvedConfiguration>;
    resolveAtRevision: (
      plugin: PluginRecord,
      revision: number,
    ) => Promise<ResolvedConfiguration>;
    /** Writes a layer's earlier content back, without applying it again. */
    revertLayer: (
      plugin: PluginRecord,
      layer: string,
      toVersion: number,
      reason: string,
      options?: { author?: string },
    ) => Promise<{ revision: number; version: number }>;
    /**
     * Writes the plugin's layers back to their content as of a revision,
     * without a configure operation (the caller starts instances with it).
     */
    restoreAtRevision: (
      plugin: PluginRecord,
      revision: number,
      meta: { author?: string; description: string },
    ) => Promise<RestoredLayer[]>;
  };
}

/**
 * Where each action leaves a plugin when it succeeds, for actions whose
 * success is told by the state alone (update and configure end where they
 * began, so a finished earlier attempt cannot be told apart by state).
 */
const ACTION_END_STATES: Partial<Record<string, LifecycleState>> = {
  install: 'installed',
  start: 'running',
  stop: 'installed',
  restart: 'running',
  uninstall: 'inactive',
};

/**
 * What each lifecycle action does, step by step, with the compensating
 * action for each failure: a failed install cleans up and returns to
 * `inactive`; a failed start stops what it started and ends in `error`.
 */
export class LifecycleActions {
  readonly #o: LifecycleActionsOptions;

  private constructor(options: LifecycleActionsOptions) {
    this.#o = options;
  }

  static create(options: LifecycleActionsOptions) {
    return new LifecycleActions(options);
  }

  handlers(): Partial<Record<LifecycleAction, ActionHandler>> {
    const handlers: Partial<Record<LifecycleAction, ActionHandler>> = {
      install: (op, signal) => this.install(op, signal),
      start: (op, signal) => this.start(op, signal),
      stop: op => this.stop(op),
      restart: async (op, signal) =>
        op.params?.instanceId
          ? replaceInstance(this.#configureSteps(), op, signal)
          : { ...(await this.stop(op)), ...(await this.start(op, signal)) },
      uninstall: op => this.uninstall(op),
      update: (op, signal) => this.update(op, signal),
      configure: (op, signal) =>
        applyConfiguration(this.#configureSteps(), op, signal),
    };
    return Object.fromEntries(
      Object.entries(handlers).map(([type, handler]) => [
        type,
        async (op: Operation, signal: AbortSignal) =>
          (await this.#completedEarlier(op)) ?? handler!(op, signal),
      ]),
    );
  }

  /**
   * A later attempt of an operation whose earlier attempt finished the work
   * but was cut off before its outcome was written (its replica went away):
   * the plugin is in the action's end state by this operation's own
   * transition. Running the action again would try to leave that state
   * (installed -> installing) and fail; the work is done, so say so.
   */
  async #completedEarlier(
    op: Operation,
  ): Promise<Record<string, unknown> | undefined> {
    if (op.attempts <= 1) return undefined;
    const endState = ACTION_END_STATES[op.type];
    if (!endState) return undefined;
    const last = await this.#o.plugins.lastTransition(op.pluginId);
    if (!last || last.operationId !== op.id || last.toState !== endState) {
      return undefined;
    }
    this.#o.logger.info(
      `operation ${op.id} (${op.type} of ${op.pluginId}) was completed by an earlier attempt; nothing to redo`,
    );
    return { completedByEarlierAttempt: true, state: endState };
  }

  #ctx(op: Operation, reason?: string) {
    return { action: op.type, operationId: op.id, actor: op.actor, reason };
  }

  async install(op: Operation, signal: AbortSignal) {
    const params = op.params as unknown as InstallParams;
    const { version } = params;
    const artifact = params.artifact ?? this.#o.configuredArtifact(op.pluginId);
    if (!artifact) {
      throw new InputError(
        `No artifact for plugin '${op.pluginId}': give one in the request or configure pluginLifecycle.plugins.${op.pluginId}.artifact`,
      );
    }
    let plugin = await this.#o.plugins.getOrThrow(op.pluginId);
    const runtime = this.#o.runtimes.get(plugin.runtime);
    plugin = await this.#begin(plugin, 'installing', op, `install ${version}`);
    try {
      const { manifest } = await this.#installVersion(op, runtime, {
        version,
        artifact,
        manifest: params.manifest,
        signal,
      });
      plugin = await this.#o.stateMachine.transition(plugin, 'installed', {
        ...this.#ctx(op, `installed ${version}`),
        patch: {
          currentVersion: version,
          lastError: undefined,
          desiredState: 'installed',
          configuration: params.configuration ?? plugin.configuration,
          probes: params.healthProbes ?? manifest.probes ?? [],
          environment: params.environment ?? plugin.environment,
          replicas: params.replicas ?? plugin.replicas,
        },
      });
    } catch (error) {
      const message = `install of ${version} failed: ${errorMessage(error)}`;
      await runtime
        .uninstall({ pluginId: op.pluginId, version })
        .catch(e => this.#o.logger.warn(`cleanup after failed install: ${e}`));
      await this.#o.plugins.deleteVersion(op.pluginId, version);
      throw await this.#fail(op, 'inactive', message, error);
    }
    if (params.start) {
      return { version, ...(await this.start(op, signal)) };
    }
    return { version };
  }

  async start(op: Operation, signal: AbortSignal) {
    let plugin = await this.#o.plugins.getOrThrow(op.pluginId);
    const version = plugin.currentVersion;
    const stored =
      version && (await this.#o.plugins.getVersion(op.pluginId, version));
    if (!stored) {
      throw new InputError(
        `Plugin '${op.pluginId}' has no installed version to start`,
      );
    }
    const runtime = this.#o.runtimes.get(plugin.runtime);
    if (!this.#resuming(plugin, 'starting', op)) {
      await this.#checkStartPreconditions(plugin, stored.manifest, op);
    }
    plugin = await this.#begin(plugin, 'starting', op);
    // Instances left by an interrupted attempt (another replica that went
    // away) are not served by anyone: stop what can be stopped, forget the rest.
    await this.#stopAll(plugin);
    const started: string[] = [];
    try {
      const config = await this.#o.configuration.resolve(plugin);
      const instances = [];
      for (let i = 0; i < plugin.replicas; i++) {
        signal.throwIfAborted();
        const instance = await this.#startInstance(
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
        await this.#awaitReady(plugin.probes, instance, runtime, signal);
      }
      await this.#o.stateMachine.transition(plugin, 'running', {
        ...this.#ctx(
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
          this.#stopInstance(op.pluginId, instanceId, runtime.type, message),
        ),
      );
      throw await this.#fail(op, 'error', message, error);
    }
  }

  async stop(op: Operation) {
    let plugin = await this.#o.plugins.getOrThrow(op.pluginId);
    if (!this.#resuming(plugin, 'stopping', op)) {
      await this.#checkNoRunningDependents(plugin, op);
    }
    plugin = await this.#begin(plugin, 'stopping', op);
    try {
      const stopped = await this.#stopAll(plugin);
      await this.#o.stateMachine.transition(plugin, 'installed', {
        ...this.#ctx(op, `${stopped} instance(s) stopped`),
        patch: { desiredState: 'installed', lastError: undefined },
      });
      return { stopped };
    } catch (error) {
      throw await this.#fail(
        op,
        'error',
        `stop failed: ${errorMessage(error)}`,
        error,
      );
    }
  }

  async uninstall(op: Operation) {
    let plugin = await this.#o.plugins.getOrThrow(op.pluginId);
    if (!this.#resuming(plugin, 'uninstalling', op)) {
      await this.#checkNoRunningDependents(plugin, op);
    }
    plugin = await this.#begin(plugin, 'uninstalling', op);
    try {
      await this.#stopAll(plugin);
      const runtime = this.#o.runtimes.get(plugin.runtime);
      const versions = await this.#o.plugins.listVersions(op.pluginId);
      for (const v of versions) {
        await runtime.uninstall({
          pluginId: op.pluginId,
          version: v.version,
          location: v.location,
        });
        await this.#o.plugins.deleteVersion(op.pluginId, v.version);
      }
      await this.#o.stateMachine.transition(plugin, 'inactive', {
        ...this.#ctx(
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
      throw await this.#fail(
        op,
        'error',
        `uninstall failed: ${errorMessage(error)}`,
        error,
      );
    }
  }

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
  async update(op: Operation, signal: AbortSignal) {
    const params = op.params as unknown as UpdateParams;
    const { version } = params;
    let plugin = await this.#o.plugins.getOrThrow(op.pluginId);
    const runtime = this.#o.runtimes.get(plugin.runtime);
    const fromVersion = plugin.currentVersion;
    const previous =
      fromVersion &&
      (await this.#o.plugins.getVersion(op.pluginId, fromVersion));
    if (!previous) {
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
      this.#o.configuredArtifact(op.pluginId);
    const resuming = this.#resuming(plugin, 'updating', op);
    const active = await this.#o.instances.listForPlugin(plugin.id, {
      activeOnly: true,
    });
    // A resumed attempt (its earlier one was cut off with its replica) does
    // not trust the records: it re-reads what actually serves. Instances of
    // the new version that an earlier attempt got ready count as replacements
    // already; those it never saw ready are not capacity and are stopped;
    // instances whose process is gone are left to the reconciler.
    const view = resuming
      ? await this.#resumeView(plugin, op, active, version)
      : {
          wasRunning: plugin.state === 'running',
          old: active.filter(i => i.version !== version),
          carried: [] as PluginInstance[],
          unverified: [] as PluginInstance[],
        };
    const { wasRunning, carried, unverified } = view;
    const old: Array<{ id: string; runtime: string }> = view.old;
    if (!resuming && wasRunning) {
      await this.#checkStartPreconditions(
        plugin,
        params.manifest ?? previous.manifest,
        op,
        params.restoreConfigRevision === undefined
          ? undefined
          : await this.#o.configuration.resolveAtRevision(
              plugin,
              params.restoreConfigRevision,
            ),
      );
    }
    // Not running: what the previous version would have started with.
    const fromConfigRevision = wasRunning
      ? plugin.configRevision ??
        (await this.#o.configuration.resolve(plugin)).revision
      : (await this.#o.configuration.resolve(plugin)).revision;
    plugin = await this.#begin(
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
        await this.#stopInstance(
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
          const instance = await this.#startInstance(
            plugin,
            previous,
            runtime,
            signal,
            () => {},
          );
          old.push({ id: instance.instanceId, runtime: runtime.type });
          await this.#awaitReady(plugin.probes, instance, runtime, signal);
        }
        if (missing > 0) {
          this.#o.logger.info(
            `update ${op.id} of ${plugin.id} resumed: started ${missing} instance(s) of ${fromVersion} again before replacing any`,
          );
        }
      }
      const { manifest, stored } = await this.#installVersion(op, runtime, {
        version,
        artifact,
        manifest: params.manifest,
        signal,
      });
      const probes = params.healthProbes ?? manifest.probes ?? plugin.probes;
      if (params.restoreConfigRevision !== undefined) {
        restored = await this.#o.configuration.restoreAtRevision(
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
      const config = await this.#o.configuration.resolve(plugin);
      if (wasRunning) {
        const oldInstances = [...old];
        for (let i = carried.length; i < plugin.replicas; i++) {
          signal.throwIfAborted();
          const instance = await this.#startInstance(
            plugin,
            stored,
            runtime,
            signal,
            id => started.push(id),
            config,
          );
          await this.#awaitReady(probes, instance, runtime, signal);
          const retiring = oldInstances.shift();
          if (retiring) {
            await this.#stopInstance(
              plugin.id,
              retiring.id,
              retiring.runtime,
              `replaced by ${version}`,
            );
          }
        }
        for (const extra of oldInstances) {
          await this.#stopInstance(
            plugin.id,
            extra.id,
            extra.runtime,
            `replaced by ${version}`,
          );
        }
      }
      await this.#o.stateMachine.transition(
        plugin,
        wasRunning ? 'running' : 'installed',
        {
          ...this.#ctx(op, `updated ${fromVersion} -> ${version}`),
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
        started.map(id =>
          this.#stopInstance(plugin.id, id, runtime.type, message),
        ),
      );
      // The configuration goes back with the code: what is stored is what
      // the old instances run, and those started again below get it.
      const reverted = await this.#revertRestored(plugin, restored, message);
      const fresh = await this.#o.plugins.getOrThrow(plugin.id);
      // Back to the instance count the plugin runs with, counting what
      // really serves now: an instance stopped by an earlier attempt (or
      // lost with its replica) is replaced as much as one stopped by this one.
      const serving = wasRunning
        ? (
            await this.#serving(
              await this.#o.instances.listForPlugin(plugin.id, {
                activeOnly: true,
              }),
            )
          ).filter(i => i.version === fromVersion && i.status === 'running')
        : [];
      const restore = wasRunning
        ? Math.max(0, fresh.replicas - serving.length)
        : 0;
      for (let i = 0; i < restore; i++) {
        const instance = await this.#startInstance(
          fresh,
          previous,
          runtime,
          new AbortController().signal,
          () => {},
        );
        await this.#awaitReady(
          fresh.probes,
          instance,
          runtime,
          new AbortController().signal,
        ).catch(e =>
          this.#o.logger.error(
            `restoring ${fromVersion} after a failed update: ${e}`,
          ),
        );
      }
      await runtime
        .uninstall({ pluginId: op.pluginId, version })
        .catch(e => this.#o.logger.warn(`cleanup after failed update: ${e}`));
      await this.#o.plugins.deleteVersion(op.pluginId, version);
      await this.#o.stateMachine.transitionLatest(
        op.pluginId,
        wasRunning ? 'running' : 'installed',
        {
          ...this.#ctx(
            op,
            `${message}; ${fromVersion}${
              reverted ? ' and its configuration' : ''
            } restored`,
          ),
          patch: {
            lastError: message,
            ...(reverted && wasRunning
              ? {
                  configRevision: (
                    await this.#o.configuration.resolve(fresh)
                  ).revision,
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
  async #resumeView(
    plugin: PluginRecord,
    op: Operation,
    active: PluginInstance[],
    version: string,
  ) {
    const entered = await this.#o.plugins.lastTransition(plugin.id);
    const wasRunning =
      entered?.operationId === op.id && entered.toState === 'updating'
        ? entered.fromState === 'running'
        : active.length > 0;
    const serving = await this.#serving(active);
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
   * The instances whose process is there to serve: this replica's that its
   * runtime still runs, and other replicas' while those replicas are alive
   * (as the reconciler judges them).
   */
  async #serving(instances: PluginInstance[]): Promise<PluginInstance[]> {
    const alive = await Promise.all(
      instances.map(async i => {
        if (i.owner !== this.#o.replicaId) return !isOwnerGone(i.owner);
        if (!this.#o.runtimes.has(i.runtime)) return false;
        return this.#o.runtimes.get(i.runtime).isAlive(i.id);
      }),
    );
    return instances.filter((_, n) => alive[n]);
  }

  /**
   * Undoes the configuration a failed rollback restored, as new versions
   * with each layer's content from before. Whether anything was undone.
   */
  async #revertRestored(
    plugin: PluginRecord,
    restored: RestoredLayer[],
    message: string,
  ): Promise<boolean> {
    for (const layer of [...restored].reverse()) {
      await this.#o.configuration
        .revertLayer(
          plugin,
          layer.layer,
          layer.previousVersion,
          `automatic rollback: ${message}`,
          { author: 'plugin-lifecycle:update' },
        )
        .catch(e =>
          this.#o.logger.error(
            `reverting the restored configuration of ${plugin.id} (${layer.layer}): ${e}`,
          ),
        );
    }
    return restored.length > 0;
  }

  /** Installs a version with the runtime and records it with its manifest. */
  async #installVersion(
    op: Operation,
    runtime: PluginRuntime,
    request: {
      version: string;
      artifact?: Artifact;
      manifest?: PluginManifest;
      signal: AbortSignal;
    },
  ) {
    const { version, artifact, signal } = request;
    if (!artifact) {
      throw new InputError(
        `No artifact for plugin '${op.pluginId}': give one in the request or configure pluginLifecycle.plugins.${op.pluginId}.artifact`,
      );
    }
    const installed = await runtime.install({
      pluginId: op.pluginId,
      version,
      artifact,
      signal,
    });
    signal.throwIfAborted();
    const parsed = manifestSchema.safeParse({
      ...installed.manifest,
      ...request.manifest,
    });
    if (!parsed.success) {
      throw new InputError(
        `The manifest of ${
          op.pluginId
        }@${version} is invalid: ${parsed.error.issues
          .map(i => `${i.path.join('.') || '(root)'}: ${i.message}`)
          .join('; ')}`,
      );
    }
    // A package's author is not the operator: its manifest cannot bring an
    // exec probe the operator did not allow. Refused before the version is
    // recorded; the install fails and is cleaned up like any failed install.
    (this.#o.execProbes ?? ExecProbePolicy.create()).assertAllowed(
      parsed.data.probes,
      {
        kind: 'plugin',
        pluginId: op.pluginId,
        origin: `the manifest of ${op.pluginId}@${version}`,
      },
    );
    const stored = {
      pluginId: op.pluginId,
      version,
      artifact,
      manifest: parsed.data,
      location: installed.location,
      installedAt: new Date().toISOString(),
    };
    await this.#o.plugins.putVersion(stored);
    return { manifest: parsed.data, stored };
  }

  /** What the configure action (in its own module) needs from this one. */
  #configureSteps(): ConfigureSteps {
    return {
      logger: this.#o.logger,
      plugins: this.#o.plugins,
      instances: this.#o.instances,
      stateMachine: this.#o.stateMachine,
      runtimes: this.#o.runtimes,
      configuration: this.#o.configuration,
      begin: (plugin, via, op, reason) => this.#begin(plugin, via, op, reason),
      resuming: (plugin, via, op) => this.#resuming(plugin, via, op),
      startInstance: (plugin, stored, runtime, signal, onSpawn, config) =>
        this.#startInstance(plugin, stored, runtime, signal, onSpawn, config),
      awaitReady: (probes, instance, runtime, signal) =>
        this.#awaitReady(probes, instance, runtime, signal),
      stopInstance: (pluginId, instanceId, runtimeType, reason) =>
        this.#stopInstance(pluginId, instanceId, runtimeType, reason),
      envFor: (plugin, version, instanceId, config) =>
        instanceEnv(plugin, version, instanceId, config),
      ctx: (op, reason) => this.#ctx(op, reason),
    };
  }

  /**
   * Starts one instance of a stored version and records it as starting,
   * with the plugin's current configuration unless another is given.
   */
  async #startInstance(
    plugin: PluginRecord,
    stored: StoredVersion,
    runtime: PluginRuntime,
    signal: AbortSignal,
    onSpawn: (instanceId: string) => void,
    config?: ResolvedConfiguration,
  ): Promise<RuntimeInstance> {
    const instanceId = `${plugin.id}-${randomUUID().slice(0, 8)}`;
    const resolved = config ?? (await this.#o.configuration.resolve(plugin));
    onSpawn(instanceId);
    const instance = await runtime.startInstance({
      pluginId: plugin.id,
      version: stored.version,
      instanceId,
      artifact: stored.artifact,
      location: stored.location,
      env: instanceEnv(plugin, stored.version, instanceId, resolved),
      signal,
    });
    await this.#o.instances.insert({
      id: instanceId,
      pluginId: plugin.id,
      version: stored.version,
      track: 'stable',
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

  /** Waits for an instance's startup and readiness probes, then marks it running. */
  async #awaitReady(
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

  /** Whether the operation already entered this state (an attempt cut off). */
  #resuming(plugin: PluginRecord, via: LifecycleState, op: Operation) {
    return plugin.state === via && plugin.operationId === op.id;
  }

  /**
   * Enters the action's transitional state, or carries on in it when an
   * earlier attempt of the same operation entered it and was cut off (its
   * replica went away); every step after this one is safe to repeat.
   */
  async #begin(
    plugin: PluginRecord,
    via: LifecycleState,
    op: Operation,
    reason?: string,
  ) {
    if (this.#resuming(plugin, via, op)) {
      this.#o.logger.info(
        `operation ${op.id} resumes ${op.pluginId} in ${via} (attempt ${op.attempts})`,
      );
      return plugin;
    }
    return this.#o.stateMachine.transition(plugin, via, this.#ctx(op, reason));
  }

  /** `config`: what instances would start with, when not the current one. */
  async #checkStartPreconditions(
    plugin: PluginRecord,
    manifest: PluginManifest,
    op: Operation,
    config?: ResolvedConfiguration,
  ) {
    const all = await this.#o.plugins.list();
    const byId = new Map(all.map(p => [p.id, p]));
    const problems = [
      // Another tenant's plugin is not there for this one.
      ...checkDependenciesRunning(manifest.dependencies ?? [], id => {
        const dependency = byId.get(id);
        return dependency?.tenant === plugin.tenant ? dependency : undefined;
      }),
      ...missingRequiredConfiguration(
        manifest.configSchema,
        (config ?? (await this.#o.configuration.resolve(plugin))).entries,
      ).map(key => `required configuration '${key}' is missing`),
    ];
    if (problems.length > 0) {
      throw new PreconditionError(
        `Cannot start '${op.pluginId}': ${problems.join('; ')}`,
      );
    }
    const each = (
      this.#o.resourcesOf ??
      ((_id: string, requested?: ResourceAmounts) =>
        instanceResources(requested, undefined))
    )(plugin.id, manifest.resources);
    const quota = await this.#o.checkQuota?.(
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

  async #checkNoRunningDependents(plugin: PluginRecord, op: Operation) {
    if (op.params.cascade) return; // the batch stops the dependents first
    const dependents = findRunningDependents(
      plugin.id,
      await this.#o.dependencyView(),
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

  /**
   * Records a failed action after its compensation ran: the plugin moves to
   * the state the compensation left it in, with the reason as its last error.
   * Returns the error for the operation to fail with.
   */
  async #fail(
    op: Operation,
    to: 'error' | 'inactive',
    message: string,
    cause: unknown,
  ) {
    await this.#o.stateMachine.transitionLatest(op.pluginId, to, {
      ...this.#ctx(op, message),
      patch: { lastError: message },
    });
    return failure(message, cause);
  }

  async #stopAll(plugin: PluginRecord): Promise<number> {
    const active = await this.#o.instances.listForPlugin(plugin.id, {
      activeOnly: true,
    });
    await Promise.all(
      active.map(i => this.#stopInstance(plugin.id, i.id, i.runtime)),
    );
    return active.length;
  }

  async #stopInstance(
    pluginId: string,
    instanceId: string,
    runtimeType: string,
    reason?: string,
  ) {
    const runtime = this.#o.runtimes.get(runtimeType);
    await this.#o.instances.setStatus(instanceId, 'stopping');
    const result = await runtime.stopInstance({
      pluginId,
      instanceId,
      gracePeriodMs: this.#o.stopGracePeriodMs,
    });
    await this.#o.instances.setStatus(instanceId, 'stopped', {
      exitCode: result.exitCode,
      lastError: result.forced
        ? `killed after the ${this.#o.stopGracePeriodMs} ms grace period`
        : reason,
    });
  }
}

/**
 * The error an action fails with after its compensation: the message says
 * what happened; whether a retry may help is the cause's (an unknown version
 * stays unknown, a new version failing its probes fails again, a busy
 * database may answer next time), and the classification travels with it.
 */
function failure(message: string, cause: unknown): Error {
  const { retryable, kind, reason } = classifyFailure(cause);
  return Object.assign(new Error(message, { cause }), {
    retryable,
    retryKind: kind,
    retryReason: reason,
  });
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : stringifyError(error);
}
