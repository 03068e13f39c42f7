import { createServer, Server as NetServer } from 'node:net';
import type { Server } from 'node:http';
import { createBackendModule } from '@backstage/backend-plugin-api';
import { mockCredentials } from '@backstage/backend-test-utils';
import { eventsServiceRef } from '@backstage/plugin-events-node';
import { Operation, StateTransition } from '@internal/plugin-lifecycle-common';
import request from 'supertest';
import {
  startLifecycleBackend,
  waitForOperation,
} from '../__testUtils__/testBackend';
import { findFreePort } from '../engines/runtime/freePort';
import { PLUGIN_LIFECYCLE_TOPIC } from '../events/SystemEvents';
import { PluginStore } from '../database/PluginStore';

jest.setTimeout(60_000);

const API = '/api/plugin-lifecycle';
const UNKNOWN_ID = '00000000-0000-0000-0000-000000000000';

/** An artifact someone else runs: no process, installs and starts at once. */
function external(port = 8080) {
  return { type: 'external', endpoints: [{ host: '127.0.0.1', port }] };
}

/** An install request of an external plugin depending on `dependencies` (^1.0.0). */
function installOf(dependencies: string[] = [], extra: object = {}) {
  return {
    version: '1.0.0',
    artifact: external(),
    ...(dependencies.length > 0
      ? {
          manifest: {
            dependencies: dependencies.map(pluginId => ({
              pluginId,
              range: '^1.0.0',
            })),
          },
        }
      : {}),
    ...extra,
  };
}

/** Requests against one backend as one user. */
function client(server: Server, auth: string) {
  return {
    post: (path: string, body: unknown = {}, headers: object = {}) =>
      request(server)
        .post(`${API}${path}`)
        .set('Authorization', auth)
        .set(headers as Record<string, string>)
        .send(body as object),
    get: (path: string) =>
      request(server).get(`${API}${path}`).set('Authorization', auth),
    wait: (operationId: string) => waitForOperation(server, auth, operationId),
    operation: async (operationId: string): Promise<Operation> => {
      const res = await request(server)
        .get(`${API}/operations/${operationId}`)
        .set('Authorization', auth);
      expect(res.status).toBe(200);
      return res.body;
    },
    history: async (pluginId: string): Promise<StateTransition[]> => {
      const res = await request(server)
        .get(`${API}/plugins/${pluginId}/history`)
        .set('Authorization', auth);
      expect(res.status).toBe(200);
      return res.body.items;
    },
  };
}

type Client = ReturnType<typeof client>;

/** The id of the plugin's (last) history entry that entered `state`. */
async function enteredAt(api: Client, pluginId: string, state: string) {
  const entry = (await api.history(pluginId))
    .filter(h => h.toState === state)
    .at(-1);
  if (!entry) throw new Error(`${pluginId} never entered ${state}`);
  return entry.id;
}

/** Queues a request and waits for its operation; expects a 202. */
async function run(api: Client, path: string, body: unknown = {}) {
  const res = await api.post(path, body);
  expect(res.status).toBe(202);
  return api.wait(res.body.operationId);
}

/** A TCP port nothing listens on until `open()`: a readiness gate we control. */
async function tcpGate() {
  const port = await findFreePort('127.0.0.1');
  let server: NetServer | undefined;
  return {
    port,
    open: () =>
      new Promise<void>((resolve, reject) => {
        server = createServer(socket => socket.destroy());
        server.once('error', reject);
        server.listen(port, '127.0.0.1', () => resolve());
      }),
    close: () =>
      new Promise<void>(resolve =>
        server ? server.close(() => resolve()) : resolve(),
      ),
  };
}

