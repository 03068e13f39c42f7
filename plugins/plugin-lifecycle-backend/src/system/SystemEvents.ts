import { EventEmitter } from 'node:events';

/**
 * In-process events of the orchestration system. Each component event is
 * emitted as `<component>:<event>` and also as one `systemEvent`, as in the
 * original design: `on('systemEvent', e => e.component, e.event, e.args)`.
 */
export class SystemEvents extends EventEmitter {
  publish(component: string, event: string, payload: unknown) {
    this.emit(`${component}:${event}`, payload);
    this.emit('systemEvent', { component, event, args: [payload] });
  }
}
