import {
  eventRoutes as routes,
  matchesEventFilter,
  PluginLifecycleStreamEvent,
  SystemEventComponent,
} from '@internal/plugin-lifecycle-common';
import { Router } from 'express';
import type { SystemEventEnvelope } from '../../events/eventMap';
import { EventAudience } from '../events/EventAudience';
import { parseInput } from '../routeAccess';
import { EndpointContext } from './EndpointContext';
import { mount } from './mount';

/** A stream whose client reads slower than events come is ended past this. */
const MAX_BUFFERED_BYTES = 1024 * 1024;

/**
 * `GET /events`: the system's events as server-sent events, each one only
 * to readers allowed to read the plugin it is about (see
 * {@link EventAudience}). Counts against the caller's held requests, sends
 * a heartbeat comment, and ends at shutdown, after `timeoutMs`, or when a
 * client falls a megabyte behind (it reconnects and reads the API).
 */
export function bindEventStreamEndpoint(
  router: Router,
  context: EndpointContext & {
    /** Between `: keep-alive` comments; 15 s by default. */
    heartbeatMs?: number;
  },
) {
  const { system, authorizeList, shutdown, heldRequests } = context;
  const heartbeatMs = context.heartbeatMs ?? 15_000;
  let sequence = 0;

  mount(router, routes.streamEvents, async (req, res) => {
    // Permission first: a caller without it learns nothing from the errors.
    const { actor, scope, filter, unconditional } = await authorizeList(
      req,
      routes.streamEvents.permission,
    );
    const query = parseInput(routes.streamEvents.query, req.query, 'query');
    const audience = EventAudience.create({
      scope,
      filter,
      unconditional: unconditional ?? false,
      find: id => system.findPluginRecord(id),
    });
    // Over the cap: a 429 at once. Released when the stream ends.
    const release = heldRequests?.acquire(actor ?? 'anonymous');
    res.writeHead(200, {
      'content-type': 'text/event-stream',
      // no-transform: compression would hold events back in a gzip buffer.
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
    });
    // A first line at once, so the client knows it is listening.
    res.write(': connected\nretry: 3000\n\n');

    // Judged one at a time (a judgement may read the catalog), so events
    // reach the client in the order they happened.
    let chain = Promise.resolve();
    const listener = (envelope: SystemEventEnvelope) => {
      const name = `${envelope.component}:${envelope.event}`;
      if (!matchesEventFilter(name, query.events)) return;
      const payload = envelope.args[0];
      const at = new Date().toISOString();
      chain = chain.then(async () => {
        if (res.writableEnded || !(await audience.admits(payload))) return;
        const message: PluginLifecycleStreamEvent = {
          id: String(++sequence),
          name,
          component: envelope.component as SystemEventComponent,
          event: envelope.event,
          payload,
          at,
        };
        res.write(
          `id: ${message.id}\nevent: ${name}\ndata: ${JSON.stringify(
            message,
          )}\n\n`,
        );
        if (res.writableLength > MAX_BUFFERED_BYTES) end();
      }, end);
    };
    system.on('systemEvent', listener);
    const heartbeat = setInterval(
      () => res.write(': keep-alive\n\n'),
      heartbeatMs,
    );
    const timeout =
      query.timeoutMs !== undefined
        ? setTimeout(() => end(), query.timeoutMs)
        : undefined;
    // A stream would hold the server open past any grace period: at
    // shutdown it ends, and the client reconnects (to another replica).
    function end() {
      if (!res.writableEnded) res.end();
    }
    res.on('close', () => {
      system.off('systemEvent', listener);
      clearInterval(heartbeat);
      clearTimeout(timeout);
      shutdown?.removeEventListener('abort', end);
      release?.();
    });
    if (shutdown?.aborted) end();
    else shutdown?.addEventListener('abort', end);
  });
}
