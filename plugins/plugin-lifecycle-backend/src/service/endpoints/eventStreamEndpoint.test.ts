import { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { MiddlewareFactory } from '@backstage/backend-defaults/rootHttpRouter';
import { mockServices } from '@backstage/backend-test-utils';
import { NotAllowedError } from '@backstage/errors';
import { readServerSentEvents } from '@internal/plugin-lifecycle-common';
import express from 'express';
import Router from 'express-promise-router';
import { SystemEvents } from '../../events/SystemEvents';
import { HeldRequests } from '../HeldRequests';
import { EndpointContext } from './EndpointContext';
import { bindEventStreamEndpoint } from './eventStreamEndpoint';

const plugins: Record<string, { id: string; tenant: string }> = {
  'plugin-a': { id: 'plugin-a', tenant: 'team-a' },
  'plugin-b': { id: 'plugin-b', tenant: 'team-b' },
};

describe('GET /events', () => {
  const events = new SystemEvents();
  const shutdown = new AbortController();
  const heldRequests = HeldRequests.create({ maxPerCaller: 2, maxTotal: 10 });
  let server: Server;
  let baseUrl: string;

  beforeAll(async () => {
    const app = express();
    const router = Router();
    const system = {
      on: (name: any, listener: any) => events.on(name, listener),
      off: (name: any, listener: any) => events.off(name, listener),
      findPluginRecord: async (id: string) => plugins[id],
    } as unknown as EndpointContext['system'];
    bindEventStreamEndpoint(router, {
      system,
      shutdown: shutdown.signal,
      heldRequests,
      heartbeatMs: 50,
      // The header says who calls: `team-a`, `team-b`, or `nobody` (403).
      authorize: async () => {
        throw new Error('not used');
      },
      authorizeList: async req => {
        const who = req.header('x-test-caller') ?? 'nobody';
        if (who === 'nobody') throw new NotAllowedError('Not allowed: read');
        return {
          actor: `user:default/${who}`,
          scope: { tenants: [who] },
          filter: async items => items,
          unconditional: true,
        };
      },
      audited: async () => {
        throw new Error('not used');
      },
    });
    app.use(router);
    app.use(
      MiddlewareFactory.create({
        config: mockServices.rootConfig(),
        logger: mockServices.logger.mock(),
      }).error(),
    );
    server = app.listen(0);
    await new Promise(r => server.once('listening', r));
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    shutdown.abort();
    await new Promise(r => server.close(r));
  });

  /** Opens a stream and reads it raw (comments too) until `until` holds. */
  async function open(caller: string, query = '') {
    const abort = new AbortController();
    const res = await fetch(`${baseUrl}/events${query}`, {
      headers: { 'x-test-caller': caller },
      signal: abort.signal,
    });
    let raw = '';
    const decoder = new TextDecoder();
    const reader = res.body!.getReader();
    const readUntil = async (until: (text: string) => boolean) => {
      while (!until(raw)) {
        const { done, value } = await reader.read();
        if (done) return { ended: true, raw };
        raw += decoder.decode(value, { stream: true });
      }
      return { ended: false, raw };
    };
    return { res, readUntil, close: () => abort.abort() };
  }

  it('refuses a caller without read, and a bad filter', async () => {
    const denied = await fetch(`${baseUrl}/events`);
    expect(denied.status).toBe(403);
    const bad = await fetch(`${baseUrl}/events?events=nope:x`, {
      headers: { 'x-test-caller': 'team-a' },
    });
    expect(bad.status).toBe(400);
    expect((await bad.json()).error.message).toContain('events');
  });

  it("streams the events of the caller's tenants, filtered, with heartbeats", async () => {
    const stream = await open(
      'team-a',
      '?events=orchestrator:*,deploymentManager:deploymentCompleted',
    );
    expect(stream.res.status).toBe(200);
    expect(stream.res.headers.get('content-type')).toBe('text/event-stream');
    await stream.readUntil(t => t.includes(': connected'));

    events.publish('orchestrator', 'circuitOpened', {
      pluginId: 'plugin-b',
      consecutiveFailures: 3,
    });
    events.publish('stateMachine', 'stateChanged', {
      pluginId: 'plugin-a',
      from: 'installed',
      to: 'starting',
      revision: 1,
    });
    events.publish('orchestrator', 'circuitOpened', {
      pluginId: 'plugin-a',
      consecutiveFailures: 3,
    });
    const { raw } = await stream.readUntil(
      t => t.includes('circuitOpened') && t.includes(': keep-alive'),
    );
    stream.close();
    const messages: any[] = [];
    for await (const m of readServerSentEvents([
      new TextEncoder().encode(raw),
    ])) {
      messages.push({ event: m.event, id: m.id, data: JSON.parse(m.data) });
    }
    // plugin-b is another tenant's; stateMachine:* is not asked for.
    expect(messages).toEqual([
      {
        event: 'orchestrator:circuitOpened',
        id: expect.any(String),
        data: expect.objectContaining({
          name: 'orchestrator:circuitOpened',
          component: 'orchestrator',
          event: 'circuitOpened',
          payload: { pluginId: 'plugin-a', consecutiveFailures: 3 },
          at: expect.any(String),
        }),
      },
    ]);
  });

  it('counts streams against held requests and releases them at close', async () => {
    const first = await open('team-b');
    const second = await open('team-b');
    await first.readUntil(t => t.includes(': connected'));
    await second.readUntil(t => t.includes(': connected'));
    const third = await fetch(`${baseUrl}/events`, {
      headers: { 'x-test-caller': 'team-b' },
    });
    expect(third.status).toBe(429);
    first.close();
    second.close();
    for (
      let i = 0;
      i < 100 && heldRequests.heldBy('user:default/team-b');
      i++
    ) {
      await new Promise(r => setTimeout(r, 10));
    }
    expect(heldRequests.heldBy('user:default/team-b')).toBe(0);
  });

  it('replays what a client missed when it reconnects with Last-Event-ID', async () => {
    const first = await open('team-a', '?events=orchestrator:*');
    await first.readUntil(t => t.includes(': connected'));
    events.publish('orchestrator', 'circuitOpened', {
      pluginId: 'plugin-a',
      consecutiveFailures: 1,
    });
    const { raw } = await first.readUntil(t => t.includes('circuitOpened'));
    first.close();
    const lastId = /^id: (.+)$/m.exec(raw)![1];
    // While nobody listens.
    events.publish('orchestrator', 'circuitOpened', {
      pluginId: 'plugin-a',
      consecutiveFailures: 2,
    });
    const abort = new AbortController();
    const res = await fetch(`${baseUrl}/events?events=orchestrator:*`, {
      headers: { 'x-test-caller': 'team-a', 'Last-Event-ID': lastId },
      signal: abort.signal,
    });
    const messages: any[] = [];
    for await (const m of readServerSentEvents(res.body!)) {
      messages.push(JSON.parse(m.data));
      break;
    }
    abort.abort();
    expect(messages).toEqual([
      expect.objectContaining({
        payload: { pluginId: 'plugin-a', consecutiveFailures: 2 },
      }),
    ]);
  });

  it('ends streams after timeoutMs and at shutdown', async () => {
    const timed = await open('team-a', '?timeoutMs=100');
    expect((await timed.readUntil(() => false)).ended).toBe(true);
    const stream = await open('team-a');
    await stream.readUntil(t => t.includes(': connected'));
    shutdown.abort();
    expect((await stream.readUntil(() => false)).ended).toBe(true);
  });
});
