import {
  ActionRequest,
  BatchRequest,
  InstallRequest,
  Page,
  UpdateRequest,
  UpdateRollbackRequest,
} from '../api/schemas';
import { BatchAccepted, Operation, OperationAccepted } from '../api/types';
import { pluginLifecycleRoutes as routes } from '../routes';
import { RequestCore } from './requestCore';

/**
 * A command on a plugin, queued as an operation of its name: `start`,
 * `stop`, `restart`, `uninstall`, `maintenance-on`, `maintenance-off`
 * (out of rotation with automation suspended, and back) and `configure`
 * (re-apply the effective configuration).
 *
 * @public
 */
export type LifecycleCommand =
  | 'start'
  | 'stop'
  | 'restart'
  | 'uninstall'
  | 'maintenance-on'
  | 'maintenance-off'
  | 'configure';

/** The routes of {@link LifecycleCommand}s. */
const commandRoutes = {
  start: routes.startPlugin,
  stop: routes.stopPlugin,
  restart: routes.restartPlugin,
  uninstall: routes.uninstallPlugin,
  'maintenance-on': routes.enterMaintenance,
  'maintenance-off': routes.exitMaintenance,
  configure: routes.configurePlugin,
} satisfies Record<LifecycleCommand, unknown>;

/**
 * The requests that queue operations on plugins (install, update, rollback,
 * commands, batches) and follow or cancel them. Documented where callers
 * see them, on {@link PluginLifecycleClient}.
 */
export class OperationCalls {
  readonly #core: RequestCore;

  constructor(core: RequestCore) {
    this.#core = core;
  }

  installPlugin(
    pluginId: string,
    request: InstallRequest,
  ): Promise<OperationAccepted> {
    return this.#core.call(routes.installPlugin, {
      params: { pluginId },
      body: request,
    });
  }

  updatePlugin(
    pluginId: string,
    request: UpdateRequest,
  ): Promise<OperationAccepted> {
    return this.#core.call(routes.updatePlugin, {
      params: { pluginId },
      body: request,
    });
  }

  rollbackUpdate(
    pluginId: string,
    operationId: string,
    request: UpdateRollbackRequest,
  ): Promise<OperationAccepted> {
    return this.#core.call(routes.rollbackUpdate, {
      params: { pluginId, operationId },
      body: request,
    });
  }

  runCommand(
    pluginId: string,
    command: LifecycleCommand,
    options?: ActionRequest,
  ): Promise<OperationAccepted> {
    return this.#core.call(commandRoutes[command], {
      params: { pluginId },
      body: options ?? {},
    });
  }

  listOperationsPage(
    pluginId: string,
    page?: { limit?: number; cursor?: string },
  ): Promise<Page<Operation>> {
    return this.#core.call(routes.listPluginOperations, {
      params: { pluginId },
      query: page,
    });
  }

  cancelOperation(operationId: string): Promise<Operation> {
    return this.#core.call(routes.cancelOperation, {
      params: { operationId },
      body: {},
    });
  }

  submitBatch(batch: BatchRequest): Promise<BatchAccepted> {
    return this.#core.call(routes.submitBatch, { body: batch });
  }

  getOperation(
    operationId: string,
    options: { waitSeconds?: number },
  ): Promise<Operation> {
    return this.#core.call(routes.getOperation, {
      params: { operationId },
      query: { waitSeconds: options.waitSeconds },
    });
  }
}