describe('plugin-lifecycle router: the operation queue', () => {
  let server: Server;
  let stop: () => Promise<void>;
  let api: Client;

  beforeAll(async () => {
    ({ server, stop } = await startLifecycleBackend({
      pluginId: 'sample',
      config: { orchestrator: { pollInterval: 20 } },
    }));
    api = client(server, mockCredentials.user.header());
  });

  afterAll(() => stop());

  describe('POST /operations/batch', () => {
    it('runs installs, starts and stops in dependency order', async () => {
      // a depends on b, b on c; given in the order a, b, c
      const installs = await api.post('/operations/batch', {
        operations: [
          {
            pluginId: 'chain-a',
            action: 'install',
            install: installOf(['chain-b']),
          },
          {
            pluginId: 'chain-b',
            action: 'install',
            install: installOf(['chain-c']),
          },
          { pluginId: 'chain-c', action: 'install', install: installOf() },
        ],
      });
      expect(installs.status).toBe(202);
      const { batchId, operations } = installs.body;
      expect(batchId).toMatch(/^[0-9a-f-]{36}$/);
      // in the order given, each waiting for its dependency's install
      const [a, b, c] = operations;
      expect(operations).toEqual([
        {
          operationId: a.operationId,
          pluginId: 'chain-a',
          type: 'install',
          status: 'queued',
          dependsOn: [b.operationId],
        },
        {
          operationId: b.operationId,
          pluginId: 'chain-b',
          type: 'install',
          status: 'queued',
          dependsOn: [c.operationId],
        },
        {
          operationId: c.operationId,
          pluginId: 'chain-c',
          type: 'install',
          status: 'queued',
          dependsOn: [],
        },
      ]);

      expect((await api.wait(a.operationId)).status).toBe('succeeded');
      const [opA, opB, opC] = await Promise.all(
        [a, b, c].map(o => api.operation(o.operationId)),
      );
      for (const op of [opA, opB, opC]) {
        expect(op).toMatchObject({ status: 'succeeded', batchId });
      }
      expect(opB.dependsOn).toEqual([c.operationId]);
      expect(Date.parse(opC.startedAt!)).toBeLessThanOrEqual(
        Date.parse(opB.startedAt!),
      );
      expect(Date.parse(opB.startedAt!)).toBeLessThanOrEqual(
        Date.parse(opA.startedAt!),
      );
      // history ids are global and increasing: each install began only
      // after its dependency was installed
      expect(await enteredAt(api, 'chain-c', 'installed')).toBeLessThan(
        await enteredAt(api, 'chain-b', 'installing'),
      );
      expect(await enteredAt(api, 'chain-b', 'installed')).toBeLessThan(
        await enteredAt(api, 'chain-a', 'installing'),
      );

      // starts go the same way
      const starts = await api.post('/operations/batch', {
        operations: ['chain-a', 'chain-b', 'chain-c'].map(pluginId => ({
          pluginId,
          action: 'start',
        })),
      });
      expect(starts.status).toBe(202);
      const [sa, sb, sc] = starts.body.operations;
      expect(starts.body.operations.map((o: any) => o.dependsOn)).toEqual([
        [sb.operationId],
        [sc.operationId],
        [],
      ]);
      expect((await api.wait(sa.operationId)).status).toBe('succeeded');
      expect(await enteredAt(api, 'chain-c', 'running')).toBeLessThan(
        await enteredAt(api, 'chain-b', 'starting'),
      );
      expect(await enteredAt(api, 'chain-b', 'running')).toBeLessThan(
        await enteredAt(api, 'chain-a', 'starting'),
      );

      // stops go the other way: dependents first, whatever the given order
      const stops = await api.post('/operations/batch', {
        operations: ['chain-c', 'chain-b', 'chain-a'].map(pluginId => ({
          pluginId,
          action: 'stop',
        })),
      });
      expect(stops.status).toBe(202);
      const [tc, tb, ta] = stops.body.operations;
      expect(stops.body.operations.map((o: any) => o.dependsOn)).toEqual([
        [tb.operationId],
        [ta.operationId],
        [],
      ]);
      expect((await api.wait(tc.operationId)).status).toBe('succeeded');
      for (const pluginId of ['chain-a', 'chain-b', 'chain-c']) {
        expect((await api.get(`/plugins/${pluginId}`)).body.state).toBe(
          'installed',
        );
      }
      expect(await enteredAt(api, 'chain-a', 'installed')).toBeLessThan(
        await enteredAt(api, 'chain-b', 'stopping'),
      );
      expect(await enteredAt(api, 'chain-b', 'installed')).toBeLessThan(
        await enteredAt(api, 'chain-c', 'stopping'),
      );
      const [stopA, stopB, stopC] = await Promise.all(
        [ta, tb, tc].map(o => api.operation(o.operationId)),
      );
      expect(Date.parse(stopA.startedAt!)).toBeLessThanOrEqual(
        Date.parse(stopB.startedAt!),
      );
      expect(Date.parse(stopB.startedAt!)).toBeLessThanOrEqual(
        Date.parse(stopC.startedAt!),
      );
    });

    it('looks up the plugins of a batch and creates the new ones together', async () => {
      const getMany = jest.spyOn(PluginStore.prototype, 'getMany');
      const createMany = jest.spyOn(PluginStore.prototype, 'createMany');
      const create = jest.spyOn(PluginStore.prototype, 'create');
      try {
        const ids = ['together-a', 'together-b', 'together-c'];
        const res = await api.post('/operations/batch', {
          operations: [
            ...ids.map(pluginId => ({
              pluginId,
              action: 'install',
              install: installOf(),
            })),
            { pluginId: 'together-a', action: 'start' },
          ],
        });
        expect(res.status).toBe(202);
        expect(getMany.mock.calls).toEqual([[[...ids, 'together-a']]]);
        expect(
          createMany.mock.calls.map(([inputs]) => inputs.map(i => i.id)),
        ).toEqual([ids]);
        expect(create).not.toHaveBeenCalled();
        for (const o of res.body.operations) {
          expect((await api.wait(o.operationId)).status).toBe('succeeded');
        }
      } finally {
        getMany.mockRestore();
        createMany.mockRestore();
        create.mockRestore();
      }
    });

    it('takes further actions on a plugin the batch installs', async () => {
      const res = await api.post('/operations/batch', {
        operations: [
          { pluginId: 'fresh', action: 'install', install: installOf() },
          { pluginId: 'fresh', action: 'start' },
        ],
      });
      expect(res.status).toBe(202);
      const [install, start] = res.body.operations;
      expect(start.dependsOn).toEqual([install.operationId]);
      expect((await api.wait(start.operationId)).status).toBe('succeeded');
      expect((await api.get('/plugins/fresh')).body.state).toBe('running');

      // but not before it
      const early = await api.post('/operations/batch', {
        operations: [
          { pluginId: 'fresh-early', action: 'start' },
          { pluginId: 'fresh-early', action: 'install', install: installOf() },
        ],
      });
      expect(early.status).toBe(404);
      expect(early.body.error.message).toMatchInlineSnapshot(
        `"No plugin with id 'fresh-early' (operation 0)"`,
      );
      expect((await api.get('/plugins/fresh-early')).status).toBe(404);
    });

    it('answers 400 naming a dependency cycle and stores nothing', async () => {
      const res = await api.post('/operations/batch', {
        operations: [
          {
            pluginId: 'cycle-x',
            action: 'install',
            install: installOf(['cycle-y']),
          },
          {
            pluginId: 'cycle-y',
            action: 'install',
            install: installOf(['cycle-x']),
          },
        ],
      });
      expect(res.status).toBe(400);
      expect(res.body.error.name).toBe('InputError');
      expect(res.body.error.message).toMatchInlineSnapshot(
        `"Dependency cycle: cycle-x -> cycle-y -> cycle-x"`,
      );
      expect((await api.get('/plugins/cycle-x')).status).toBe(404);
      expect((await api.get('/plugins/cycle-y')).status).toBe(404);
    });

    it('answers 400 for malformed batches and 404 for an unknown plugin', async () => {
      const bad = async (body: unknown) => {
        const res = await api.post('/operations/batch', body);
        expect(res.status).toBe(400);
        expect(res.body.error.name).toBe('InputError');
        return res.body.error.message;
      };
      expect(await bad({ operations: [] })).toMatchInlineSnapshot(
        `"Invalid batch: operations: a batch needs at least one operation"`,
      );
      expect(await bad({})).toMatchInlineSnapshot(
        `"Invalid batch: operations: Invalid input: expected array, received undefined"`,
      );
      expect(
        await bad({ operations: [{ pluginId: 'p', action: 'explode' }] }),
      ).toMatchInlineSnapshot(
        `"Invalid batch: operations.0.action: Invalid option: expected one of "install"|"start"|"stop"|"restart"|"uninstall""`,
      );
      expect(
        await bad({ operations: [{ pluginId: 'p', action: 'install' }] }),
      ).toMatchInlineSnapshot(
        `"Invalid batch: operations.0.install: an install needs "install": { "version": ... }"`,
      );
      expect(
        await bad({
          operations: [
            { pluginId: 'p', action: 'start', install: { version: '1.0.0' } },
          ],
        }),
      ).toMatchInlineSnapshot(
        `"Invalid batch: operations.0.install: only an install takes "install", not a start"`,
      );
      expect(
        await bad({
          operations: [
            { pluginId: 'p', action: 'install', install: { version: 'one' } },
          ],
        }),
      ).toMatchInlineSnapshot(
        `"Invalid batch: operations.0.install.version: must be a semantic version such as 1.2.3"`,
      );
      expect(
        await bad([{ pluginId: 'p', action: 'start' }]),
      ).toMatchInlineSnapshot(
        `"Invalid batch: Invalid input: expected object, received array"`,
      );
      expect(
        await bad({ operations: 'start everything' }),
      ).toMatchInlineSnapshot(
        `"Invalid batch: operations: Invalid input: expected array, received string"`,
      );

      const unknown = await api.post('/operations/batch', {
        operations: [
          { pluginId: 'batch-known', action: 'install', install: installOf() },
          { pluginId: 'batch-unknown', action: 'start' },
        ],
      });
      expect(unknown.status).toBe(404);
      expect(unknown.body.error.message).toMatchInlineSnapshot(
        `"No plugin with id 'batch-unknown' (operation 1)"`,
      );
      // nothing of the refused batch was stored
      expect((await api.get('/plugins/batch-known')).status).toBe(404);
    });
  });

  describe('idempotency', () => {
    it('replays an install for the same Idempotency-Key header, also after it finished', async () => {
      const headers = { 'Idempotency-Key': 'install-idem-a' };
      const first = await api.post(
        '/plugins/idem-a/install',
        installOf(),
        headers,
      );
      expect(first.status).toBe(202);
      expect(first.body.replayed).toBeUndefined();
      expect((await api.wait(first.body.operationId)).status).toBe('succeeded');

      const again = await api.post(
        '/plugins/idem-a/install',
        installOf(),
        headers,
      );
      expect(again.status).toBe(202);
      expect(again.body).toEqual({
        operationId: first.body.operationId,
        pluginId: 'idem-a',
        type: 'install',
        status: 'succeeded',
        dependsOn: [],
        replayed: true,
      });
      // without the key the same install is a conflict: it is installed
      expect(
        (await api.post('/plugins/idem-a/install', installOf())).status,
      ).toBe(409);
      expect(await api.history('idem-a')).toHaveLength(2);
    });

    it('replays an install and a command for the same idempotencyKey in the body', async () => {
      const body = installOf([], { idempotencyKey: 'install-idem-b' });
      const first = await api.post('/plugins/idem-b/install', body);
      expect(first.status).toBe(202);
      const again = await api.post('/plugins/idem-b/install', body);
      expect(again.status).toBe(202);
      expect(again.body).toMatchObject({
        operationId: first.body.operationId,
        replayed: true,
      });
      await api.wait(first.body.operationId);

      const start = await api.post('/plugins/idem-b/start', {
        idempotencyKey: 'start-idem-b',
      });
      expect(start.status).toBe(202);
      expect((await api.wait(start.body.operationId)).status).toBe('succeeded');
      // running now, yet the retried request gets its answer, not a 409
      const startAgain = await api.post(
        '/plugins/idem-b/start',
        {},
        { 'Idempotency-Key': 'start-idem-b' },
      );
      expect(startAgain.status).toBe(202);
      expect(startAgain.body).toMatchObject({
        operationId: start.body.operationId,
        type: 'start',
        status: 'succeeded',
        replayed: true,
      });
    });

    it('replays a batch for the same key, in the order given', async () => {
      const batch = {
        operations: [
          {
            pluginId: 'idem-d',
            action: 'install',
            install: installOf(['idem-c']),
          },
          { pluginId: 'idem-c', action: 'install', install: installOf() },
        ],
      };
      const headers = { 'Idempotency-Key': 'batch-idem-cd' };
      const first = await api.post('/operations/batch', batch, headers);
      expect(first.status).toBe(202);
      await api.wait(first.body.operations[0].operationId);

      const again = await api.post('/operations/batch', batch, headers);
      expect(again.status).toBe(202);
      expect(again.body.replayed).toBe(true);
      expect(again.body.batchId).toBe(first.body.batchId);
      expect(again.body.operations).toEqual(
        first.body.operations.map((o: any) => ({ ...o, status: 'succeeded' })),
      );

      const inBody = await api.post('/operations/batch', {
        ...batch,
        idempotencyKey: 'batch-idem-cd',
      });
      expect(inBody.body).toMatchObject({
        batchId: first.body.batchId,
        replayed: true,
      });
    });
  });

  describe('POST /operations/{id}/cancel', () => {
    it('cancels a queued operation (and what waits for it), not a running or finished one', async () => {
      // The install starts the plugin and waits for its readiness probe on
      // a port nothing listens on yet: it runs until the gate opens.
      const gate = await tcpGate();
      try {
        const install = await api.post(
          '/plugins/gated/install',
          installOf([], {
            artifact: external(gate.port),
            healthProbes: [
              {
                name: 'gate',
                type: 'readiness',
                method: 'tcp',
                tcp: { port: gate.port },
              },
            ],
            start: true,
          }),
        );
        expect(install.status).toBe(202);
        const installId = install.body.operationId;
        for (let i = 0; i < 200; i++) {
          if ((await api.operation(installId)).status === 'running') break;
          await new Promise(r => setTimeout(r, 25));
        }
        expect((await api.operation(installId)).status).toBe('running');

        // a start of the same plugin waits behind the install
        const start = await api.post('/plugins/gated/start');
        expect(start.status).toBe(202);
        expect(start.body.status).toBe('queued');
        // and a batch of a stop then an uninstall waits behind both
        const batch = await api.post('/operations/batch', {
          operations: [
            { pluginId: 'gated', action: 'stop' },
            { pluginId: 'gated', action: 'uninstall' },
          ],
        });
        expect(batch.status).toBe(202);
        const [stopOp, uninstallOp] = batch.body.operations;
        expect(uninstallOp.dependsOn).toEqual([stopOp.operationId]);

        const cancelled = await api.post(
          `/operations/${start.body.operationId}/cancel`,
        );
        expect(cancelled.status).toBe(200);
        expect(cancelled.body).toMatchObject({
          id: start.body.operationId,
          status: 'cancelled',
          error: 'cancelled by user:default/mock',
          attempts: 0,
        });

        const stopCancelled = await api.post(
          `/operations/${stopOp.operationId}/cancel`,
        );
        expect(stopCancelled.status).toBe(200);
        expect(await api.operation(uninstallOp.operationId)).toMatchObject({
          status: 'cancelled',
          error: `dependency ${stopOp.operationId} was cancelled`,
          attempts: 0,
        });

        const running = await api.post(`/operations/${installId}/cancel`);
        expect(running.status).toBe(409);
        expect(
          running.body.error.message.replace(installId, '<id>'),
        ).toMatchInlineSnapshot(
          `"Operation '<id>' is running; only a queued operation can be cancelled"`,
        );

        await gate.open();
        expect((await api.wait(installId)).status).toBe('succeeded');
        expect((await api.get('/plugins/gated')).body.state).toBe('running');
        // nothing cancelled ran
        for (const id of [
          start.body.operationId,
          stopOp.operationId,
          uninstallOp.operationId,
        ]) {
          const op = await api.operation(id);
          expect(op.status).toBe('cancelled');
          expect(op.startedAt).toBeUndefined();
        }
        expect(
          (await api.history('gated')).map(h => `${h.fromState}->${h.toState}`),
        ).toEqual([
          'inactive->installing',
          'installing->installed',
          'installed->starting',
          'starting->running',
        ]);

        const finished = await api.post(`/operations/${installId}/cancel`);
        expect(finished.status).toBe(409);
        expect(
          finished.body.error.message.replace(installId, '<id>'),
        ).toMatchInlineSnapshot(
          `"Operation '<id>' is succeeded; only a queued operation can be cancelled"`,
        );
        const twice = await api.post(
          `/operations/${start.body.operationId}/cancel`,
        );
        expect(twice.status).toBe(409);
        expect(twice.body.error.message).toMatch(/is cancelled;/);
      } finally {
        await gate.close();
      }
    });

    it('answers 404 for an unknown operation', async () => {
      const res = await api.post(`/operations/${UNKNOWN_ID}/cancel`);
      expect(res.status).toBe(404);
      expect(res.body.error.message).toMatchInlineSnapshot(
        `"No operation with id '00000000-0000-0000-0000-000000000000'"`,
      );
    });

    it('cancels the dependents of a failed operation', async () => {
      // lonely needs a plugin that does not exist, so its start fails
      const installs = await api.post('/operations/batch', {
        operations: [
          {
            pluginId: 'lonely',
            action: 'install',
            install: installOf(['missing-dep']),
          },
          {
            pluginId: 'needs-lonely',
            action: 'install',
            install: installOf(['lonely']),
          },
        ],
      });
      expect(installs.status).toBe(202);
      await api.wait(installs.body.operations[1].operationId);

      const starts = await api.post('/operations/batch', {
        operations: [
          { pluginId: 'needs-lonely', action: 'start' },
          { pluginId: 'lonely', action: 'start' },
        ],
      });
      expect(starts.status).toBe(202);
      const [dependent, failing] = starts.body.operations;
      expect(dependent.dependsOn).toEqual([failing.operationId]);

      const cancelled = await api.wait(dependent.operationId);
      const failed = await api.operation(failing.operationId);
      expect(failed).toMatchObject({ status: 'failed', attempts: 1 });
      expect(failed.error).toMatchInlineSnapshot(
        `"Cannot start 'lonely': 'missing-dep' is not installed"`,
      );
      expect(cancelled).toMatchObject({ status: 'cancelled', attempts: 0 });
      expect(cancelled.error).toBe(
        `dependency ${failing.operationId} (start lonely) failed`,
      );
      expect((await api.get('/plugins/needs-lonely')).body.state).toBe(
        'installed',
      );
    });
  });

  describe('preconditions', () => {
    it('fails a start while a dependency is not running, and a stop while a dependent runs unless cascading', async () => {
      expect(
        (await run(api, '/plugins/pre-c/install', installOf())).status,
      ).toBe('succeeded');
      expect(
        (await run(api, '/plugins/pre-b/install', installOf(['pre-c']))).status,
      ).toBe('succeeded');

      const start = await run(api, '/plugins/pre-b/start');
      expect(start).toMatchObject({ status: 'failed', attempts: 1 });
      expect(start.error).toMatchInlineSnapshot(
        `"Cannot start 'pre-b': 'pre-c' is installed, it must be running"`,
      );
      expect((await api.get('/plugins/pre-b')).body.state).toBe('installed');

      expect((await run(api, '/plugins/pre-c/start')).status).toBe('succeeded');
      expect((await run(api, '/plugins/pre-b/start')).status).toBe('succeeded');

      const refused = await run(api, '/plugins/pre-c/stop');
      expect(refused).toMatchObject({ status: 'failed', attempts: 1 });
      expect(refused.error).toMatchInlineSnapshot(
        `"Cannot stop 'pre-c': 'pre-b' depends on it and is running; stop it first or ask for cascade"`,
      );
      expect((await api.get('/plugins/pre-c')).body.state).toBe('running');

      const cascade = await api.post(
        '/plugins/pre-c/stop',
        { cascade: true },
        { 'Idempotency-Key': 'cascade-pre-c' },
      );
      expect(cascade.status).toBe(202);
      expect(cascade.body).toMatchObject({ pluginId: 'pre-c', type: 'stop' });
      const stopC = await api.wait(cascade.body.operationId);
      expect(stopC.status).toBe('succeeded');
      expect(stopC.dependsOn).toHaveLength(1);
      expect(await api.operation(stopC.dependsOn![0])).toMatchObject({
        pluginId: 'pre-b',
        type: 'stop',
        status: 'succeeded',
        batchId: stopC.batchId,
      });
      expect((await api.get('/plugins/pre-b')).body.state).toBe('installed');
      expect((await api.get('/plugins/pre-c')).body.state).toBe('installed');
      expect(await enteredAt(api, 'pre-b', 'installed')).toBeLessThan(
        await enteredAt(api, 'pre-c', 'stopping'),
      );
      // a retry gets the stop of pre-c again, not the cascaded stop of pre-b
      const retried = await api.post(
        '/plugins/pre-c/stop',
        { cascade: true },
        { 'Idempotency-Key': 'cascade-pre-c' },
      );
      expect(retried.status).toBe(202);
      expect(retried.body).toMatchObject({
        operationId: cascade.body.operationId,
        pluginId: 'pre-c',
        replayed: true,
      });
    });
  });
});

