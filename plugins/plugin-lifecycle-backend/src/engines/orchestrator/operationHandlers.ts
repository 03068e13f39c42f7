import { ConflictError, InputError } from '@backstage/errors';
import {
  OperationResult,
  OperationType,
  TypedOperation,
  parseOperationParams,
} from '@internal/plugin-lifecycle-common';
import type { QueuedOperation } from '../../database/OperationStore';

/**
 * What an operation type does: it gets the operation with the parameters of
 * its type and an abort signal, and resolves with what the operation
 * records as its result (by default the result of its type).
 */
export type OperationHandler<
  T extends OperationType,
  R extends Record<string, unknown> = OperationResult<T>,
> = (operation: TypedOperation<T>, signal: AbortSignal) => Promise<R>;

/**
 * Handlers whose results are those of their types: the lifecycle actions'.
 */
export type TypedOperationHandlers = {
  [T in OperationType]?: OperationHandler<T>;
};

/**
 * The handler of each operation type the orchestrator runs: the lifecycle
 * actions' ({@link TypedOperationHandlers}), or stand-ins (tests and
 * benchmarks) whose result is recorded as it is.
 */
export type OperationHandlers = {
  [T in OperationType]?: OperationHandler<T, Record<string, unknown>>;
};

/**
 * Hands an operation to the handler of its type, with its parameters read
 * (once, as claimed from the database) by the schema of that type. Parameters
 * that do not fit fail the operation, without a retry: they would not fit
 * the next time either.
 */
export async function dispatch(
  handlers: OperationHandlers,
  op: QueuedOperation,
  signal: AbortSignal,
): Promise<Record<string, unknown>> {
  // An unknown type says so before its parameters are read.
  if (!handlers[op.type]) throw notSupported(op.type);
  const parsed = parseOperationParams(op.type, op.params);
  if (!parsed.success) {
    throw new InputError(
      `Operation ${op.id} (${op.type} of ${op.pluginId}) has parameters this backend cannot read: ${parsed.message}`,
    );
  }
  return run(handlers, { ...op, params: parsed.params }, signal);
}

/** Calls the handler of `T` with an operation of `T` (one type, checked). */
function run<T extends OperationType>(
  handlers: OperationHandlers,
  op: TypedOperation<T>,
  signal: AbortSignal,
): Promise<Record<string, unknown>> {
  const handler: OperationHandler<T, Record<string, unknown>> | undefined =
    handlers[op.type];
  if (!handler) throw notSupported(op.type);
  return handler(op, signal);
}

function notSupported(type: string) {
  return new ConflictError(
    `Operation type '${type}' is not supported by this backend`,
  );
}
