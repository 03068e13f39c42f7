import {
  eventStreamQuerySchema,
  matchesEventFilter,
  readServerSentEvents,
} from './events';

describe('eventStreamQuerySchema', () => {
  it('splits the filter and checks each name', () => {
    expect(
      eventStreamQuerySchema.parse({
        events: 'healthMonitor:*, deploymentManager:deploymentCompleted',
        timeoutMs: '500',
      }),
    ).toEqual({
      events: ['healthMonitor:*', 'deploymentManager:deploymentCompleted'],
      timeoutMs: 500,
    });
    expect(eventStreamQuerySchema.parse({ events: 'systemEvent' })).toEqual({
      events: ['systemEvent'],
    });
    expect(
      eventStreamQuerySchema.safeParse({ events: 'health:*' }).success,
    ).toBe(false);
    expect(eventStreamQuerySchema.safeParse({ events: ',' }).success).toBe(
      false,
    );
    expect(eventStreamQuerySchema.safeParse({ other: '1' }).success).toBe(
      false,
    );
  });
});

describe('matchesEventFilter', () => {
  it.each([
    ['healthMonitor:healthCheckFailed', undefined, true],
    ['healthMonitor:healthCheckFailed', ['healthMonitor:*'], true],
    ['healthMonitor:healthCheckFailed', ['systemEvent'], true],
    [
      'deploymentManager:deploymentCompleted',
      ['deploymentManager:deploymentCompleted'],
      true,
    ],
    ['deploymentManager:deploymentFailed', ['healthMonitor:*'], false],
    [
      'deploymentManager:deploymentFailed',
      ['deploymentManager:deploymentCompleted'],
      false,
    ],
  ])('%s with %j: %s', (name, patterns, expected) => {
    expect(matchesEventFilter(name, patterns)).toBe(expected);
  });
});

describe('readServerSentEvents', () => {
  it('reads messages split anywhere, skipping comments', async () => {
    const text =
      ': connected\nretry: 3000\n\nid: 1\nevent: a:b\ndata: {"x":\ndata: 1}\n\n: keep-alive\r\n\r\nevent: c:d\r\ndata: 2\r\n\r\npartial';
    const bytes = new TextEncoder().encode(text);
    // One byte at a time: a message may end in any chunk.
    const chunks = [...bytes].map(b => Uint8Array.of(b));
    const messages = [];
    for await (const m of readServerSentEvents(chunks)) messages.push(m);
    expect(messages).toEqual([
      { event: 'a:b', data: '{"x":\n1}', id: '1' },
      { event: 'c:d', data: '2' },
    ]);
  });
});
