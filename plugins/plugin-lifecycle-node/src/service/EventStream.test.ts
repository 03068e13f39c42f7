import { LoggerService } from '@backstage/backend-plugin-api';
import {
  PluginLifecycleClient,
  PluginLifecycleStreamEvent,
} from '@internal/plugin-lifecycle-common';
import { EventStream } from './EventStream';

function event(name: string, payload: unknown): PluginLifecycleStreamEvent {
  const [component, e] = name.split(':');
  return {
    id: '1',
    name,
    component: component as PluginLifecycleStreamEvent['component'],
    event: e,
    payload,
    at: new Date(0).toISOString(),
  };
}

/**
 * A client whose streams are driven by the test: each connection takes the
 * next script (events, then an end or an error).
 */
function scriptedClient(
  scripts: Array<{ events: PluginLifecycleStreamEvent[]; fail?: boolean }>,
) {
  const connections: AbortSignal[] = [];
  const client = {
    async *streamEvents(options: {
      signal?: AbortSignal;
      onOpen?: () => void;
    }) {
      connections.push(options.signal!);
      const script = scripts.shift();
      if (!script) {
        // Held open until aborted.
        await new Promise(r =>
          options.signal!.addEventListener('abort', r, { once: true }),
        );
        return;
      }
      if (script.fail) throw new Error('503 from the backend');
      options.onOpen?.();
      yield* script.events;
    },
  } as unknown as PluginLifecycleClient;
  return { client, connections };
}

function logger(): LoggerService {
  const self: LoggerService = {
    error: jest.fn(),
    warn: jest.fn(),
    info: jest.fn(),
    debug: jest.fn(),
    child: () => self,
  };
  return self;
}

describe('EventStream', () => {
  it('dispatches by name and as systemEvent, and reconnects after an end or an error', async () => {
    const { client, connections } = scriptedClient([
      {
        events: [
          event('orchestrator:operationCompleted', { operationId: 'op-1' }),
        ],
      },
      { events: [], fail: true },
      {
        events: [
          event('deploymentManager:deploymentCompleted', {
            deploymentId: 'd-1',
          }),
        ],
      },
    ]);
    const stream = new EventStream({
      client: () => client,
      logger: logger(),
    });
    const completed: unknown[] = [];
    const all: unknown[] = [];
    stream.on('orchestrator:operationCompleted', p => completed.push(p));
    stream.on('systemEvent', e => all.push(e));
    await stream.whenOpen();
    for (let i = 0; i < 100 && all.length < 2; i++) {
      await new Promise(r => setTimeout(r, 50));
    }
    expect(completed).toEqual([{ operationId: 'op-1' }]);
    expect(all).toEqual([
      {
        component: 'orchestrator',
        event: 'operationCompleted',
        args: [{ operationId: 'op-1' }],
      },
      {
        component: 'deploymentManager',
        event: 'deploymentCompleted',
        args: [{ deploymentId: 'd-1' }],
      },
    ]);
    expect(connections.length).toBeGreaterThanOrEqual(3);
    stream.close();
    expect(connections.every(signal => signal.aborted)).toBe(true);
  });

  it('connects with the first listener and disconnects with the last', async () => {
    const { client, connections } = scriptedClient([]);
    const stream = new EventStream({
      client: () => client,
      logger: logger(),
    });
    expect(connections).toHaveLength(0);
    const listener = () => {};
    stream.on('healthMonitor:healthCheckFailed', listener);
    await new Promise(r => setTimeout(r, 10));
    expect(connections).toHaveLength(1);
    stream.off('healthMonitor:healthCheckFailed', listener);
    expect(connections[0].aborted).toBe(true);
    stream.close();
  });
});
