import { LoggerService } from '@backstage/backend-plugin-api';

/** The part of `process` the grace period uses; tests pass their own. */
export interface ShutdownProcess {
  once(event: 'SIGTERM' | 'SIGINT', listener: () => void): unknown;
  off(event: 'SIGTERM' | 'SIGINT', listener: () => void): unknown;
  exit(code: number): void;
}

/** @public */
export interface ShutdownGraceOptions {
  /** How long the plugin's shutdown may take, counted from the first SIGTERM or SIGINT. */
  gracePeriodMs: number;
  logger: LoggerService;
  /**
   * After the grace period, this long for what comes after the draining
   * (stopping managed instances, Backstage closing its server) before the
   * exit is forced. Default 1000.
   */
  marginMs?: number;
  /** Runs, synchronously, right before a forced exit: the last chance to not leave orphans. */
  beforeForcedExit?: () => void;
  /** Default: the real process. */
  process?: ShutdownProcess;
  /** Default: Date.now. */
  now?: () => number;
}

/**
 * One deadline for the whole shutdown of the plugin. It starts at the first
 * SIGTERM or SIGINT (or, without a signal, such as `backend.stop()` in a
 * test, when the shutdown hook runs), so that the time Backstage spends
 * before it calls the plugin's hook (`backend.lifecycle.serverShutdownDelay`)
 * counts too: an orchestrator's grace period counts from its signal.
 *
 * After a signal it also arms a forced exit at the deadline plus a margin,
 * for whatever still holds the process then, ours or not (Backstage's
 * server waits for every open connection in production). A second signal
 * needs nothing from us: Backstage's handler exits at once on it, because
 * the first one already took the backend out of its registry.
 *
 * @public
 */
export class ShutdownGrace {
  readonly #gracePeriodMs: number;
  readonly #marginMs: number;
  readonly #logger: LoggerService;
  readonly #process: ShutdownProcess;
  readonly #now: () => number;
  readonly #beforeForcedExit: (() => void) | undefined;
  #deadline: number | undefined;
  #listening = false;
  #forcedExit: NodeJS.Timeout | undefined;

  static create(options: ShutdownGraceOptions): ShutdownGrace {
    return new ShutdownGrace(options);
  }

  private constructor(options: ShutdownGraceOptions) {
    if (
      !(options.gracePeriodMs >= 0 && Number.isFinite(options.gracePeriodMs))
    ) {
      throw new TypeError('gracePeriodMs must be a number of at least 0');
    }
    this.#gracePeriodMs = options.gracePeriodMs;
    this.#marginMs = options.marginMs ?? 1_000;
    this.#logger = options.logger;
    this.#process = options.process ?? process;
    this.#now = options.now ?? Date.now;
    this.#beforeForcedExit = options.beforeForcedExit;
  }

  /** Starts the grace period at the first SIGTERM or SIGINT, and arms the forced exit. */
  listen(): void {
    if (this.#listening) return;
    this.#listening = true;
    this.#process.once('SIGTERM', this.#onSignal);
    this.#process.once('SIGINT', this.#onSignal);
  }

  /** Stops listening for signals; a forced exit already armed stays armed. */
  unlisten(): void {
    if (!this.#listening) return;
    this.#listening = false;
    this.#process.off('SIGTERM', this.#onSignal);
    this.#process.off('SIGINT', this.#onSignal);
  }

  /** The shutdown began: the grace period starts now, unless a signal started it. Returns the deadline. */
  begin(): number {
    this.#deadline ??= this.#now() + this.#gracePeriodMs;
    return this.#deadline;
  }

  /** Milliseconds left of the grace period, 0 when it is over; begins it if it had not. */
  remainingMs(): number {
    return Math.max(0, this.begin() - this.#now());
  }

  /** Cancels an armed forced exit (for tests; a real shutdown keeps it). */
  dispose(): void {
    this.unlisten();
    clearTimeout(this.#forcedExit);
    this.#forcedExit = undefined;
  }

  #onSignal = () => {
    this.unlisten();
    this.begin();
    if (this.#forcedExit) return;
    const after = this.remainingMs() + this.#marginMs;
    this.#forcedExit = setTimeout(() => {
      this.#logger.error(
        `Shutdown did not complete within the grace period (${
          this.#gracePeriodMs
        } ms, pluginLifecycle.shutdown.gracePeriod) and ${
          this.#marginMs
        } ms more; exiting now`,
      );
      try {
        this.#beforeForcedExit?.();
      } finally {
        this.#process.exit(1);
      }
    }, after);
    // Never what keeps the process alive: a shutdown that completes exits.
    this.#forcedExit.unref?.();
  };
}
