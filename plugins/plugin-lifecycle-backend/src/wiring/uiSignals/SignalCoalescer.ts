import { SignalTarget } from './signalOf';

/** Timers, injectable so that tests control time. */
export interface CoalescerTimers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

const realTimers: CoalescerTimers = {
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, ms);
    // A pending window never keeps the backend from exiting.
    t.unref?.();
    return t;
  },
  clearTimeout: handle => clearTimeout(handle as NodeJS.Timeout),
};

interface Window {
  handle: unknown;
  /** The latest signal that arrived while the window was open. */
  pending?: SignalTarget;
}

/**
 * Sends at most one signal per plugin and kind per window: the first at
 * once (a single change reaches the UI without delay), the latest of those
 * that arrive within the window when it closes. A rollout step or a probe
 * sweep that makes dozens of events in a burst makes two signals.
 */
export class SignalCoalescer {
  readonly #windowMs: number;
  readonly #send: (target: SignalTarget) => void;
  readonly #timers: CoalescerTimers;
  readonly #windows = new Map<string, Window>();

  constructor(options: {
    windowMs: number;
    send: (target: SignalTarget) => void;
    timers?: CoalescerTimers;
  }) {
    this.#windowMs = options.windowMs;
    this.#send = options.send;
    this.#timers = options.timers ?? realTimers;
  }

  push(target: SignalTarget) {
    const key = `${target.pluginId}\u0000${target.kind}`;
    const open = this.#windows.get(key);
    if (open) {
      open.pending = target;
      return;
    }
    this.#send(target);
    this.#open(key);
  }

  /** Closes every window without sending what is pending. */
  stop() {
    for (const window of this.#windows.values()) {
      this.#timers.clearTimeout(window.handle);
    }
    this.#windows.clear();
  }

  #open(key: string) {
    const handle = this.#timers.setTimeout(() => {
      const window = this.#windows.get(key);
      this.#windows.delete(key);
      if (window?.pending) {
        this.#send(window.pending);
        this.#open(key);
      }
    }, this.#windowMs);
    this.#windows.set(key, { handle });
  }
}
