import {
  eventRoutes as routes,
  matchesEventFilter,
  PluginLifecycleStreamEvent,
} from '@internal/plugin-lifecycle-common';
import { Router } from 'express';
import { EventAudience } from '../events/EventAudience';
import { EventHub } from '../events/EventHub';
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
 * client falls a megabyte behind. A client that reconnects with
 * `Last-Event-ID` gets the events it missed that this replica still keeps
 * (the last thousand; {@link EventHub}).
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
  const hub = EventHub.create({ source: system });
  shutdown?.addEventListener('abort', () => hub.close(), { once: true });

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
    const send = (message: PluginLifecycleStreamEvent) => {
      if (!matchesEventFilter(message.name, query.events)) return;
      chain = chain.then(async () => {
        if (res.writableEnded || !(await audience.admits(message.payload))) {
          return;
        }
        res.write(
          `id: ${message.id}\nevent: ${message.name}\ndata: ${JSON.stringify(
            message,
          )}\n\n`,
        );
        if (res.writableLength > MAX_BUFFERED_BYTES) end();
      }, end);
    };
    const unsubscribe = hub.subscribe(send, req.header('last-event-id'));
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
      unsubscribe();
      clearInterval(heartbeat);
      clearTimeout(timeout);
      shutdown?.removeEventListener('abort', end);
      release?.();
    });
    if (shutdown?.aborted) end();
    else shutdown?.addEventListener('abort', end);
  });
}
