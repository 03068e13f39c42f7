import { Context, context } from '@opentelemetry/api';
import { isLiveTrace } from '../tracing/tracing';

/** Operations whose origin is kept at most; the oldest go first. */
const DEFAULT_LIMIT = 10_000;

/**
 * The trace context each operation was enqueued in, kept in memory on the
 * replica that enqueued it until the operation ends: the parent of its
 * attempts' spans, so that a request's trace shows the work it queued.
 * Nothing is kept without a live span to continue (no SDK registered, a
 * caller outside any trace, or a timer that kept the context of an
 * operation or request that has ended: a remediation's restart is not
 * part of the start that set up its probes). An operation another replica runs, or one
 * that outlived a restart, starts a trace of its own (its operation id is
 * on the span).
 */
export class TraceOrigins {
  readonly #origins = new Map<string, Context>();
  readonly #limit: number;

  constructor(limit: number = DEFAULT_LIMIT) {
    this.#limit = limit;
  }

  /** Remembers the active context as the origin of these operations. */
  remember(operationIds: string[], origin: Context = context.active()) {
    if (!isLiveTrace(origin)) return;
    for (const id of operationIds) {
      this.#origins.delete(id);
      this.#origins.set(id, origin);
    }
    // Operations that never end here (taken over by another replica).
    for (const id of this.#origins.keys()) {
      if (this.#origins.size <= this.#limit) break;
      this.#origins.delete(id);
    }
  }

  get(operationId: string): Context | undefined {
    return this.#origins.get(operationId);
  }

  forget(operationId: string) {
    this.#origins.delete(operationId);
  }

  get size() {
    return this.#origins.size;
  }
}
