import { PluginRecord, PluginStore } from '../../database/PluginStore';
import { ConfigChanged } from '../../engines/configuration/ConfigurationManager';
import { OperationQueue } from './operationQueue';

/** Options of {@link AutomaticCommands.create}. */
export interface AutomaticCommandsOptions {
  plugins: PluginStore;
  queue: OperationQueue;
  /** pluginLifecycle.defaultEnvironment: the environment of a plugin that names none. */
  defaultEnvironment: string;
}

/**
 * The operations the system queues on its own: the configure after a
 * configuration change, the restart policy's replacement of a crashed
 * instance, and auto-recovery's start. Engines reach them through the
 * callbacks the wiring gives them.
 */
export class AutomaticCommands {
  readonly #o: AutomaticCommandsOptions;

  static create(options: AutomaticCommandsOptions): AutomaticCommands {
    return new AutomaticCommands(options);
  }

  private constructor(options: AutomaticCommandsOptions) {
    this.#o = options;
  }

  /**
   * A configuration change of a running plugin's environment (or of the
   * base layer) reaches its instances through a `configure` operation.
   *
   * @returns the id of the operation queued, if any.
   */
  async onConfigurationChanged(
    change: ConfigChanged,
  ): Promise<string | undefined> {
    const { queue } = this.#o;
    const plugin = await this.#o.plugins.get(change.plugin.id);
    if (!plugin) return undefined;
    const env = plugin.environment ?? this.#o.defaultEnvironment;
    if (change.layer !== 'base' && change.layer !== env) return undefined;
    // Running, or on its way there: a change made meanwhile must not be
    // lost; the configure operation itself skips a plugin that is not running.
    const live = ['running', 'configuring', 'starting', 'updating'];
    if (!live.includes(plugin.state)) return undefined;
    const queued = await queue.enqueueOne(
      queue.newOperation({
        pluginId: plugin.id,
        tenant: plugin.tenant,
        type: 'configure',
        actor: change.actor,
        params: {
          layer: change.layer,
          version: change.version.version,
          revision: change.version.revision,
        },
      }),
    );
    return queued.operationId;
  }

  /** The restart policy replaces a crashed instance: a `restart` of that instance. */
  replaceCrashedInstance(
    plugin: PluginRecord,
    instanceId: string,
    reason: string,
  ) {
    const { queue } = this.#o;
    return queue.enqueue([
      queue.newOperation({
        pluginId: plugin.id,
        tenant: plugin.tenant,
        type: 'restart',
        actor: 'plugin-lifecycle:restart-policy',
        params: { instanceId, reason },
      }),
    ]);
  }

  /** Auto-recovery starts a plugin that should run and has no instance left. */
  recoverPlugin(pluginId: string, tenant: string) {
    const { queue } = this.#o;
    return queue.enqueue([
      queue.newOperation({
        pluginId,
        tenant,
        type: 'start',
        actor: 'plugin-lifecycle:auto-recovery',
      }),
    ]);
  }
}
