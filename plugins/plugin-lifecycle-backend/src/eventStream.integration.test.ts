import { AddressInfo } from 'node:net';
import {
  mockCredentials,
  mockServices,
  startTestBackend,
} from '@backstage/backend-test-utils';
import {
  PluginLifecycleClient,
  PluginLifecycleStreamEvent,
} from '@internal/plugin-lifecycle-common';
import { pluginLifecyclePlugin } from './plugin';
import { waitForOperation } from './__testUtils__/testBackend';
import { makeTempDir } from './__testUtils__/sampleArtifacts';

jest.setTimeout(120_000);

const ALICE = 'user:default/alice';
const BOB = 'user:default/bob';
const ADMIN = 'user:default/admin';

/**
 * `GET /events` through a real backend, read with the -common client over
 * real HTTP: each user hears the events of its own tenant's plugins only.
 */
describe('GET /events', () => {
  let stop: () => Promise<void>;
  let baseUrl: string;
  let server: import('node:http').Server;

  beforeAll(async () => {
    const backend = await startTestBackend({
      features: [
        pluginLifecyclePlugin,
        mockServices.rootConfig.factory({
          data: {
            pluginLifecycle: {
              dataDir: makeTempDir('plugin-lifecycle-events-'),
              shutdown: { stopInstances: true },
              tenancy: {
                enabled: true,
                admins: [ADMIN],
                tenants: {
                  'team-a': { members: [ALICE] },
                  'team-b': { members: [BOB] },
                },
              },
            },
          },
        }),
      ],
    });
    server = backend.server;
    stop = () => backend.stop();
    baseUrl = `http://127.0.0.1:${
      (backend.server.address() as AddressInfo).port
    }/api/plugin-lifecycle`;
  });

  afterAll(async () => {
    await stop?.();
  });

  const clientOf = (user: string) =>
    new PluginLifecycleClient({
      discoveryApi: { getBaseUrl: async () => baseUrl },
      fetchApi: {
        fetch: (input, init) => {
          const headers = new Headers(init?.headers);
          headers.set('Authorization', mockCredentials.user.header(user));
          return fetch(input, { ...init, headers });
        },
      },
    });

  /** Reads a user's stream into a list until aborted. */
  async function listen(user: string, events?: string[]) {
    const abort = new AbortController();
    const heard: PluginLifecycleStreamEvent[] = [];
    let opened!: () => void;
    const open = new Promise<void>(r => (opened = r));
    const done = (async () => {
      for await (const event of clientOf(user).streamEvents({
        events,
        signal: abort.signal,
        onOpen: opened,
      })) {
        heard.push(event);
      }
    })();
    await open;
    return {
      heard,
      stop: async () => {
        abort.abort();
        await done;
      },
    };
  }

  async function install(user: string, pluginId: string) {
    const accepted = await clientOf(user).installPlugin(pluginId, {
      version: '1.0.0',
      artifact: {
        type: 'external',
        endpoints: [{ host: '127.0.0.1', port: 9, protocol: 'http' }],
      },
    });
    const done = await waitForOperation(
      server,
      mockCredentials.user.header(user),
      accepted.operationId,
    );
    expect(done.status).toBe('succeeded');
    return accepted.operationId;
  }

  const pluginOf = (e: PluginLifecycleStreamEvent) =>
    (e.payload as { pluginId?: string }).pluginId;

  it('streams to each user the events of the plugins it may read', async () => {
    const alice = await listen(ALICE);
    const bob = await listen(BOB);
    const admin = await listen(ADMIN, ['orchestrator:operationCompleted']);

    const opA = await install(ALICE, 'events-a');
    const opB = await install(BOB, 'events-b');

    const completed = (
      l: { heard: PluginLifecycleStreamEvent[] },
      op: string,
    ) =>
      l.heard.some(
        e =>
          e.name === 'orchestrator:operationCompleted' &&
          (e.payload as { operationId: string }).operationId === op,
      );
    for (let i = 0; i < 200; i++) {
      if (
        completed(alice, opA) &&
        completed(bob, opB) &&
        completed(admin, opA) &&
        completed(admin, opB)
      ) {
        break;
      }
      await new Promise(r => setTimeout(r, 50));
    }
    await Promise.all([alice.stop(), bob.stop(), admin.stop()]);

    expect(completed(alice, opA)).toBe(true);
    expect(completed(bob, opB)).toBe(true);
    // Each user hears its own plugin's lifecycle, never the other tenant's.
    expect(new Set(alice.heard.map(pluginOf))).toEqual(new Set(['events-a']));
    expect(new Set(bob.heard.map(pluginOf))).toEqual(new Set(['events-b']));
    expect(alice.heard.map(e => e.name)).toEqual(
      expect.arrayContaining([
        'orchestrator:operationQueued',
        'stateMachine:stateChanged',
        'orchestrator:operationCompleted',
      ]),
    );
    // The admin reads every tenant, and only the events it asked for.
    expect(new Set(admin.heard.map(pluginOf))).toEqual(
      new Set(['events-a', 'events-b']),
    );
    expect(new Set(admin.heard.map(e => e.name))).toEqual(
      new Set(['orchestrator:operationCompleted']),
    );
  });

  it('answers a filter naming no event with a 400 naming it', async () => {
    const res = await fetch(`${baseUrl}/events?events=health:*`, {
      headers: { Authorization: mockCredentials.user.header(ALICE) },
    });
    expect(res.status).toBe(400);
    expect((await res.json()).error.message).toMatch(
      /^Invalid query: events.0: must be systemEvent/,
    );
  });
});
