import { SystemEvents } from '../../events/SystemEvents';
import { EventHub } from './EventHub';

describe('EventHub', () => {
  const circuit = (pluginId: string) =>
    ({ pluginId, consecutiveFailures: 3 } as const);

  it('numbers events and replays those after a Last-Event-ID of this run', () => {
    const events = new SystemEvents();
    const hub = EventHub.create({ source: events, capacity: 2 });
    const first: string[] = [];
    const unsubscribe = hub.subscribe(e => first.push(e.id));
    events.publish('orchestrator', 'circuitOpened', circuit('a'));
    events.publish('orchestrator', 'circuitOpened', circuit('b'));
    events.publish('orchestrator', 'circuitOpened', circuit('c'));
    unsubscribe();
    expect(first).toHaveLength(3);
    const [, second, third] = first;

    const replayed: Array<{ id: string; payload: unknown }> = [];
    hub.subscribe(e => replayed.push({ id: e.id, payload: e.payload }), second);
    events.publish('orchestrator', 'circuitOpened', circuit('d'));
    expect(
      replayed.map(e => (e.payload as { pluginId: string }).pluginId),
    ).toEqual(['c', 'd']);
    expect(replayed[0].id).toBe(third);

    // Another run's id (or none): live events only.
    const fresh: string[] = [];
    hub.subscribe(e => fresh.push(e.id), 'deadbeef-1');
    expect(fresh).toEqual([]);
    hub.close();
  });
});
