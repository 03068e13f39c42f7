import {
  Context,
  context,
  isSpanContextValid,
  trace,
} from '@opentelemetry/api';

/** Operations whose origin is kept at most; the oldest go first. */
const DEFAULT_LIMIT = 10_000;

/**
 * The trace context each operation was enqueued in, kept in memory on the
 * replica that enqueued it until the operation ends: the parent of its
 * attempts' spans, so that a request's trace shows the work it queued.
 * Nothing is kept without a span to continue (no SDK registered, or a
 * caller outside any trace). An operation another replica runs, or one
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
    const span = trace.getSpanContext(origin);
    if (!span || !isSpanContextValid(span)) return;
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
