import {
  createBackendModule,
  createServiceFactory,
} from '@backstage/backend-plugin-api';
import { mockCredentials } from '@backstage/backend-test-utils';
import { eventsServiceRef } from '@backstage/plugin-events-node';
import {
  SignalPayload,
  SignalsService,
  signalsServiceRef,
} from '@backstage/plugin-signals-node';
import {
  PLUGIN_LIFECYCLE_FLEET_CHANNEL,
  PLUGIN_LIFECYCLE_NOTICE_CHANNEL,
  PluginLifecycleNotice,
  PluginLifecycleSignal,
  pluginLifecycleSignalChannel,
} from '@internal/plugin-lifecycle-common';
import request from 'supertest';
import {
  startLifecycleBackend,
  updateAndWait,
  waitForOperation,
} from './__testUtils__/testBackend';

jest.setTimeout(180_000);

const PLUGIN = 'sample-http-service';
const ALICE = 'user:default/alice';
const auth = mockCredentials.user.header(ALICE);
const api = (path: string) => `/api/plugin-lifecycle${path}`;
const WINDOW_MS = 200;

/**
 * What the plugin hands to Backstage's signals service. The signals
 * transport (events service, signals backend, websocket) is Backstage's
 * boundary: the test records what crosses it, as the real service would
 * receive it.
 */
class RecordingSignals implements SignalsService {
  readonly published: Array<SignalPayload & { receivedAt: number }> = [];
  async publish(signal: SignalPayload) {
    this.published.push({ ...signal, receivedAt: Date.now() });
  }
  on(channel: string) {
    return this.published.filter(s => s.channel === channel);
  }
}

