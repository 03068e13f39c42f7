import { z } from 'zod';
import { decimalIntegerParam } from './schemas';

/**
 * The components whose events `GET /events` streams, as the original design
 * names them (`<component>:<event>`).
 *
 * @public
 */
export const SYSTEM_EVENT_COMPONENTS = [
  'orchestrator',
  'stateMachine',
  'runtime',
  'healthMonitor',
  'configurationManager',
  'serviceDiscovery',
  'deploymentManager',
] as const;

/** @public */
export type SystemEventComponent = (typeof SYSTEM_EVENT_COMPONENTS)[number];

/**
 * The name every event is also known by (`on('systemEvent', ...)`): as a
 * filter it means every event.
 *
 * @public
 */
export const SYSTEM_EVENT = 'systemEvent';

/**
 * One filter of `?events=`: `<component>:<event>`, `<component>:*`, or
 * `systemEvent` (everything).
 */
const eventPatternSchema = z
  .string()
  .regex(
    new RegExp(
      `^(${SYSTEM_EVENT}|(${SYSTEM_EVENT_COMPONENTS.join(
        '|',
      )}):(\\*|[A-Za-z][A-Za-z0-9]*))$`,
    ),
    `must be systemEvent, <component>:* or <component>:<event> (components: ${SYSTEM_EVENT_COMPONENTS.join(
      ', ',
    )})`,
  );

/**
 * Query of `GET /events`.
 *
 * @public
 */
export const eventStreamQuerySchema = z
  .object({
    /**
     * Comma-separated: `healthMonitor:*,deploymentManager:deploymentCompleted`.
     * Default: every event the caller may read.
     */
    events: z
      .string()
      .max(2000)
      .transform(s =>
        s
          .split(',')
          .map(p => p.trim())
          .filter(Boolean),
      )
      .pipe(z.array(eventPatternSchema).min(1).max(50))
      .optional(),
    /** End the stream after this long (default: until the client leaves). */
    timeoutMs: decimalIntegerParam({ min: 0, max: 86_400_000 }).optional(),
  })
  .strict();

/** @public */
export type EventStreamQuery = z.input<typeof eventStreamQuerySchema>;

/**
 * One event of `GET /events`: sent as the SSE `data` of a message whose
 * `event` is `name` and whose `id` is `id`.
 *
 * @public
 */
export interface PluginLifecycleStreamEvent {
  /** Increasing per backend replica and stream source. */
  id: string;
  /** `<component>:<event>`, as `on()` takes it. */
  name: string;
  component: SystemEventComponent;
  event: string;
  /** The payload the in-process `on(name, ...)` listener gets. */
  payload: unknown;
  /** When the replica that streams it heard it (ISO 8601). */
  at: string;
}

/**
 * Whether an event name passes the filters of `?events=` (none: all).
 *
 * @public
 */
export function matchesEventFilter(
  name: string,
  patterns: readonly string[] | undefined,
): boolean {
  if (!patterns || patterns.length === 0) return true;
  const component = name.slice(0, name.indexOf(':'));
  return patterns.some(
    p => p === SYSTEM_EVENT || p === name || p === `${component}:*`,
  );
}

/**
 * Reads a server-sent event stream as it arrives: each complete message's
 * `event`, `data` (lines joined) and `id`; comments (heartbeats) are skipped.
 *
 * @public
 */
export async function* readServerSentEvents(
  body:
    | AsyncIterable<Uint8Array>
    | Iterable<Uint8Array>
    | ReadableStream<Uint8Array>,
): AsyncGenerator<{ event: string; data: string; id?: string }> {
  const decoder = new TextDecoder();
  let buffer = '';
  for await (const chunk of iterate(body)) {
    buffer += decoder.decode(chunk, { stream: true });
    // Messages end at a blank line (LF or CRLF).
    for (;;) {
      const end = buffer.search(/\r?\n\r?\n/);
      if (end < 0) break;
      const raw = buffer.slice(0, end);
      buffer = buffer.slice(end).replace(/^\r?\n\r?\n/, '');
      const message = parseMessage(raw);
      if (message) yield message;
    }
  }
}

function parseMessage(
  raw: string,
): { event: string; data: string; id?: string } | undefined {
  let event = 'message';
  let id: string | undefined;
  const data: string[] = [];
  for (const line of raw.split(/\r?\n/)) {
    if (line === '' || line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
    if (field === 'event') event = value;
    else if (field === 'data') data.push(value);
    else if (field === 'id') id = value;
  }
  if (data.length === 0) return undefined;
  return { event, data: data.join('\n'), ...(id !== undefined ? { id } : {}) };
}

async function* iterate(
  body:
    | AsyncIterable<Uint8Array>
    | Iterable<Uint8Array>
    | ReadableStream<Uint8Array>,
): AsyncGenerator<Uint8Array> {
  if (!('getReader' in body)) {
    yield* body;
    return;
  }
  const reader = (body as ReadableStream<Uint8Array>).getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      yield value;
    }
  } finally {
    reader.releaseLock();
  }
}
