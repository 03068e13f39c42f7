import { SignalApi } from '@backstage/plugin-signals-react';

/**
 * Backstage's signal API as the app's signals plugin provides it, without
 * the websocket: `emit` delivers a message to the channel's subscribers.
 */
export class FakeSignalApi implements SignalApi {
  readonly #subscribers = new Map<string, Set<(message: any) => void>>();

  subscribe(channel: string, onMessage: (message: any) => void) {
    const set = this.#subscribers.get(channel) ?? new Set();
    set.add(onMessage);
    this.#subscribers.set(channel, set);
    return { unsubscribe: () => set.delete(onMessage) };
  }

  /** The channels someone listens to now. */
  channels(): string[] {
    return [...this.#subscribers]
      .filter(([, set]) => set.size > 0)
      .map(([channel]) => channel);
  }

  emit(channel: string, message: object) {
    for (const onMessage of this.#subscribers.get(channel) ?? []) {
      onMessage(message);
    }
  }
}
