import { NotFoundError } from '@backstage/errors';
import { Operation } from '@internal/plugin-lifecycle-common';
import { OperationStore, QueuedOperation } from '../../database/OperationStore';
import { Orchestrator } from '../../engines/orchestrator/Orchestrator';
import {
  MAX_OPERATION_POLL_MS,
  pauseForOperation,
} from '../../engines/orchestrator/operationWait';
import { SystemEvents } from '../../events/SystemEvents';
import { ALL_TENANTS, inTenantScope, TenantScope } from '../../domain/tenancy';
import { PluginLookup } from './pluginLookup';

/** Options of {@link OperationQueries.create}. */
export interface OperationQueriesOptions {
  operations: OperationStore;
  orchestrator: Pick<Orchestrator, 'cancel'>;
  events: SystemEvents;
  lookup: PluginLookup;
}

/** Reads operations within the caller's tenants, waits for their end, and cancels them. */
export class OperationQueries {
  readonly #o: OperationQueriesOptions;

  static create(options: OperationQueriesOptions): OperationQueries {
    return new OperationQueries(options);
  }

  private constructor(options: OperationQueriesOptions) {
    this.#o = options;
  }

  /**
   * The plugin's operations, newest first (queued and running ones
   * included); 50 unless `page.limit`, before the sequence number
   * `page.beforeSeq`.
   */
  async listOperations(
    pluginId: string,
    scope: TenantScope = ALL_TENANTS,
    page: { limit?: number; beforeSeq?: number } = {},
  ): Promise<QueuedOperation[]> {
    const plugin = await this.#o.lookup.get(pluginId, scope);
    return this.#o.operations.listForPlugin(plugin.id, page);
  }

  /** The operation, when its tenant is in the scope (404 otherwise). */
  async getOperation(
    operationId: string,
    scope: TenantScope = ALL_TENANTS,
  ): Promise<Operation> {
    const operation = await this.#o.operations.get(operationId);
    if (!inTenantScope(scope, operation.tenant)) {
      throw new NotFoundError(`No operation with id '${operationId}'`);
    }
    return operation;
  }

  /**
   * Resolves when the operation has finished (or the wait times out, or the
   * signal aborts it: then with the operation as it is).
   */
  async waitForOperation(
    operationId: string,
    options: {
      timeoutMs?: number;
      scope?: TenantScope;
      /**
       * The first pause before the operation is read again (25 ms unless
       * set); each pause doubles, up to a second, and this replica's own
       * end of the operation cuts it short.
       */
      intervalMs?: number;
      signal?: AbortSignal;
    } = {},
  ): Promise<Operation> {
    const deadline = Date.now() + (options.timeoutMs ?? 60_000);
    let delayMs = options.intervalMs ?? 25;
    for (;;) {
      const operation = await this.getOperation(operationId, options.scope);
      if (
        !['queued', 'running'].includes(operation.status) ||
        Date.now() >= deadline ||
        options.signal?.aborted
      ) {
        return operation;
      }
      await pauseForOperation({
        events: this.#o.events,
        operationId,
        delayMs,
        deadline,
        signal: options.signal,
      });
      delayMs = Math.min(delayMs * 2, MAX_OPERATION_POLL_MS);
    }
  }

  /** Cancels a queued or running operation in the caller's tenants. */
  async cancelOperation(
    operationId: string,
    options: { userId?: string; scope?: TenantScope } = {},
  ) {
    await this.getOperation(operationId, options.scope);
    return this.#o.orchestrator.cancel(operationId, options.userId);
  }
}
