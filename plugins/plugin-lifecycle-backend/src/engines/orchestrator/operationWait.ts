import { SystemEvents } from '../../events/SystemEvents';

const ENDED_EVENTS = [
  'orchestrator:operationCompleted',
  'orchestrator:operationFailed',
  'orchestrator:operationCancelled',
] as const;

/** The longest pause between two reads of a waited-for operation. */
export const MAX_OPERATION_POLL_MS = 1_000;

type Waiters = Map<string, Set<() => void>>;

// One listener per event bus for all waits (not one per held request: an
// emitter warns past 10, and each would run on every event).
const waitersByBus = new WeakMap<SystemEvents, Waiters>();

function waitersOf(events: SystemEvents): Waiters {
  let waiters = waitersByBus.get(events);
  if (!waiters) {
    const created: Waiters = new Map();
    const wake = (payload: { operationId?: string } | undefined) => {
      const id = payload?.operationId;
      if (id === undefined) return;
      for (const fn of [...(created.get(id) ?? [])]) fn();
    };
    for (const name of ENDED_EVENTS) events.on(name, wake);
    waitersByBus.set(events, created);
    waiters = created;
  }
  return waiters;
}

/**
 * Resolves after `delayMs`, at `deadline` if sooner, at once when the signal
 * aborts, or as soon as this replica hears that the operation ended. A
 * long-poll then reads the operation again: the event wakes it early, the
 * timer covers operations other replicas run. What it set up is released
 * when it resolves: a held wait holds one timer and no database connection.
 */
export function pauseForOperation(options: {
  events: SystemEvents;
  operationId: string;
  delayMs: number;
  deadline: number;
  signal?: AbortSignal;
}): Promise<void> {
  const { operationId, signal } = options;
  const waiters = waitersOf(options.events);
  return new Promise(resolve => {
    const timer = setTimeout(
      () => done(),
      Math.max(0, Math.min(options.delayMs, options.deadline - Date.now())),
    );
    function done() {
      clearTimeout(timer);
      const set = waiters.get(operationId);
      set?.delete(done);
      if (set?.size === 0) waiters.delete(operationId);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    if (!waiters.has(operationId)) waiters.set(operationId, new Set());
    waiters.get(operationId)!.add(done);
    if (signal?.aborted) done();
    else signal?.addEventListener('abort', done);
  });
}
