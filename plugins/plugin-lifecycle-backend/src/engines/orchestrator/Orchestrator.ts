import { AuditorService, LoggerService } from '@backstage/backend-plugin-api';
import { ConflictError } from '@backstage/errors';
import { ROOT_CONTEXT, Span } from '@opentelemetry/api';
import {
  NewOperation,
  OperationStore,
  QueuedOperation,
} from '../../database/OperationStore';
import { classifyFailure, retryDelayMs } from '../../domain/orchestration';
import { SystemEvents } from '../../events/SystemEvents';
import { OperationHandlers, dispatch } from './operationHandlers';
import { isOwnerGone } from './replicas';
import { TraceOrigins } from './traceOrigins';
import { ATTRS, SPANS, inSpan, markError } from '../tracing/tracing';

/** The longest a claim waits for more workers to be free (see #kickSoon). */
const CLAIM_DELAY_MS = 10;

export interface OrchestratorOptions {
  logger: LoggerService;
  operations: OperationStore;
  events: SystemEvents;
  auditor?: AuditorService;
  /** Handlers known at construction; more come through {@link Orchestrator.registerHandlers}. */
  handlers?: OperationHandlers;
  /** This backend replica; it owns the leases it takes. */
  replicaId: string;
  maxConcurrentOperations: number;
  /** A claimed operation is this replica's until the lease expires unrenewed. */
  leaseMs: number;
  pollIntervalMs: number;
  retry: { baseMs: number; maxMs: number };
  /** Called once an operation has its final outcome (the per-plugin circuit breaker). */
  onOperationFinished?: (
    operation: QueuedOperation,
    succeeded: boolean,
  ) => Promise<void>;
  clock?: () => number;
}

/**
 * The workers of one backend replica on the durable operation queue: they
 * claim operations with leases (renewed while they run), run at most
 * `maxConcurrentOperations` at once, abort an operation at its timeout (its
 * handler compensates), retry transient failures with exponential backoff
 * and jitter, and take back operations whose replica went away.
 */
export class Orchestrator {
  readonly #o: OrchestratorOptions;
  readonly #now: () => number;
  #handlers: OperationHandlers;
  readonly #running = new Map<
    string,
    { controller: AbortController; done: Promise<void> }
  >();
  #timer?: NodeJS.Timeout;
  /** When #timer fires (Date.now() time). */
  #timerAt = Infinity;
  #leaseTimer?: NodeJS.Timeout;
  #ticking = false;
  /** Work was enqueued during a claim round: claim again right after it. */
  #again = false;
  /** An operation ended during a claim round. */
  #ended = false;
  #stopped = true;
  #lastReclaim = 0;
  /**
   * While most workers are busy, a claim waits (up to CLAIM_DELAY_MS) until
   * this many are free, so that one round trip claims for several.
   */
  readonly #claimBatch: number;
  /** The trace each operation enqueued here belongs to: its spans' parent. */
  readonly #origins = new TraceOrigins();

