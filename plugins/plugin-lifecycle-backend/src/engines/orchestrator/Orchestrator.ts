import { randomUUID } from 'node:crypto';
import { LoggerService } from '@backstage/backend-plugin-api';
import { ConflictError } from '@backstage/errors';
import {
  LifecycleAction,
  Operation,
  OperationAccepted,
} from '@internal/plugin-lifecycle-common';
import { OperationStore } from '../../database/OperationStore';
import { SystemEvents } from '../../system/SystemEvents';
import { ActionHandler } from '../lifecycle/LifecycleActions';

export interface OrchestratorOptions {
  logger: LoggerService;
  operations: OperationStore;
  events: SystemEvents;
  handlers: Partial<Record<LifecycleAction, ActionHandler>>;
  maxConcurrentOperations: number;
  defaultTimeoutMs: number;
}

/**
 * Runs lifecycle operations: each is persisted before it runs, operations on
 * one plugin run one at a time, at most `maxConcurrentOperations` run at once,
 * and each has a timeout after which it is aborted (its handler compensates).
 *
 * This is the in-process form; the durable, leased, multi-replica queue builds
 * on the same operation records.
 */
export class Orchestrator {
  readonly #o: OrchestratorOptions;
  readonly #pluginTails = new Map<string, Promise<void>>();
  readonly #waiting: Array<() => void> = [];
  readonly #inFlight = new Set<Promise<void>>();
  #running = 0;
  #stopped = false;

  private constructor(options: OrchestratorOptions) {
    this.#o = options;
  }

  static create(options: OrchestratorOptions) {
    return new Orchestrator(options);
  }

  async enqueue(input: {
    pluginId: string;
    tenant: string;
    type: LifecycleAction;
    actor?: string;
    params?: Record<string, unknown>;
    timeoutMs?: number;
  }): Promise<OperationAccepted> {
    if (this.#stopped) {
      throw new ConflictError('The orchestrator is shutting down');
    }
    const operation = await this.#o.operations.create({
      id: randomUUID(),
      pluginId: input.pluginId,
      tenant: input.tenant,
      type: input.type,
      actor: input.actor,
      params: input.params ?? {},
    });
    this.#o.events.publish('orchestrator', 'operationQueued', operation);
    this.#schedule(operation, input.timeoutMs ?? this.#o.defaultTimeoutMs);
    return {
      operationId: operation.id,
      pluginId: operation.pluginId,
      type: operation.type,
      status: operation.status,
    };
  }

  /** Whether an operation on the plugin is queued or running in this backend. */
  isBusy(pluginId: string): boolean {
    return this.#pluginTails.has(pluginId);
  }

  #schedule(operation: Operation, timeoutMs: number) {
    const previous =
      this.#pluginTails.get(operation.pluginId) ?? Promise.resolve();
    const run = previous.then(() =>
      this.#withSlot(() => this.#run(operation, timeoutMs)),
    );
    this.#pluginTails.set(operation.pluginId, run);
    this.#inFlight.add(run);
    run.finally(() => {
      this.#inFlight.delete(run);
      if (this.#pluginTails.get(operation.pluginId) === run) {
        this.#pluginTails.delete(operation.pluginId);
      }
    });
  }

  async #withSlot(fn: () => Promise<void>) {
    if (this.#running >= this.#o.maxConcurrentOperations) {
      await new Promise<void>(resolve => this.#waiting.push(resolve));
    }
    this.#running++;
    try {
      await fn();
    } finally {
      this.#running--;
      this.#waiting.shift()?.();
    }
  }

  async #run(operation: Operation, timeoutMs: number): Promise<void> {
    const logger = this.#o.logger.child({
      operationId: operation.id,
      pluginId: operation.pluginId,
      operation: operation.type,
    });
    const handler = this.#o.handlers[operation.type];
    await this.#o.operations.markRunning(operation.id);
    this.#o.events.publish('orchestrator', 'operationStarted', {
      ...operation,
      status: 'running',
    });
    const controller = new AbortController();
    const timer = setTimeout(
      () =>
        controller.abort(
          new Error(`operation timed out after ${timeoutMs} ms`),
        ),
      timeoutMs,
    );
    try {
      if (!handler) {
        throw new Error(
          `Operation type '${operation.type}' is not supported by this backend`,
        );
      }
      const result = await handler(operation, controller.signal);
      await this.#o.operations.markFinished(operation.id, {
        status: 'succeeded',
        result,
      });
      logger.info(`${operation.type} of ${operation.pluginId} succeeded`);
      this.#o.events.publish('orchestrator', 'operationCompleted', {
        operationId: operation.id,
        pluginId: operation.pluginId,
        type: operation.type,
        result,
      });
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      await this.#o.operations
        .markFinished(operation.id, { status: 'failed', error: message })
        .catch(e => logger.error(`could not record the failure: ${e}`));
      logger.warn(
        `${operation.type} of ${operation.pluginId} failed: ${message}`,
      );
      this.#o.events.publish('orchestrator', 'operationFailed', {
        operationId: operation.id,
        pluginId: operation.pluginId,
        type: operation.type,
        error: message,
      });
    } finally {
      clearTimeout(timer);
    }
  }

  /** Stops taking operations and waits for those in flight. */
  async shutdown(): Promise<void> {
    this.#stopped = true;
    await Promise.allSettled([...this.#inFlight]);
  }
}