describe('plugin-lifecycle router: tenancy', () => {
  let server: Server;
  let stop: () => Promise<void>;
  let alice: Client;
  let bob: Client;

  beforeAll(async () => {
    ({ server, stop } = await startLifecycleBackend({
      pluginId: 'sample',
      config: {
        orchestrator: { pollInterval: 20 },
        tenancy: {
          enabled: true,
          tenants: {
            'team-a': {
              members: ['user:default/alice'],
              quota: { maxPlugins: 1 },
            },
            'team-b': { members: ['user:default/bob'] },
          },
        },
      },
    }));
    alice = client(server, mockCredentials.user.header('user:default/alice'));
    bob = client(server, mockCredentials.user.header('user:default/bob'));
  });

  afterAll(() => stop());

  it("keeps a tenant's plugins and operations from other tenants", async () => {
    const install = await alice.post('/plugins/p-a/install', installOf());
    expect(install.status).toBe(202);
    const op = await alice.wait(install.body.operationId);
    expect(op).toMatchObject({ status: 'succeeded', tenant: 'team-a' });
    expect((await alice.get('/plugins/p-a')).body).toMatchObject({
      tenant: 'team-a',
      state: 'installed',
    });
    expect(
      (await alice.get('/plugins')).body.items.map((p: any) => p.id),
    ).toEqual(['p-a']);

    for (const res of [
      await bob.get('/plugins/p-a'),
      await bob.get('/plugins/p-a/history'),
      await bob.get(`/operations/${install.body.operationId}`),
      await bob.post(`/operations/${install.body.operationId}/cancel`),
      await bob.post('/plugins/p-a/start'),
      await bob.post('/operations/batch', {
        operations: [{ pluginId: 'p-a', action: 'start' }],
      }),
    ]) {
      expect(res.status).toBe(404);
      expect(res.body.error.name).toBe('NotFoundError');
    }
    expect((await bob.get('/plugins')).body.items).toEqual([]);
    const taken = await bob.post('/plugins/p-a/install', installOf());
    expect(taken.status).toBe(409);
    expect(taken.body.error.message).toMatchInlineSnapshot(
      `"Plugin id 'p-a' is taken"`,
    );
  });

  it("refuses installs over the tenant's quota and into another tenant", async () => {
    const overQuota = await alice.post('/plugins/p-a2/install', installOf());
    expect(overQuota.status).toBe(403);
    expect(overQuota.body.error.message).toMatchInlineSnapshot(
      `"Cannot install 'p-a2': tenant 'team-a': tenant quota maxPlugins exceeded: 1 in use + 1 requested > 1"`,
    );

    const otherTenant = await alice.post(
      '/plugins/p-a3/install',
      installOf([], { tenant: 'team-b' }),
    );
    expect(otherTenant.status).toBe(403);
    expect(otherTenant.body.error.message).toMatchInlineSnapshot(
      `"You may not manage plugins of tenant 'team-b'"`,
    );

    // a batch is held to the same rules
    const batchOverQuota = await alice.post('/operations/batch', {
      operations: [
        { pluginId: 'p-a4', action: 'install', install: installOf() },
      ],
    });
    expect(batchOverQuota.status).toBe(403);
    expect(batchOverQuota.body.error.message).toMatchInlineSnapshot(
      `"Cannot install 'p-a4': tenant 'team-a': tenant quota maxPlugins exceeded: 1 in use + 1 requested > 1"`,
    );

    const batchOtherTenant = await bob.post('/operations/batch', {
      operations: [
        { pluginId: 'p-b1', action: 'install', install: installOf() },
        {
          pluginId: 'p-b2',
          action: 'install',
          install: installOf([], { tenant: 'team-a' }),
        },
      ],
    });
    expect(batchOtherTenant.status).toBe(403);
    expect(batchOtherTenant.body.error.message).toMatchInlineSnapshot(
      `"You may not manage plugins of tenant 'team-a'"`,
    );

    for (const id of ['p-a2', 'p-a3', 'p-a4', 'p-b1', 'p-b2']) {
      expect((await alice.get(`/plugins/${id}`)).status).toBe(404);
      expect((await bob.get(`/plugins/${id}`)).status).toBe(404);
    }
  });
});

