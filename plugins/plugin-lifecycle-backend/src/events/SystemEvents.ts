import { EventEmitter } from 'node:events';
import { EventsService } from '@backstage/plugin-events-node';
import { LoggerService } from '@backstage/backend-plugin-api';
import {
  ComponentEvent,
  SystemComponent,
  PayloadOf,
  SystemEventListeners,
} from './eventMap';

/** The topic on Backstage's events service where the system's events go. */
export const PLUGIN_LIFECYCLE_TOPIC = 'plugin-lifecycle';

/**
 * Events of the orchestration system. Each component event is emitted in
 * process as `<component>:<event>` and as one `systemEvent` (as in the
 * original design: `on('systemEvent', e => e.component, e.event, e.args)`),
 * and, when Backstage's events service is given, published on the
 * `plugin-lifecycle` topic so other plugins and replicas hear it. Names and
 * payloads are checked against {@link SystemEventMap}.
 */
export class SystemEvents {
  readonly #emitter = new EventEmitter();
  readonly #events?: EventsService;
  readonly #logger?: LoggerService;

  constructor(
    options: { events?: EventsService; logger?: LoggerService } = {},
  ) {
    this.#events = options.events;
    this.#logger = options.logger;
  }

  /** Emits in process and on the events service. */
  publish<C extends SystemComponent, E extends ComponentEvent<C>>(
    component: C,
    event: E,
    payload: PayloadOf<C, E>,
  ) {
    this.#emitLocal(component, event, payload);
    this.#events
      ?.publish({
        topic: PLUGIN_LIFECYCLE_TOPIC,
        eventPayload: { component, event, payload },
        metadata: { component, event },
      })
      .catch(error =>
        this.#logger?.warn(`publishing ${component}:${event} failed: ${error}`),
      );
  }

  /**
   * Emits in this process only: for what another replica published and this
   * one learned from the database.
   */
  emitLocal<C extends SystemComponent, E extends ComponentEvent<C>>(
    component: C,
    event: E,
    payload: PayloadOf<C, E>,
  ) {
    this.#emitLocal(component, event, payload);
  }

  on<K extends keyof SystemEventListeners>(
    event: K,
    listener: SystemEventListeners[K],
  ): this {
    this.#emitter.on(event, listener as (...args: any[]) => void);
    return this;
  }

  off<K extends keyof SystemEventListeners>(
    event: K,
    listener: SystemEventListeners[K],
  ): this {
    this.#emitter.off(event, listener as (...args: any[]) => void);
    return this;
  }

  #emitLocal(component: string, event: string, payload: unknown) {
    this.#emitter.emit(`${component}:${event}`, payload);
    this.#emitter.emit('systemEvent', { component, event, args: [payload] });
  }
}