  private constructor(options: OrchestratorOptions) {
    this.#o = options;
    this.#now = options.clock ?? Date.now;
    this.#handlers = { ...options.handlers };
    this.#claimBatch = Math.max(
      1,
      Math.floor(options.maxConcurrentOperations / 4),
    );
  }

  static create(options: OrchestratorOptions) {
    return new Orchestrator(options);
  }

  /**
   * Adds the handlers of operation types, before `start()`. The wiring
   * registers the lifecycle actions this way: they are built after the
   * orchestrator, whose queue their configuration changes feed.
   */
  registerHandlers(handlers: OperationHandlers) {
    this.#handlers = { ...this.#handlers, ...handlers };
  }

  /** Starts claiming work. */
  start() {
    if (!this.#stopped) return;
    this.#stopped = false;
    const renewEvery = Math.max(50, Math.floor(this.#o.leaseMs / 3));
    this.#leaseTimer = setInterval(() => {
      this.#renewLeases().catch(e =>
        this.#o.logger.warn(`lease renewal failed: ${e}`),
      );
    }, renewEvery);
    this.kick();
  }

  /** Persists operations and wakes the workers. */
  async enqueue(
    operations: NewOperation[],
  ): Promise<{ operations: QueuedOperation[]; created: boolean }> {
    if (this.#stopped) {
      throw new ConflictError(
        'The orchestrator is not running (the backend is starting or stopping)',
      );
    }
    const stored = await this.#o.operations.enqueue(operations, this.#now());
    if (stored.created) {
      this.#origins.remember(stored.operations.map(op => op.id));
      for (const op of stored.operations) {
        this.#o.events.publish('orchestrator', 'operationQueued', summary(op));
      }
      this.kick();
    }
    return stored;
  }

  async cancel(operationId: string, actor?: string) {
    const now = this.#now();
    const operation = await this.#o.operations.cancel(
      operationId,
      `cancelled by ${actor ?? 'unknown'}`,
      now,
    );
    this.#origins.forget(operationId);
    await this.#o.operations.cancelDependents(
      operationId,
      `dependency ${operationId} was cancelled`,
      now,
    );
    this.#o.events.publish(
      'orchestrator',
      'operationCancelled',
      summary(operation),
    );
    return operation;
  }

  /** Runs a claim round now (coalesced with one already under way). */
  kick() {
    if (this.#stopped) return;
    if (this.#ticking) {
      this.#again = true;
      return;
    }
    this.#schedule(0);
  }

  /**
   * After an operation ends: wait a moment so that several ends share one
   * claim; longer (still briefly) while few workers are free.
   */
  #kickSoon() {
    if (this.#stopped) return;
    if (this.#ticking) {
      this.#ended = true;
      return;
    }
    const free = this.#o.maxConcurrentOperations - this.#running.size;
    this.#schedule(free >= this.#claimBatch ? 2 : CLAIM_DELAY_MS);
  }

  /** A claim round in `delayMs`, unless one is due sooner. */
  #schedule(delayMs: number) {
    const at = Date.now() + delayMs;
    if (this.#timer !== undefined && this.#timerAt <= at) return;
    clearTimeout(this.#timer);
    this.#timerAt = at;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#timerAt = Infinity;
      this.#tick();
    }, delayMs);
  }

  async #tick() {
    this.#ticking = true;
    try {
      const now = this.#now();
      // Looking for expired leases (and replicas on this host whose
      // process is gone) on every round would double the queries of a busy
      // queue; a few times per lease period is enough.
      if (now - this.#lastReclaim >= Math.min(1000, this.#o.leaseMs / 4)) {
        this.#lastReclaim = now;
        // Our own leases first: on a starved machine the renewal timer may
        // come late, and this replica must not take back (and run a second
        // time) what it is still running.
        await this.#renewLeases();
        const goneOwners = (await this.#o.operations.leaseOwners()).filter(
          isOwnerGone,
        );
        const reclaimed = await this.#o.operations.reclaimExpired(now, {
          goneOwners,
        });
        for (const id of reclaimed.requeued) {
          this.#o.logger.warn(
            `operation ${id}: its replica went away; it goes back to the queue to resume`,
          );
        }
      }
      const free = this.#o.maxConcurrentOperations - this.#running.size;
      const claimed = await this.#o.operations.claim({
        owner: this.#o.replicaId,
        limit: free,
        leaseMs: this.#o.leaseMs,
        now,
      });
      for (const op of claimed) {
        // Ours still (its lease expired and came back to us): the attempt
        // under way records the outcome; a second one would run alongside it.
        if (this.#running.has(op.id)) continue;
        this.#run(op);
      }
    } catch (error) {
      this.#o.logger.error(`claiming operations failed: ${error}`);
    } finally {
      this.#ticking = false;
      if (!this.#stopped) {
        // Workers that end claim again (#kickSoon); with every worker busy
        // there is nothing to claim for until then, and the poll is the
        // fallback (work enqueued by other replicas, retries coming due).
        const again = this.#again;
        const ended = this.#ended;
        this.#again = false;
        this.#ended = false;
        if (again) this.#schedule(0);
        else if (ended) this.#kickSoon();
        this.#schedule(this.#o.pollIntervalMs);
      }
    }
  }

  #run(op: QueuedOperation) {
    const controller = new AbortController();
    const done = this.#execute(op, controller).finally(() => {
      this.#running.delete(op.id);
      this.#kickSoon();
    });
    this.#running.set(op.id, { controller, done });
  }

  /**
   * One attempt in a span of its own, a child of the trace the operation
   * was enqueued in (when that was on this replica), else of none: the
   * context active now is whichever request woke the workers.
   */
  #execute(op: QueuedOperation, controller: AbortController) {
    return inSpan(
      SPANS.operation,
      {
        parent: this.#origins.get(op.id) ?? ROOT_CONTEXT,
        attributes: {
          [ATTRS.pluginId]: op.pluginId,
          [ATTRS.tenant]: op.tenant,
          [ATTRS.operationId]: op.id,
          [ATTRS.operationType]: op.type,
          [ATTRS.attempt]: op.attempts,
          [ATTRS.maxAttempts]: op.maxAttempts,
          ...(op.batchId ? { [ATTRS.batchId]: op.batchId } : {}),
        },
      },
      span => this.#attempt(op, controller, span),
    );
  }

  async #attempt(op: QueuedOperation, controller: AbortController, span: Span) {
    const { logger, operations, events } = this.#o;
    const log = logger.child({
      operationId: op.id,
      pluginId: op.pluginId,
      operation: op.type,
    });
    events.publish('orchestrator', 'operationStarted', summary(op));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort(
        new Error(`operation timed out after ${op.timeoutMs} ms`),
      );
    }, op.timeoutMs);
    try {
      const result = await dispatch(this.#handlers, op, controller.signal);
      // The breaker hears the outcome before anyone can see it, so a client
      // that retries the moment an operation failed finds the breaker updated.
      await this.#o.onOperationFinished?.(op, true);
      if (
        await operations.finish(
          op.id,
          this.#o.replicaId,
          { status: 'succeeded', result },
          this.#now(),
        )
      ) {
        span.setAttribute(ATTRS.outcome, 'succeeded');
        this.#origins.forget(op.id);
        log.info(
          `${op.type} of ${op.pluginId} succeeded (attempt ${op.attempts})`,
        );
        events.publish('orchestrator', 'operationCompleted', {
          ...summary(op),
          status: 'succeeded',
          result,
        });
        await this.#audit(op, 'succeeded');
      } else {
        span.setAttribute(ATTRS.outcome, 'lost');
        log.warn(
          'the lease was lost before the result was recorded; another replica owns the operation',
        );
      }
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      markError(span, error);
      if (controller.signal.aborted && !timedOut) {
        span.setAttribute(ATTRS.outcome, 'aborted');
        log.warn(`attempt aborted: ${message}`);
        return; // lease lost: the replica that took it over decides
      }
      // Retries by cause: only a transient one (a busy database, a dropped
      // connection, a registry hiccup) is worth another attempt; a version
      // that fails its probes or a rejected request fails the same way again.
      const cause = classifyFailure(error);
      const retry =
        !timedOut && cause.retryable && op.attempts < op.maxAttempts;
      const now = this.#now();
      if (retry) {
        const delay = retryDelayMs(op.attempts, {
          ...this.#o.retry,
          jitter: true,
        });
        await operations.finish(
          op.id,
          this.#o.replicaId,
          { status: 'retry', error: message, retryAt: now + delay },
          now,
        );
        span.setAttribute(ATTRS.outcome, 'retrying');
        log.warn(
          `${op.type} of ${op.pluginId} failed (attempt ${op.attempts} of ${op.maxAttempts}), retrying in ${delay} ms (${cause.reason}): ${message}`,
        );
        events.publish('orchestrator', 'operationRetrying', {
          ...summary(op),
          error: message,
          failureKind: cause.kind,
          delayMs: delay,
        });
        return;
      }
      await this.#o
        .onOperationFinished?.(op, false)
        .catch(e =>
          log.warn(`recording the failure in the breaker failed: ${e}`),
        );
      if (
        await operations.finish(
          op.id,
          this.#o.replicaId,
          { status: 'failed', error: message },
          now,
        )
      ) {
        span.setAttribute(ATTRS.outcome, 'failed');
        this.#origins.forget(op.id);
        const cancelled = await operations.cancelDependents(
          op.id,
          `dependency ${op.id} (${op.type} ${op.pluginId}) failed`,
          now,
        );
        let why = `not retried: ${cause.reason}`;
        if (timedOut) why = 'timed out';
        else if (cause.retryable) why = 'attempts used up';
        log.warn(
          `${op.type} of ${op.pluginId} failed after ${
            op.attempts
          } attempt(s) (${why}): ${message}${
            cancelled.length
              ? `; cancelled ${cancelled.length} dependent operation(s)`
              : ''
          }`,
        );
        events.publish('orchestrator', 'operationFailed', {
          ...summary(op),
          status: 'failed',
          error: message,
          failureKind: cause.kind,
        });
        await this.#audit(op, 'failed', error);
      }
    } finally {
      clearTimeout(timer);
    }
  }

  async #audit(
    op: QueuedOperation,
    outcome: 'succeeded' | 'failed',
    error?: unknown,
  ) {
    if (!this.#o.auditor) return;
    const event = await this.#o.auditor.createEvent({
      eventId: 'operation',
      severityLevel: 'medium',
      meta: {
        operationId: op.id,
        pluginId: op.pluginId,
        tenant: op.tenant,
        type: op.type,
        actor: op.actor ?? null,
        attempts: op.attempts,
      },
    });
    if (outcome === 'succeeded') await event.success();
    else
      await event.fail({
        error: error instanceof Error ? error : new Error(String(error)),
      });
  }

  async #renewLeases() {
    const ids = [...this.#running.keys()];
    if (ids.length === 0) return;
    const held = new Set(
      await this.#o.operations.renewLeases(
        this.#o.replicaId,
        ids,
        this.#now() + this.#o.leaseMs,
      ),
    );
    for (const id of ids) {
      if (!held.has(id)) {
        this.#running
          .get(id)
          ?.controller.abort(new Error('the lease on this operation was lost'));
      }
    }
  }

  /** Operations this replica is running now. */
  runningCount() {
    return this.#running.size;
  }

  /**
   * Stops claiming and waits for running operations to end, up to
   * `graceMs`; what is still running then is left to lease expiry.
   */
  async shutdown(graceMs = 30_000): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerAt = Infinity;
    clearInterval(this.#leaseTimer);
    const all = Promise.allSettled(
      [...this.#running.values()].map(r => r.done),
    );
    await Promise.race([all, new Promise(r => setTimeout(r, graceMs).unref())]);
  }
}

function summary(op: QueuedOperation) {
  return {
    operationId: op.id,
    pluginId: op.pluginId,
    tenant: op.tenant,
    type: op.type,
    status: op.status,
    attempts: op.attempts,
    batchId: op.batchId,
  };
}
