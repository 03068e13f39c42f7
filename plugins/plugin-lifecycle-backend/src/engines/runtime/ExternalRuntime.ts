import { EventEmitter } from 'node:events';
import { InputError } from '@backstage/errors';
import {
  PluginRuntime,
  RecordedRuntimeInstance,
  RuntimeInstallRequest,
  RuntimeInstallResult,
  RuntimeInstance,
  RuntimeInstanceExit,
  RuntimeStartRequest,
  RuntimeStopResult,
} from '@internal/plugin-lifecycle-node';
import { TargetPolicy } from '../discovery/TargetPolicy';

/**
 * Instances that someone else runs (a VM, another cluster, a managed
 * service). Starting one registers its endpoint; stopping forgets it.
 * Endpoints are taken in order: instance N is endpoint N modulo their count.
 */
export class ExternalRuntime implements PluginRuntime {
  readonly type = 'external';
  readonly #instances = new Map<string, RuntimeInstance>();
  readonly #events = new EventEmitter();
  #next = new Map<string, number>();
  readonly #targets: TargetPolicy | undefined;

  /**
   * @param options.targets - where endpoints may be (`discovery.allowedTargets`):
   *   checked at install and again at each start. Default: anywhere.
   */
  static create(options: { targets?: TargetPolicy } = {}): ExternalRuntime {
    return new ExternalRuntime(options.targets);
  }

  private constructor(targets?: TargetPolicy) {
    this.#targets = targets;
  }

  async #checkEndpoints(
    pluginId: string,
    endpoints: Array<{ host: string; port: number }>,
  ) {
    if (!this.#targets) return;
    for (const [index, endpoint] of endpoints.entries()) {
      await this.#targets.assertAllowed(
        endpoint.host,
        endpoint.port,
        `Endpoint ${index} of plugin '${pluginId}' (artifact.endpoints)`,
      );
    }
  }

  async install(request: RuntimeInstallRequest): Promise<RuntimeInstallResult> {
    if (request.artifact.type !== 'external') {
      throw new InputError(
        `The external runtime needs an artifact of type 'external' with endpoints, not '${request.artifact.type}'`,
      );
    }
    await this.#checkEndpoints(request.pluginId, request.artifact.endpoints);
    return {};
  }

  async uninstall(): Promise<void> {}

  async startInstance(request: RuntimeStartRequest): Promise<RuntimeInstance> {
    if (request.artifact.type !== 'external') {
      throw new InputError('The external runtime needs an external artifact');
    }
    const endpoints = request.artifact.endpoints;
    const index = this.#next.get(request.pluginId) ?? 0;
    this.#next.set(request.pluginId, index + 1);
    const endpoint = endpoints[index % endpoints.length];
    await this.#checkEndpoints(request.pluginId, [endpoint]);
    const instance = {
      instanceId: request.instanceId,
      host: endpoint.host,
      port: endpoint.port,
      protocol: endpoint.protocol,
    };
    this.#instances.set(request.instanceId, instance);
    return instance;
  }

  async stopInstance(request: {
    pluginId: string;
    instanceId: string;
  }): Promise<RuntimeStopResult> {
    if (this.#instances.delete(request.instanceId)) {
      this.#next.set(
        request.pluginId,
        Math.max(0, (this.#next.get(request.pluginId) ?? 1) - 1),
      );
      const exit: RuntimeInstanceExit = {
        pluginId: request.pluginId,
        instanceId: request.instanceId,
        exitCode: null,
        signal: null,
        expected: true,
        output: '',
      };
      this.#events.emit('exit', exit);
    }
    return { exitCode: null, signal: null, forced: false };
  }

  /**
   * Someone else runs it, so a restarted backend takes it over as it was
   * recorded: a backend restart re-registers no external plugin.
   */
  async adoptInstance(instance: RecordedRuntimeInstance): Promise<boolean> {
    this.#instances.set(instance.instanceId, {
      instanceId: instance.instanceId,
      host: instance.host,
      port: instance.port,
      protocol: instance.protocol ?? 'http',
    });
    this.#next.set(
      instance.pluginId,
      (this.#next.get(instance.pluginId) ?? 0) + 1,
    );
    return true;
  }

  async isAlive(instanceId: string): Promise<boolean> {
    return this.#instances.has(instanceId);
  }

  onInstanceExit(listener: (exit: RuntimeInstanceExit) => void): () => void {
    this.#events.on('exit', listener);
    return () => this.#events.off('exit', listener);
  }

  async shutdown(): Promise<void> {
    // Nothing to stop: these instances are not ours.
  }
}
