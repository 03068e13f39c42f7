import { performance } from 'node:perf_hooks';
import { isError } from '@backstage/errors';
import { probeSettings } from '../../../domain/health';
import { Probe, ProbeOutcome } from './types';

/**
 * The time one run of a probe may take, in ms: `timeoutSeconds` (1 s by
 * default), or for an HTTP probe its own `http.timeout` in ms when given.
 */
export function probeTimeoutMs(probe: Probe): number {
  return probe.http?.timeout ?? probeSettings(probe).timeoutMs;
}

/**
 * The clock of one probe run: a signal that aborts at the timeout or when
 * the caller aborts, and the words for whichever came first.
 */
export class ProbeDeadline {
  readonly timeoutMs: number;
  readonly #controller = new AbortController();
  readonly #startedAt = performance.now();
  readonly #parent: AbortSignal;
  readonly #timer: NodeJS.Timeout;
  readonly #onParentAbort = () => this.#controller.abort(this.#parent.reason);
  #timedOut = false;

  private constructor(timeoutMs: number, parent: AbortSignal) {
    this.timeoutMs = timeoutMs;
    this.#parent = parent;
    this.#timer = setTimeout(() => {
      this.#timedOut = true;
      this.#controller.abort(new Error(this.#timeoutMessage()));
    }, timeoutMs);
    if (parent.aborted) this.#onParentAbort();
    else parent.addEventListener('abort', this.#onParentAbort, { once: true });
  }

  static start(probe: Probe, parent: AbortSignal): ProbeDeadline {
    return new ProbeDeadline(probeTimeoutMs(probe), parent);
  }

  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  get aborted(): boolean {
    return this.#controller.signal.aborted;
  }

  elapsedMs(): number {
    return performance.now() - this.#startedAt;
  }

  /** Why the run was cut short: 'timed out after Nms' or 'aborted: ...'. */
  reason(): string {
    if (this.#timedOut) return this.#timeoutMessage();
    const reason: unknown = this.#parent.reason;
    const detail = isError(reason) ? reason.message : reason && String(reason);
    return detail ? `aborted: ${detail}` : 'aborted';
  }

  /** A failed outcome measured by this deadline. */
  fail(message: string, statusCode?: number): ProbeOutcome {
    return {
      ok: false,
      latencyMs: this.elapsedMs(),
      message,
      ...(statusCode === undefined ? {} : { statusCode }),
    };
  }

  /** A failed outcome for an error: the abort's reason once aborted. */
  failWith(error: unknown): ProbeOutcome {
    return this.fail(this.aborted ? this.reason() : errorMessage(error));
  }

  dispose(): void {
    clearTimeout(this.#timer);
    this.#parent.removeEventListener('abort', this.#onParentAbort);
  }

  #timeoutMessage() {
    return `timed out after ${this.timeoutMs}ms`;
  }
}

/** The message of an error (from any realm), with its code when it lacks it. */
export function errorMessage(error: unknown): string {
  if (isError(error)) {
    const code = (error as { code?: unknown }).code;
    return typeof code === 'string' && !error.message.includes(code)
      ? `${code}: ${error.message}`
      : error.message;
  }
  return String(error);
}

/** host:port, with IPv6 addresses in brackets. */
export function hostPort(host: string, port: number): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}
