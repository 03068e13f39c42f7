import { z } from 'zod';
import {
  PluginLifecycleStreamEvent,
  eventStreamQuerySchema,
} from '../api/events';
import { pluginLifecycleReadPermission } from '../permissions';
import { defineRoute, described } from './route';

/**
 * The route of the event stream.
 *
 * @public
 */
export const eventRoutes = {
  streamEvents: defineRoute({
    method: 'get',
    path: '/events',
    summary:
      "Server-sent events of the orchestration system (`event: <component>:<event>`, `data: PluginLifecycleStreamEvent`) as they happen, filtered by `events`; a `: keep-alive` comment every 15 s; ends at the backend's shutdown or after `timeoutMs`; a reconnect with `Last-Event-ID` gets first what this replica kept since (the last 1,000 events)",
    permission: pluginLifecycleReadPermission,
    permissionNote:
      "per event, on the plugin it is about (a conditional decision is applied to each plugin) and within the caller's tenants; events about no plugin (registered services) need an unconditional allow",
    params: z.object({}),
    query: eventStreamQuerySchema,
    body: undefined,
    response: described<PluginLifecycleStreamEvent>(
      'PluginLifecycleStreamEvent',
    ),
    responseContentType: 'text/event-stream',
    responseDescription:
      'A text/event-stream of PluginLifecycleStreamEvent messages',
    responses: { '400': 'error', '403': 'error', '429': 'error' },
  }),
};
