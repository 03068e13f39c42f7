import { mockCredentials } from '@backstage/backend-test-utils';
import { PluginDetails } from '@internal/plugin-lifecycle-common';
import request from 'supertest';
import { isProcessAlive } from './__testUtils__/sampleArtifacts';
import {
  startLifecycleBackend,
  waitForOperation,
} from './__testUtils__/testBackend';

jest.setTimeout(120_000);

/**
 * The restart policy with the real sample service: instances SIGKILLed
 * under requests are replaced while the plugin stays running, all of them
 * come back, and a crash loop stops at its budget with the state visible.
 */
describe('crashed instances are replaced (restart policy)', () => {
  let server: Awaited<ReturnType<typeof startLifecycleBackend>>['server'];
  let stop: () => Promise<void>;
  const auth = mockCredentials.user.header('user:default/alice');
  const api = (path: string) => `/api/plugin-lifecycle${path}`;

  beforeAll(async () => {
    ({ server, stop } = await startLifecycleBackend({
      pluginId: 'crashy',
      config: {
        orchestrator: { defaultTimeout: 30_000 },
        runtime: {
          process: { readyTimeout: 10_000, stopGracePeriod: 3_000 },
          restartPolicy: {
            backoffBase: 200,
            backoffMax: 400,
            maxRestarts: 3,
            window: 600_000,
          },
        },
      },
    }));
  });

  afterAll(() => stop());

  async function getPlugin(): Promise<PluginDetails> {
    const res = await request(server)
      .get(api('/plugins/crashy'))
      .set('Authorization', auth);
    expect(res.status).toBe(200);
    return res.body;
  }

  const live = (p: PluginDetails) =>
    p.instances.filter(i => i.status === 'running');

  async function eventually<T>(
    what: string,
    fn: () => Promise<T | undefined>,
  ): Promise<T> {
    for (let i = 0; i < 300; i++) {
      const value = await fn();
      if (value !== undefined) return value;
      await new Promise(r => setTimeout(r, 100));
    }
    throw new Error(`never: ${what}`);
  }

  it('replaces one killed instance of two, then all of them, and stops a crash loop at its budget', async () => {
    const installed = await request(server)
      .post(api('/plugins/crashy/install'))
      .set('Authorization', auth)
      .send({ version: '1.0.0', replicas: 2, start: true });
    expect(installed.status).toBe(202);
    expect(
      await waitForOperation(server, auth, installed.body.operationId),
    ).toMatchObject({ status: 'succeeded' });
    const before = live(await getPlugin());
    expect(before).toHaveLength(2);

    // One of two: the other keeps serving; the plugin never leaves running.
    const [victim, survivor] = before;
    process.kill(victim.pid!, 'SIGKILL');
    const states = new Set<string>();
    const replaced = await eventually('one replacement', async () => {
      const p = await getPlugin();
      states.add(p.state);
      const now = live(p);
      return now.length === 2 && !now.some(i => i.id === victim.id)
        ? p
        : undefined;
    });
    expect([...states]).toEqual(['running']);
    expect(live(replaced).map(i => i.id)).toContain(survivor.id);
    expect(isProcessAlive(survivor.pid!)).toBe(true);
    expect(replaced.endedInstances.find(i => i.id === victim.id)).toMatchObject(
      {
        status: 'crashed',
      },
    );
    expect(replaced.restarts).toMatchObject({
      crashes: 1,
      maxRestarts: 3,
      crashLoop: false,
    });
    const served = await fetch(
      `http://127.0.0.1:${live(replaced)[0].port}/health`,
    );
    expect(served.status).toBe(200);

    // Every instance: both come back.
    for (const instance of live(replaced)) {
      process.kill(instance.pid!, 'SIGKILL');
    }
    const back = await eventually('both back', async () => {
      const p = await getPlugin();
      return live(p).length === 2 &&
        live(p).every(i => !live(replaced).some(r => r.id === i.id))
        ? p
        : undefined;
    });
    expect(back.state).toBe('running');
    expect(back.restarts.crashes).toBe(3);

    // A fourth crash is past the budget of 3: a crash loop, the plugin in error.
    process.kill(live(back)[0].pid!, 'SIGKILL');
    const looped = await eventually('error', async () => {
      const p = await getPlugin();
      return p.state === 'error' ? p : undefined;
    });
    expect(looped.restarts).toMatchObject({ crashes: 4, crashLoop: true });
    expect(looped.lastError).toMatch(
      /crash loop: 4 crashes within 600 s, restart budget of 3 spent/,
    );
    const history = await request(server)
      .get(api('/plugins/crashy/history'))
      .set('Authorization', auth);
    expect(history.body.items.at(-1)).toMatchObject({
      fromState: 'running',
      toState: 'error',
      action: 'crash',
    });
  });

  it('answers 409 for a restart of an instance that is already stopped', async () => {
    const stopped = await request(server)
      .post(api('/plugins/crashy/stop'))
      .set('Authorization', auth)
      .send({});
    expect(stopped.status).toBe(202);
    await waitForOperation(server, auth, stopped.body.operationId);
    const someStopped = (await getPlugin()).endedInstances.find(
      i => i.status === 'stopped',
    )!;
    expect(someStopped).toBeDefined();
    const res = await request(server)
      .post(api('/plugins/crashy/restart'))
      .set('Authorization', auth)
      .send({ instanceId: someStopped.id });
    expect(res.status).toBe(409);
    expect(res.body.error.message).toBe(
      `Instance '${someStopped.id}' of plugin 'crashy' is stopped: there is nothing to replace`,
    );
  });
});
