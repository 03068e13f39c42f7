import {
  EventStreamQuery,
  PluginLifecycleStreamEvent,
  readServerSentEvents,
} from '../api/events';
import { pluginLifecycleRoutes as routes } from '../routes';
import type { PluginLifecycleClient } from './PluginLifecycleClient';
import { RequestCore, queryString } from './requestCore';

/** How to read `GET /events`, as {@link PluginLifecycleClient.streamEvents} takes it. */
type StreamEventsOptions = NonNullable<
  Parameters<PluginLifecycleClient['streamEvents']>[0]
>;

/**
 * The events of `GET /events` as they arrive, read from its server-sent
 * events until `signal` aborts or the server ends the stream.
 */
export async function* streamEvents(
  core: RequestCore,
  options: StreamEventsOptions,
): AsyncGenerator<PluginLifecycleStreamEvent> {
  const query: EventStreamQuery = {
    events: options.events?.length ? options.events.join(',') : undefined,
    timeoutMs:
      options.timeoutMs === undefined ? undefined : String(options.timeoutMs),
  };
  const response = await core.send(
    `${routes.streamEvents.path}${queryString(
      query as Record<string, string | undefined>,
    )}`,
    {
      headers: {
        Accept: 'text/event-stream',
        ...(options.lastEventId
          ? { 'Last-Event-ID': options.lastEventId }
          : {}),
      },
      signal: options.signal,
    },
  );
  if (!response.body) return;
  options.onOpen?.();
  try {
    for await (const message of readServerSentEvents(response.body)) {
      yield JSON.parse(message.data) as PluginLifecycleStreamEvent;
    }
  } catch (error) {
    // Aborting is how a reader stops listening: not an error.
    if (options.signal?.aborted) return;
    throw error;
  }
}
