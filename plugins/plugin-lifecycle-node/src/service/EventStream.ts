import { LoggerService } from '@backstage/backend-plugin-api';
import {
  PluginLifecycleClient,
  PluginLifecycleStreamEvent,
  SYSTEM_EVENT,
} from '@internal/plugin-lifecycle-common';

/**
 * What `on('systemEvent', ...)` gets: every event, as in the original
 * design (`event.component`, `event.event`, `event.args`).
 *
 * @public
 */
export interface PluginLifecycleEventEnvelope {
  component: string;
  event: string;
  args: unknown[];
}

/** @public */
export type PluginLifecycleEventListener = (payload: any) => void;

const MIN_BACKOFF_MS = 500;
const MAX_BACKOFF_MS = 30_000;

/**
 * One `GET /events` stream shared by every listener of a service: opened
 * with the first listener, closed with the last (or at shutdown), opened
 * again after a drop with back-off, asking for what it missed
 * (`Last-Event-ID`: the replica replays what it still keeps; another
 * replica, or one restarted, cannot).
 */
export class EventStream {
  readonly #client: () => PluginLifecycleClient;
  readonly #logger: LoggerService;
  readonly #listeners = new Map<string, Set<PluginLifecycleEventListener>>();
  #abort?: AbortController;
  #closed = false;
  #open?: { promise: Promise<void>; resolve: () => void };
  /** Sent on a reconnect: the replica replays what came after it. */
  #lastEventId?: string;

  constructor(options: {
    /** A client that authenticates each request as the service acts. */
    client: () => PluginLifecycleClient;
    logger: LoggerService;
  }) {
    this.#client = options.client;
    this.#logger = options.logger;
    this.#open = deferred();
  }

  on(name: string, listener: PluginLifecycleEventListener) {
    let set = this.#listeners.get(name);
    if (!set) this.#listeners.set(name, (set = new Set()));
    set.add(listener);
    this.#start();
  }

  off(name: string, listener: PluginLifecycleEventListener) {
    const set = this.#listeners.get(name);
    set?.delete(listener);
    if (set?.size === 0) this.#listeners.delete(name);
    if (this.#listeners.size === 0) this.#stop();
  }

  /** Whether any listener is left. */
  get listening(): boolean {
    return this.#listeners.size > 0;
  }

  /** Resolves once the stream is open (at once when it already is). */
  whenOpen(): Promise<void> {
    if (!this.#open) return Promise.resolve();
    return this.#open.promise;
  }

  /** Ends the stream for good (the backend shuts down). */
  close() {
    this.#closed = true;
    this.#stop();
  }

  #start() {
    if (this.#abort || this.#closed) return;
    const abort = new AbortController();
    this.#abort = abort;
    this.#run(abort.signal).catch(error =>
      this.#logger.error(`plugin-lifecycle event stream stopped: ${error}`),
    );
  }

  #stop() {
    this.#abort?.abort();
    this.#abort = undefined;
    this.#open ??= deferred();
  }

  async #run(signal: AbortSignal) {
    const backoff = { ms: MIN_BACKOFF_MS };
    while (!signal.aborted) {
      try {
        for await (const event of this.#client().streamEvents({
          signal,
          lastEventId: this.#lastEventId,
          onOpen: () => {
            backoff.ms = MIN_BACKOFF_MS;
            this.#open?.resolve();
            this.#open = undefined;
          },
        })) {
          this.#dispatch(event);
        }
      } catch (error) {
        if (signal.aborted) return;
        // Credentials that no longer authenticate (a user's token expired)
        // will not get better by retrying.
        if (
          (error as { response?: { status?: number } }).response?.status === 401
        ) {
          this.#logger.error(
            `plugin-lifecycle event stream stopped: its credentials were refused (${error})`,
          );
          return;
        }
        this.#logger.warn(
          `plugin-lifecycle event stream failed, retrying in ${backoff.ms} ms: ${error}`,
        );
      }
      if (signal.aborted) return;
      // Ended (the backend shut down, or a client fell behind): again.
      this.#open ??= deferred();
      await sleep(backoff.ms, signal);
      backoff.ms = Math.min(backoff.ms * 2, MAX_BACKOFF_MS);
    }
  }

  #dispatch(event: PluginLifecycleStreamEvent) {
    this.#lastEventId = event.id;
    const envelope: PluginLifecycleEventEnvelope = {
      component: event.component,
      event: event.event,
      args: [event.payload],
    };
    for (const [name, arg] of [
      [event.name, event.payload],
      [SYSTEM_EVENT, envelope],
    ] as const) {
      for (const listener of this.#listeners.get(name) ?? []) {
        try {
          listener(arg);
        } catch (error) {
          this.#logger.warn(`a listener of ${name} threw: ${error}`);
        }
      }
    }
  }
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>(r => (resolve = r));
  return { promise, resolve };
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise(resolve => {
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
  });
}