describe('plugin-lifecycle router: circuit breaker', () => {
  it('refuses actions on a plugin once it failed failureThreshold times in a row', async () => {
    const opened: unknown[] = [];
    const listener = createBackendModule({
      pluginId: 'plugin-lifecycle',
      moduleId: 'queue-test-events',
      register(env) {
        env.registerInit({
          deps: { events: eventsServiceRef },
          async init({ events }) {
            await events.subscribe({
              id: 'queue-test',
              topics: [PLUGIN_LIFECYCLE_TOPIC],
              async onEvent({ eventPayload }) {
                const { event, payload } = eventPayload as any;
                if (event === 'circuitOpened') opened.push(payload);
              },
            });
          },
        });
      },
    });
    const backend = await startLifecycleBackend({
      pluginId: 'sample',
      config: {
        orchestrator: {
          pollInterval: 20,
          maxAttempts: 1,
          circuitBreaker: { failureThreshold: 2, coolDown: 60_000 },
        },
        runtime: { process: { readyTimeout: 1000, stopGracePeriod: 1000 } },
      },
      features: [listener],
    });
    try {
      const api = client(backend.server, mockCredentials.user.header());
      // 2.0.0 never gets ready: the install's start fails, and so does a start
      const install = await run(api, '/plugins/sample/install', {
        version: '2.0.0',
        start: true,
      });
      expect(install).toMatchObject({ status: 'failed', attempts: 1 });
      expect(install.error).toMatch(/did not pass its readiness probe/);
      expect(opened).toEqual([]);
      const start = await run(api, '/plugins/sample/start');
      expect(start).toMatchObject({ status: 'failed', attempts: 1 });

      // the breaker is recorded just after the operation ends
      for (let i = 0; i < 100 && opened.length === 0; i++) {
        await new Promise(r => setTimeout(r, 20));
      }
      expect(opened).toEqual([{ pluginId: 'sample', consecutiveFailures: 2 }]);
      const refused = await api.post('/plugins/sample/start');
      expect(refused.status).toBe(409);
      expect(refused.body.error.name).toBe('ConflictError');
      expect(
        refused.body.error.message.replace(
          /\d{4}-\d\d-\d\dT[\d:.]+Z/,
          '<time>',
        ),
      ).toMatchInlineSnapshot(
        `"Cannot start plugin 'sample': circuit open after 2 consecutive failures; retry after <time>"`,
      );
      expect((await api.get('/plugins/sample')).body.state).toBe('error');
    } finally {
      await backend.stop();
    }
  });
});