describe('live updates of the UI through Backstage signals', () => {
  const recorder = new RecordingSignals();
  let server: Awaited<ReturnType<typeof startLifecycleBackend>>['server'];
  let stop: () => Promise<void>;

  beforeAll(async () => {
    ({ server, stop } = await startLifecycleBackend({
      pluginId: PLUGIN,
      config: {
        runtime: {
          process: { readyTimeout: 3_000, stopGracePeriod: 5_000 },
          restartPolicy: { maxRestarts: 0 },
        },
      },
      features: [
        createServiceFactory({
          service: signalsServiceRef,
          deps: {},
          factory: () => recorder,
        }),
      ],
    }));
  });

  afterAll(async () => {
    await stop();
  });

  async function act(action: string, body: object = {}) {
    const res = await request(server)
      .post(api(`/plugins/${PLUGIN}/${action}`))
      .set('Authorization', auth)
      .send(body);
    expect(res.status).toBe(202);
    return waitForOperation(server, auth, res.body.operationId);
  }

  /** Waits for the trailing signals of the last burst. */
  const settle = () => new Promise(r => setTimeout(r, WINDOW_MS * 2));

  it('signals what an operation changed on the plugin and fleet channels, and tells the user who started it that it ended', async () => {
    const installed = await act('install', { version: '1.0.0' });
    expect(installed.status).toBe('succeeded');
    await settle();

    const plugin = recorder.on(pluginLifecycleSignalChannel(PLUGIN));
    const fleet = recorder.on(PLUGIN_LIFECYCLE_FLEET_CHANNEL);
    expect(plugin.map(s => (s.message as any).kind)).toEqual(
      expect.arrayContaining(['operation', 'state']),
    );
    // The fleet channel hears the same, message for message.
    expect(fleet.map(s => s.message)).toEqual(plugin.map(s => s.message));
    for (const signal of plugin) {
      // Everyone hears that something changed, and nothing more.
      expect(signal.recipients).toEqual({ type: 'broadcast' });
      const message = signal.message as unknown as PluginLifecycleSignal;
      expect(Object.keys(message).sort()).toEqual(
        expect.arrayContaining(['at', 'kind', 'pluginId']),
      );
      expect(
        Object.keys(message).every(k =>
          ['at', 'kind', 'pluginId', 'operationId', 'deploymentId'].includes(k),
        ),
      ).toBe(true);
      expect(message.pluginId).toBe(PLUGIN);
      expect(new Date(message.at).toISOString()).toBe(message.at);
    }
    // The last operation signal is about the install, sent after it ended.
    const operationSignals = plugin.filter(
      s => (s.message as any).kind === 'operation',
    );
    expect(operationSignals.at(-1)!.message).toMatchObject({
      operationId: installed.id,
    });
    expect(operationSignals.at(-1)!.receivedAt).toBeGreaterThanOrEqual(
      Date.parse(installed.finishedAt!),
    );

    const notices = recorder.on(PLUGIN_LIFECYCLE_NOTICE_CHANNEL);
    expect(notices).toEqual([
      {
        recipients: { type: 'user', entityRef: ALICE },
        channel: PLUGIN_LIFECYCLE_NOTICE_CHANNEL,
        message: {
          kind: 'operation',
          pluginId: PLUGIN,
          operationId: installed.id,
          what: 'install',
          version: '1.0.0',
          outcome: 'succeeded',
          ok: true,
          at: expect.any(String),
        } satisfies PluginLifecycleNotice,
        receivedAt: expect.any(Number),
      },
    ]);
  });

  it('coalesces a burst: at most one signal per plugin and kind per 200 ms, the last one after the burst', async () => {
    const channel = pluginLifecycleSignalChannel(PLUGIN);
    const before = recorder.on(channel).length;
    const started = Date.now();
    // The layer has no version yet: nothing was configured at install.
    let version = 0;
    const changes = 12;
    for (let i = 0; i < changes; i++) {
      const res = await request(server)
        .put(api(`/plugins/${PLUGIN}/config/production`))
        .set('Authorization', auth)
        .send({
          entries: [{ key: 'greeting', value: `hello ${i}`, type: 'string' }],
          expectedVersion: version,
        });
      expect(`${res.status} ${res.text}`).toMatch(/^201 /);
      version = res.body.version.version;
    }
    const burstMs = Date.now() - started;
    await settle();

    const signals = recorder
      .on(channel)
      .slice(before)
      .filter(s => (s.message as any).kind === 'configuration');
    expect(signals.length).toBeGreaterThanOrEqual(1);
    // The first at once, then at most one per window (and one trailing).
    expect(signals.length).toBeLessThanOrEqual(
      Math.min(changes, 2 + Math.floor(burstMs / WINDOW_MS)),
    );
    for (let i = 1; i < signals.length; i++) {
      expect(
        Date.parse((signals[i].message as any).at) -
          Date.parse((signals[i - 1].message as any).at),
      ).toBeGreaterThanOrEqual(WINDOW_MS - 5);
    }
    // The UI hears of the last change: a signal came after the last write.
    expect(signals.at(-1)!.receivedAt).toBeGreaterThanOrEqual(
      started + burstMs - WINDOW_MS,
    );
  });

  it('signals a rollout as deployment changes and tells who started it how it ended, not the update operation that handed it over', async () => {
    const noticesBefore = recorder.on(PLUGIN_LIFECYCLE_NOTICE_CHANNEL).length;
    expect((await act('start')).status).toBe('succeeded');

    const good = await updateAndWait(server, auth, PLUGIN, {
      version: '1.1.0',
    });
    expect(good.deployment?.phase).toBe('succeeded');
    const broken = await updateAndWait(server, auth, PLUGIN, {
      version: '2.0.0',
    });
    expect(broken.deployment?.phase).toBe('rolled-back');
    await settle();

    const deploymentSignals = recorder
      .on(pluginLifecycleSignalChannel(PLUGIN))
      .map(s => s.message as unknown as PluginLifecycleSignal)
      .filter(m => m.kind === 'deployment');
    expect(deploymentSignals.map(m => m.deploymentId)).toEqual(
      expect.arrayContaining([good.deployment!.id, broken.deployment!.id]),
    );

    const notices = recorder
      .on(PLUGIN_LIFECYCLE_NOTICE_CHANNEL)
      .slice(noticesBefore)
      .map(s => ({ to: s.recipients, ...s.message }));
    expect(notices).toEqual([
      expect.objectContaining({ what: 'start', ok: true }),
      {
        to: { type: 'user', entityRef: ALICE },
        kind: 'deployment',
        pluginId: PLUGIN,
        deploymentId: good.deployment!.id,
        operationId: good.operation.id,
        what: 'update',
        version: '1.1.0',
        strategy: 'rolling',
        outcome: 'succeeded',
        ok: true,
        at: expect.any(String),
      },
      expect.objectContaining({
        kind: 'deployment',
        deploymentId: broken.deployment!.id,
        version: '2.0.0',
        outcome: 'rolled-back',
        ok: false,
        message: expect.stringContaining('did not become ready'),
      }),
    ]);

    expect((await act('stop')).status).toBe('succeeded');
  });
});

describe('without the signals backend plugin', () => {
  it('starts and runs operations; its signals go to the events service, where nobody listens', async () => {
    const heard: unknown[] = [];
    // Stands where the signals backend would subscribe.
    const listener = createBackendModule({
      pluginId: 'plugin-lifecycle',
      moduleId: 'test-signals-listener',
      register(env) {
        env.registerInit({
          deps: { events: eventsServiceRef },
          async init({ events }) {
            await events.subscribe({
              id: 'test-signals-listener',
              topics: ['signals'],
              onEvent: async event => {
                heard.push(event.eventPayload);
              },
            });
          },
        });
      },
    });
    const { server, stop } = await startLifecycleBackend({
      pluginId: PLUGIN,
      features: [listener],
    });
    try {
      const res = await request(server)
        .post(api(`/plugins/${PLUGIN}/install`))
        .set('Authorization', auth)
        .send({ version: '1.0.0' });
      expect(res.status).toBe(202);
      const op = await waitForOperation(server, auth, res.body.operationId);
      expect(op.status).toBe('succeeded');
      await new Promise(r => setTimeout(r, WINDOW_MS * 2));
      expect(heard).toEqual(
        expect.arrayContaining([
          expect.objectContaining({
            channel: pluginLifecycleSignalChannel(PLUGIN),
          }),
          expect.objectContaining({
            channel: PLUGIN_LIFECYCLE_NOTICE_CHANNEL,
            recipients: { type: 'user', entityRef: ALICE },
          }),
        ]),
      );
    } finally {
      await stop();
    }
  });
});
