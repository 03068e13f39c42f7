import { AddressInfo } from 'node:net';
import { mockCredentials } from '@backstage/backend-test-utils';
import request from 'supertest';
import {
  startLifecycleBackend,
  waitForOperation,
} from './__testUtils__/testBackend';

jest.setTimeout(60_000);

const mallory = mockCredentials.user.header('user:default/mallory');
const alice = mockCredentials.user.header('user:default/alice');
const api = (p: string) => `/api/plugin-lifecycle${p}`;

describe('bad input cannot make the backend do unbounded work', () => {
  let server: Awaited<ReturnType<typeof startLifecycleBackend>>['server'];
  let stop: () => Promise<void>;
  let base: string;

  beforeAll(async () => {
    ({ server, stop } = await startLifecycleBackend({
      pluginId: 'sample',
      config: {
        heldRequests: { maxPerCaller: 2, maxTotal: 3 },
        health: { probeLimits: { maxProbesPerPlugin: 3 } },
      },
    }));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const installed = await request(server)
      .post(api('/plugins/sample/install'))
      .set('Authorization', alice)
      .send({ version: '1.0.0' });
    const op = await waitForOperation(
      server,
      alice,
      installed.body.operationId,
    );
    if (op.status !== 'succeeded') {
      throw new Error(`installing sample failed: ${JSON.stringify(op)}`);
    }
  });

  afterAll(() => stop());

  /** A long-poll held open until `abort`; resolves with its status once answered. */
  function hold(authorization: string, path: string) {
    const abort = new AbortController();
    const answered = fetch(`${base}${api(path)}`, {
      headers: { authorization },
      signal: abort.signal,
    }).then(
      res => res.status,
      () => 'aborted' as const,
    );
    return { abort: () => abort.abort(), answered };
  }

  const watchPath = '/plugins/sample/config/production/watch?timeoutMs=30000';

  /** Polls until the backend holds `n` requests (each answers only when released). */
  async function untilHeld(held: Array<{ answered: Promise<unknown> }>) {
    // A held request has not answered; give each a moment to arrive.
    await new Promise(r => setTimeout(r, 300));
    const settled = await Promise.race([
      Promise.all(held.map(h => h.answered)).then(() => true),
      new Promise(r => setTimeout(() => r(false), 200)),
    ]);
    expect(settled).toBe(false);
  }

  it('answers a watch over the per-caller cap 429 at once, and not another caller', async () => {
    const held = [hold(mallory, watchPath), hold(mallory, watchPath)];
    await untilHeld(held);

    const third = await request(server)
      .get(api(watchPath))
      .set('Authorization', mallory);
    expect(third.status).toBe(429);
    expect(third.body.error).toMatchObject({
      name: 'TooManyRequestsError',
      message: expect.stringContaining(
        'pluginLifecycle.heldRequests.maxPerCaller',
      ),
    });
    // The same cap on an operation wait.
    const wait = await request(server)
      .get(
        api('/operations/00000000-0000-4000-8000-000000000000?waitSeconds=5'),
      )
      .set('Authorization', mallory);
    expect(wait.status).toBe(429);

    // Alice takes the last slot of the total; then nobody gets one.
    const alices = hold(alice, watchPath);
    await untilHeld([alices]);
    const overTotal = await request(server)
      .get(api(watchPath))
      .set('Authorization', alice);
    expect(overTotal.status).toBe(429);
    expect(overTotal.body.error.message).toContain(
      'pluginLifecycle.heldRequests.maxTotal',
    );
    // Requests that hold nothing are not held up.
    const plain = await request(server)
      .get(api('/plugins/sample'))
      .set('Authorization', mallory);
    expect(plain.status).toBe(200);

    // A caller that goes away frees its slot.
    held.forEach(h => h.abort());
    alices.abort();
    await Promise.all([...held, alices].map(h => h.answered));
    const again = hold(mallory, watchPath);
    await untilHeld([again]);
    again.abort();
    expect(await again.answered).toBe('aborted');
  });

  it('refuses a probe period under the floor and more probes than the cap, naming the key', async () => {
    const probe = {
      name: 'ready',
      type: 'readiness',
      method: 'http',
      http: { path: '/ready' },
    };
    const before = (
      await request(server)
        .get(api('/plugins/sample/health'))
        .set('Authorization', alice)
    ).body.probes;
    const answers = [];
    for (const [path, method, body] of [
      // ~560 probes a second from one probe.
      [
        '/plugins/sample/probes',
        'put',
        { probes: [{ ...probe, periodSeconds: 1e-9 }] },
      ],
      // Over the schema's floor, under app-config's (1 s by default).
      [
        '/plugins/sample/probes',
        'put',
        { probes: [{ ...probe, periodSeconds: 0.5 }] },
      ],
      [
        '/plugins/sample/probes',
        'put',
        { probes: [1, 2, 3, 4].map(i => ({ ...probe, name: `p${i}` })) },
      ],
      [
        '/plugins/sample/update',
        'post',
        {
          version: '1.1.0',
          healthProbes: [{ ...probe, periodSeconds: 0.2 }],
        },
      ],
      [
        '/plugins/other/install',
        'post',
        {
          version: '1.0.0',
          artifact: {
            type: 'external',
            endpoints: [{ host: '127.0.0.1', port: 9 }],
          },
          manifest: {
            probes: [1, 2, 3, 4].map(i => ({ ...probe, name: `p${i}` })),
          },
        },
      ],
    ] as const) {
      const res = await request(server)
        [method](api(path))
        .set('Authorization', alice)
        .send(body);
      answers.push(`${res.status} ${res.body.error?.message}`);
    }
    expect(answers).toMatchInlineSnapshot(`
      [
        "400 Invalid probes: probes.0.periodSeconds: must be at least 0.01 (seconds)",
        "400 Probe 'ready' of plugin 'sample' (its registered probes) has periodSeconds 0.5; it must be at least 1 (pluginLifecycle.health.probeLimits.minPeriodSeconds)",
        "400 Too many probes of plugin 'sample' (its registered probes): 4, at most 3 (pluginLifecycle.health.probeLimits.maxProbesPerPlugin)",
        "400 Probe 'ready' of plugin 'sample' (the update request) has periodSeconds 0.2; it must be at least 1 (pluginLifecycle.health.probeLimits.minPeriodSeconds)",
        "400 Too many probes of plugin 'other' (the install request): 4, at most 3 (pluginLifecycle.health.probeLimits.maxProbesPerPlugin)",
      ]
    `);
    expect(
      (
        await request(server)
          .get(api('/plugins/sample/health'))
          .set('Authorization', alice)
      ).body.probes,
    ).toEqual(before);
    expect(
      (
        await request(server)
          .get(api('/plugins/other'))
          .set('Authorization', alice)
      ).status,
    ).toBe(404);
  });

  it('pages plugins, history and operations with a cursor, and the defaults keep what callers saw', async () => {
    for (const id of ['paged-a', 'paged-b']) {
      const res = await request(server)
        .post(api(`/plugins/${id}/install`))
        .set('Authorization', alice)
        .send({
          version: '1.0.0',
          artifact: {
            type: 'external',
            endpoints: [{ host: '127.0.0.1', port: 9 }],
          },
        });
      expect(res.status).toBe(202);
      await waitForOperation(server, alice, res.body.operationId);
    }
    const get = async (path: string) => {
      const res = await request(server)
        .get(api(path))
        .set('Authorization', alice);
      expect(res.status).toBe(200);
      return res.body as { items: any[]; nextCursor?: string };
    };
    async function follow(path: string, key: (item: any) => unknown) {
      const seen: unknown[] = [];
      let page = await get(`${path}?limit=1`);
      for (;;) {
        expect(page.items.length).toBeLessThanOrEqual(1);
        seen.push(...page.items.map(key));
        if (!page.nextCursor) return seen;
        page = await get(
          `${path}?limit=1&cursor=${encodeURIComponent(page.nextCursor)}`,
        );
      }
    }

    const all = (await get('/plugins')).items.map(p => p.id);
    expect(all).toEqual(['paged-a', 'paged-b', 'sample']);
    expect(await follow('/plugins', p => p.id)).toEqual(all);

    const history = (await get('/plugins/sample/history')).items;
    expect(history.length).toBeGreaterThan(1);
    expect(await follow('/plugins/sample/history', t => t.id)).toEqual(
      history.map(t => t.id),
    );

    const operations = (await get('/plugins/sample/operations')).items;
    expect(operations.length).toBeGreaterThanOrEqual(1);
    expect(await follow('/plugins/sample/operations', o => o.id)).toEqual(
      operations.map(o => o.id),
    );

    const bad = await request(server)
      .get(api('/plugins?cursor=not-a-cursor'))
      .set('Authorization', alice);
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toBe(
      'Invalid query: cursor: not a cursor from an earlier page (use its nextCursor)',
    );
    const tooBig = await request(server)
      .get(api('/plugins?limit=1001'))
      .set('Authorization', alice);
    expect(tooBig.status).toBe(400);
  });
});
