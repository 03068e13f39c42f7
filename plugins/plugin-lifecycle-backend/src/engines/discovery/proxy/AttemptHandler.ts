import { ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import { Dispatcher } from 'undici';
import { attemptTimedOut, responseHeaders } from './httpMessages';

export type Attempt =
  | { done: true }
  | { done: false; error: Error & { code?: string } };

/** The client's side of one proxied request, shared by its attempts. */
export interface ClientState {
  gone: boolean;
  /** The attempt under way, to abort when the client goes away. */
  attempt: AttemptHandler | undefined;
}

export type RecordOutcome = (
  outcome: 'responded' | 'failed',
  status: number,
  latencyMs: number,
) => void;

export const CLIENT_GONE = Object.assign(new Error('The client went away'), {
  name: 'AbortError',
  code: 'UND_ERR_ABORTED',
});

export const SHUTTING_DOWN = Object.assign(
  new Error('The proxy is shutting down: its grace period is over'),
  { name: 'AbortError', code: 'UND_ERR_ABORTED' },
);

/**
 * One attempt's undici dispatch handler: the upstream's response goes
 * straight to `res` (status, headers without hop-by-hop ones, then the body
 * with backpressure both ways), without a stream or promise of undici's in
 * between. `record` sees the outcome once (`responded` with the status and
 * the time to the headers, or `failed` before any response); `settle` sees
 * the end of the attempt once.
 */
export class AttemptHandler implements Dispatcher.DispatchHandler {
  readonly #res: ServerResponse;
  readonly #client: ClientState;
  readonly #record: RecordOutcome;
  readonly #settle: (result: Attempt) => void;
  readonly #keepCookies: boolean;
  readonly #startedAt = performance.now();
  #controller: Dispatcher.DispatchController | undefined;
  #responded = false;
  #settled = false;
  #onDrain: (() => void) | undefined;
  #timer: NodeJS.Timeout | undefined;
  /** Set when the attempt timed out before undici handed us its controller. */
  #timedOut: Error | undefined;

  constructor(
    res: ServerResponse,
    client: ClientState,
    record: RecordOutcome,
    settle: (result: Attempt) => void,
    timeoutMs: number | undefined,
    keepCookies: boolean,
  ) {
    this.#keepCookies = keepCookies;
    this.#res = res;
    this.#client = client;
    this.#record = record;
    this.#settle = settle;
    if (timeoutMs !== undefined) {
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        const error = attemptTimedOut(timeoutMs);
        if (this.#controller) this.#controller.abort(error);
        else this.#timedOut = error;
      }, timeoutMs);
    }
  }

  /** The client went away: stop the upstream request. */
  abort(reason: Error) {
    this.#controller?.abort(reason);
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.#controller = controller;
    if (this.#client.gone) controller.abort(CLIENT_GONE);
    else if (this.#timedOut) controller.abort(this.#timedOut);
  }

  onResponseStart(
    controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: Record<string, string | string[] | undefined>,
  ): void {
    if (statusCode < 200) return; // 1xx: informational, not forwarded
    this.#clearTimer();
    this.#responded = true;
    this.#record('responded', statusCode, performance.now() - this.#startedAt);
    const res = this.#res;
    res.writeHead(statusCode, responseHeaders(headers, this.#keepCookies));
    if (res.writableNeedDrain) this.#pause(controller);
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer) {
    if (!this.#res.write(chunk)) this.#pause(controller);
  }

  onResponseEnd(): void {
    this.#unlisten();
    this.#res.end();
    this.#finish({ done: true });
  }

  onResponseError(
    _controller: Dispatcher.DispatchController | undefined,
    error: Error,
  ): void {
    this.#unlisten();
    // A response under way that broke, or a client that went away:
    // nothing more to say to the client.
    if (this.#responded) {
      this.#res.destroy(error);
      this.#finish({ done: true });
    } else if (this.#client.gone) {
      this.#finish({ done: true });
    } else {
      this.#record('failed', 0, performance.now() - this.#startedAt);
      this.#finish({ done: false, error });
    }
  }

  #pause(controller: Dispatcher.DispatchController) {
    controller.pause();
    if (!this.#onDrain) {
      this.#onDrain = () => controller.resume();
      this.#res.on('drain', this.#onDrain);
    }
  }

  #unlisten() {
    if (this.#onDrain) this.#res.off('drain', this.#onDrain);
    this.#onDrain = undefined;
  }

  #clearTimer() {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #finish(result: Attempt) {
    if (this.#settled) return;
    this.#settled = true;
    this.#clearTimer();
    this.#settle(result);
  }
}
