import { EventEmitter } from 'node:events';
import { EventsService } from '@backstage/plugin-events-node';
import { LoggerService } from '@backstage/backend-plugin-api';

/** The topic on Backstage's events service where the system's events go. */
export const PLUGIN_LIFECYCLE_TOPIC = 'plugin-lifecycle';

/**
 * Events of the orchestration system. Each component event is emitted in
 * process as `<component>:<event>` and as one `systemEvent` (as in the
 * original design: `on('systemEvent', e => e.component, e.event, e.args)`),
 * and, when Backstage's events service is given, published on the
 * `plugin-lifecycle` topic so other plugins and replicas hear it.
 */
export class SystemEvents extends EventEmitter {
  readonly #events?: EventsService;
  readonly #logger?: LoggerService;

  constructor(
    options: { events?: EventsService; logger?: LoggerService } = {},
  ) {
    super();
    this.#events = options.events;
    this.#logger = options.logger;
  }

  publish(component: string, event: string, payload: unknown) {
    this.emit(`${component}:${event}`, payload);
    this.emit('systemEvent', { component, event, args: [payload] });
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
}
