import { randomUUID } from 'node:crypto';
import type {
  PluginLifecycleStreamEvent,
  SystemEventComponent,
} from '@internal/plugin-lifecycle-common';
import type {
  SystemEventEnvelope,
  SystemEventListeners,
} from '../../events/eventMap';

/** Where the hub hears the system's events. */
export interface EventSource {
  on(
    event: 'systemEvent',
    listener: SystemEventListeners['systemEvent'],
  ): unknown;
  off(
    event: 'systemEvent',
    listener: SystemEventListeners['systemEvent'],
  ): unknown;
}

/**
 * Numbers every event of this replica's bus (`<epoch>-<n>`, the epoch new
 * for each start, so an id of another replica or an earlier run is not
 * mistaken for one of ours) and keeps the latest `capacity` of them, so a
 * stream that reconnects with `Last-Event-ID` gets what it missed.
 */
export class EventHub {
  readonly #source: EventSource;
  readonly #capacity: number;
  readonly #epoch = randomUUID().slice(0, 8);
  readonly #recent: Array<PluginLifecycleStreamEvent & { seq: number }> = [];
  readonly #subscribers = new Set<
    (event: PluginLifecycleStreamEvent) => void
  >();
  #seq = 0;
  readonly #listener = (envelope: SystemEventEnvelope) => {
    const seq = ++this.#seq;
    const event = {
      seq,
      id: `${this.#epoch}-${seq}`,
      name: `${envelope.component}:${envelope.event}`,
      component: envelope.component as SystemEventComponent,
      event: envelope.event,
      payload: envelope.args[0],
      at: new Date().toISOString(),
    };
    this.#recent.push(event);
    if (this.#recent.length > this.#capacity) this.#recent.shift();
    for (const subscriber of this.#subscribers) subscriber(event);
  };

  static create(options: { source: EventSource; capacity?: number }): EventHub {
    return new EventHub(options);
  }

  private constructor(options: { source: EventSource; capacity?: number }) {
    this.#source = options.source;
    this.#capacity = options.capacity ?? 1000;
    this.#source.on('systemEvent', this.#listener);
  }

  /**
   * Calls `subscriber` with every event from now on, after the kept ones
   * that came after `lastEventId` (when it is one of this run's). Answers
   * the unsubscribe.
   */
  subscribe(
    subscriber: (event: PluginLifecycleStreamEvent) => void,
    lastEventId?: string,
  ): () => void {
    const after = this.#seqOf(lastEventId);
    if (after !== undefined) {
      for (const { seq, ...event } of this.#recent) {
        if (seq > after) subscriber(event);
      }
    }
    // In the same tick as the replay: nothing falls between the two.
    const plain = (event: PluginLifecycleStreamEvent & { seq?: number }) => {
      const { seq: _seq, ...rest } = event;
      subscriber(rest);
    };
    this.#subscribers.add(plain);
    return () => this.#subscribers.delete(plain);
  }

  close() {
    this.#source.off('systemEvent', this.#listener);
    this.#subscribers.clear();
  }

  #seqOf(id?: string): number | undefined {
    const match = id ? /^([0-9a-f]{8})-(\d+)$/.exec(id) : null;
    if (!match || match[1] !== this.#epoch) return undefined;
    return Number(match[2]);
  }
}
