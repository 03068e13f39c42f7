import { randomUUID } from 'node:crypto';
import { LoggerService } from '@backstage/backend-plugin-api';
import { InputError, stringifyError } from '@backstage/errors';
import {
  Artifact,
  ConfigurationEntry,
  LifecycleAction,
  Operation,
  PluginManifest,
  ProbeDefinition,
  manifestSchema,
} from '@internal/plugin-lifecycle-common';
import { InstanceStore } from '../../database/InstanceStore';
import { PluginRecord, PluginStore } from '../../database/PluginStore';
import { buildInstanceEnv } from '../../domain/instanceEnv';
import { RuntimeRegistry } from '../runtime/RuntimeRegistry';
import { LifecycleStateMachine } from './LifecycleStateMachine';
import { waitUntilReady } from './readiness';

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
  readyTimeoutMs: number;
  stopGracePeriodMs: number;
}

export type ActionHandler = (
  operation: Operation,
  signal: AbortSignal,
) => Promise<Record<string, unknown>>;

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
    return {
      install: (op, signal) => this.install(op, signal),
      start: (op, signal) => this.start(op, signal),
      stop: op => this.stop(op),
      restart: async (op, signal) => ({
        ...(await this.stop(op)),
        ...(await this.start(op, signal)),
      }),
      uninstall: op => this.uninstall(op),
    };
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
    plugin = await this.#o.stateMachine.transition(
      plugin,
      'installing',
      this.#ctx(op, `install ${version}`),
    );
    try {
      const installed = await runtime.install({
        pluginId: op.pluginId,
        version,
        artifact,
        signal,
      });
      signal.throwIfAborted();
      const parsed = manifestSchema.safeParse({
        ...installed.manifest,
        ...params.manifest,
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
      const manifest = parsed.data;
      await this.#o.plugins.putVersion({
        pluginId: op.pluginId,
        version,
        artifact,
        manifest,
        location: installed.location,
        installedAt: new Date().toISOString(),
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
      throw await this.#fail(op, 'inactive', message);
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
    plugin = await this.#o.stateMachine.transition(
      plugin,
      'starting',
      this.#ctx(op),
    );
    const started: string[] = [];
    try {
      const instances = [];
      for (let i = 0; i < plugin.replicas; i++) {
        signal.throwIfAborted();
        const instanceId = `${op.pluginId}-${randomUUID().slice(0, 8)}`;
        started.push(instanceId);
        const instance = await runtime.startInstance({
          pluginId: op.pluginId,
          version: stored.version,
          instanceId,
          artifact: stored.artifact,
          location: stored.location,
          env: buildInstanceEnv({
            pluginId: op.pluginId,
            version: stored.version,
            instanceId,
            environment: plugin.environment,
            configuration: plugin.configuration,
          }),
          signal,
        });
        await this.#o.instances.insert({
          id: instanceId,
          pluginId: op.pluginId,
          version: stored.version,
          track: 'stable',
          runtime: runtime.type,
          host: instance.host,
          port: instance.port,
          protocol: instance.protocol,
          pid: instance.pid,
          status: 'starting',
          owner: this.#o.replicaId,
        });
        instances.push(instance);
      }
      for (const instance of instances) {
        await waitUntilReady({
          instance,
          probes: plugin.probes,
          timeoutMs: this.#o.readyTimeoutMs,
          isAlive: () => runtime.isAlive(instance.instanceId),
          signal,
        });
        await this.#o.instances.setStatus(instance.instanceId, 'running');
      }
      await this.#o.stateMachine.transition(plugin, 'running', {
        ...this.#ctx(
          op,
          `${instances.length} instance(s) of ${stored.version} ready`,
        ),
        patch: { desiredState: 'running', lastError: undefined },
      });
      return {
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
      throw await this.#fail(op, 'error', message);
    }
  }

  async stop(op: Operation) {
    let plugin = await this.#o.plugins.getOrThrow(op.pluginId);
    plugin = await this.#o.stateMachine.transition(
      plugin,
      'stopping',
      this.#ctx(op),
    );
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
      );
    }
  }

  async uninstall(op: Operation) {
    let plugin = await this.#o.plugins.getOrThrow(op.pluginId);
    plugin = await this.#o.stateMachine.transition(
      plugin,
      'uninstalling',
      this.#ctx(op),
    );
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
      );
    }
  }

  /**
   * Records a failed action after its compensation ran: the plugin moves to
   * the state the compensation left it in, with the reason as its last error.
   * Returns the error for the operation to fail with.
   */
  async #fail(op: Operation, to: 'error' | 'inactive', message: string) {
    await this.#o.stateMachine.transitionLatest(op.pluginId, to, {
      ...this.#ctx(op, message),
      patch: { lastError: message },
    });
    return new Error(message);
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

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : stringifyError(error);
}
