import { ConflictError } from '@backstage/errors';
import { createTestDatabases } from '../__testUtils__/databases';
import { fairOrder } from '../domain/orchestration';
import { applyDatabaseMigrations } from './migrations';
import { Coalescer, NewOperation, OperationStore } from './OperationStore';

jest.setTimeout(60_000);

const databases = createTestDatabases();
const T0 = Date.parse('2026-11-25T12:00:00Z');
const LEASE = 10_000;

let counter = 0;
function op(pluginId: string, extra: Partial<NewOperation> = {}): NewOperation {
  counter += 1;
  return {
    id: `op-${counter}`,
    pluginId,
    tenant: 'default',
    type: 'start',
    params: {},
    timeoutMs: 60_000,
    maxAttempts: 3,
    ...extra,
  };
}

describe.each(databases.eachSupportedId())(
  'OperationStore on %s',
  databaseId => {
    async function createStore() {
      const knex = await databases.init(databaseId);
      await applyDatabaseMigrations({ getClient: async () => knex });
      return { store: OperationStore.create({ db: knex }), knex };
    }
    const claim = (
      store: OperationStore,
      owner = 'replica-a',
      limit = 100,
      now = T0,
    ) => store.claim({ owner, limit, leaseMs: LEASE, now });

    it('persists operations before they run and returns the same one for a repeated idempotency key', async () => {
      const { store } = await createStore();
      const first = await store.enqueue(
        [
          op('p1', {
            idempotencyKey: 'k1',
            actor: 'user:default/a',
            params: { v: 1 },
          }),
        ],
        T0,
      );
      expect(first.created).toBe(true);
      expect(first.operations[0]).toMatchObject({
        status: 'queued',
        attempts: 0,
        params: { v: 1 },
        priority: 0,
        maxAttempts: 3,
      });
      const again = await store.enqueue(
        [op('p1', { idempotencyKey: 'k1' })],
        T0 + 5,
      );
      expect(again.created).toBe(false);
      expect(again.operations.map(o => o.id)).toEqual([first.operations[0].id]);
      // the same key in another tenant is another operation
      const other = await store.enqueue(
        [op('p9', { idempotencyKey: 'k1', tenant: 'other' })],
        T0,
      );
      expect(other.created).toBe(true);
    });

    it('claims in priority order, one operation per plugin, oldest first within a plugin', async () => {
      const { store } = await createStore();
      await store.enqueue(
        [op('a', { id: 'a1' }), op('a', { id: 'a2', priority: 50 })],
        T0,
      );
      await store.enqueue([op('b', { id: 'b1', priority: 10 })], T0);
      await store.enqueue([op('c', { id: 'c1', priority: -5 })], T0);

      const first = await claim(store, 'replica-a', 2);
      // a2 has the highest priority but waits behind a1 (same plugin, older)
      expect(first.map(o => o.id)).toEqual(['b1', 'a1']);
      expect(first[0]).toMatchObject({
        status: 'running',
        attempts: 1,
        leaseOwner: 'replica-a',
      });
      expect(first[0].leaseExpiresAt).toBe(new Date(T0 + LEASE).toISOString());

      expect((await claim(store)).map(o => o.id)).toEqual(['c1']); // a2 waits for a1
      expect(
        await store.finish(
          'a1',
          'replica-a',
          { status: 'succeeded', result: { ok: true } },
          T0,
        ),
      ).toBe(true);
      expect((await claim(store)).map(o => o.id)).toEqual(['a2']);
      expect(await store.get('a1')).toMatchObject({
        status: 'succeeded',
        result: { ok: true },
      });
    });

    it('lets tenants take turns: 1,000 queued for one tenant do not starve another', async () => {
      const { store } = await createStore();
      const many = Array.from({ length: 1000 }, (_, i) =>
        op(`a-${i}`, { tenant: 'tenant-a' }),
      );
      await store.enqueue(many, T0);
      await store.enqueue(
        [op('b-0', { id: 'b-only', tenant: 'tenant-b' })],
        T0,
      );
      const claimed = await claim(store, 'replica-a', 4);
      expect(claimed).toHaveLength(4);
      expect(claimed.slice(0, 2).map(o => o.id)).toContain('b-only');
    });

    it('orders claims as the pure fairness rule does', async () => {
      const { store } = await createStore();
      const ops: NewOperation[] = [];
      for (let i = 0; i < 60; i++) {
        ops.push(
          op(`plugin-${i}`, {
            tenant: `t${i % 3 === 0 ? 0 : i % 5}`,
            priority: (i * 7) % 4,
          }),
        );
      }
      const stored = (await store.enqueue(ops, T0)).operations;
      const expected = fairOrder(
        stored.map(o => ({
          id: o.id,
          tenant: o.tenant,
          priority: o.priority,
          seq: o.seq,
        })),
      );
      const claimed = await claim(store, 'replica-a', 60);
      expect(claimed.map(o => o.id)).toEqual(expected.map(o => o.id));
    });

    it('runs an operation only once everything it depends on succeeded, and cancels what waits on a failure', async () => {
      const { store } = await createStore();
      await store.enqueue(
        [
          op('db', { id: 'install-db', batchId: 'b1' }),
          op('api', {
            id: 'install-api',
            batchId: 'b1',
            dependsOn: ['install-db'],
          }),
          op('ui', {
            id: 'install-ui',
            batchId: 'b1',
            dependsOn: ['install-api'],
          }),
          op('docs', { id: 'install-docs', batchId: 'b1' }),
        ],
        T0,
      );
      expect((await store.get('install-ui')).dependsOn).toEqual([
        'install-api',
      ]);
      expect((await claim(store)).map(o => o.id).sort()).toEqual([
        'install-db',
        'install-docs',
      ]);
      await store.finish(
        'install-db',
        'replica-a',
        { status: 'succeeded' },
        T0,
      );
      expect((await claim(store)).map(o => o.id)).toEqual(['install-api']);
      await store.finish(
        'install-api',
        'replica-a',
        { status: 'failed', error: 'boom' },
        T0,
      );
      expect(
        await store.cancelDependents('install-api', 'dependency failed', T0),
      ).toEqual(['install-ui']);
      expect(await store.get('install-ui')).toMatchObject({
        status: 'cancelled',
        error: 'dependency failed',
      });
      expect((await store.listBatch('b1')).map(o => o.status)).toEqual([
        'succeeded',
        'failed',
        'cancelled',
        'running',
      ]);
    });

    it('puts a retried operation back in the queue until its next attempt is due', async () => {
      const { store } = await createStore();
      await store.enqueue([op('p', { id: 'r1' })], T0);
      await claim(store);
      await store.finish(
        'r1',
        'replica-a',
        { status: 'retry', error: 'flaky', retryAt: T0 + 5000 },
        T0,
      );
      expect(await store.get('r1')).toMatchObject({
        status: 'queued',
        error: 'flaky',
        attempts: 1,
      });
      expect(await claim(store, 'replica-a', 10, T0 + 4999)).toEqual([]);
      expect(
        (await claim(store, 'replica-a', 10, T0 + 5000)).map(o => [
          o.id,
          o.attempts,
        ]),
      ).toEqual([['r1', 2]]);
    });

    it('only the lease owner records an outcome; expired leases go back to the queue', async () => {
      const { store } = await createStore();
      await store.enqueue([op('p', { id: 'l1' }), op('q', { id: 'l2' })], T0);
      await claim(store, 'replica-a');
      expect(
        await store.renewLeases('replica-a', ['l1'], T0 + 2 * LEASE),
      ).toEqual(['l1']);
      expect(
        await store.renewLeases('replica-b', ['l1'], T0 + 2 * LEASE),
      ).toEqual([]);

      // l2's lease (T0 + LEASE) runs out; l1's was renewed
      expect(await store.reclaimExpired(T0 + LEASE + 1)).toEqual({
        requeued: ['l2'],
        failed: [],
      });
      expect(await store.get('l2')).toMatchObject({
        status: 'queued',
        error: expect.stringMatching(/lease of replica-a expired/),
      });
      expect(
        await store.finish('l2', 'replica-a', { status: 'succeeded' }, T0),
      ).toBe(false);
      const taken = await claim(store, 'replica-b', 10, T0 + LEASE + 2);
      expect(taken.map(o => [o.id, o.attempts, o.leaseOwner])).toEqual([
        ['l2', 2, 'replica-b'],
      ]);
      expect(
        await store.finish('l2', 'replica-b', { status: 'succeeded' }, T0),
      ).toBe(true);
    });

    it('records outcomes that come in at the same moment, each only with its lease', async () => {
      const { store } = await createStore();
      await store.enqueue(
        Array.from({ length: 12 }, (_, i) => op(`m${i}`, { id: `m${i}` })),
        T0,
      );
      expect(await claim(store, 'replica-a', 12)).toHaveLength(12);
      const outcomes = await Promise.all(
        Array.from({ length: 12 }, (_, i) => {
          const id = `m${i}`;
          if (i === 11) {
            // not this replica's lease
            return store.finish(id, 'replica-b', { status: 'succeeded' }, T0);
          }
          switch (i % 3) {
            case 0:
              return store.finish(
                id,
                'replica-a',
                { status: 'succeeded', result: { i } },
                T0 + 1,
              );
            case 1:
              return store.finish(
                id,
                'replica-a',
                { status: 'failed', error: `boom ${i}` },
                T0 + 2,
              );
            default:
              return store.finish(
                id,
                'replica-a',
                { status: 'retry', error: `flaky ${i}`, retryAt: T0 + 500 },
                T0 + 3,
              );
          }
        }),
      );
      expect(outcomes).toEqual([...Array(11).fill(true), false]);
      const stored = await Promise.all(
        Array.from({ length: 11 }, (_, i) => store.get(`m${i}`)),
      );
      expect(
        stored.map(o => ({
          status: o.status,
          result: o.result,
          error: o.error,
          finishedAt: o.finishedAt,
          nextAttemptAt: o.nextAttemptAt,
          leaseOwner: o.leaseOwner,
        })),
      ).toEqual(
        Array.from({ length: 11 }, (_, i) => {
          const queuedAt = new Date(T0).toISOString();
          if (i % 3 === 0) {
            return {
              status: 'succeeded',
              result: { i },
              error: undefined,
              finishedAt: new Date(T0 + 1).toISOString(),
              nextAttemptAt: queuedAt,
              leaseOwner: undefined,
            };
          }
          if (i % 3 === 1) {
            return {
              status: 'failed',
              result: undefined,
              error: `boom ${i}`,
              finishedAt: new Date(T0 + 2).toISOString(),
              nextAttemptAt: queuedAt,
              leaseOwner: undefined,
            };
          }
          return {
            status: 'queued',
            result: undefined,
            error: `flaky ${i}`,
            finishedAt: undefined,
            nextAttemptAt: new Date(T0 + 500).toISOString(),
            leaseOwner: undefined,
          };
        }),
      );
      expect(await store.get('m11')).toMatchObject({
        status: 'running',
        leaseOwner: 'replica-a',
      });
      // the same operation twice at once: recorded once
      expect(
        await Promise.all([
          store.finish('m11', 'replica-a', { status: 'succeeded' }, T0),
          store.finish('m11', 'replica-a', { status: 'succeeded' }, T0),
        ]),
      ).toEqual([true, false]);
    });

    it('keeps the order of a batch in the queue and its dependencies', async () => {
      const { store } = await createStore();
      const batch = Array.from({ length: 30 }, (_, i) =>
        op(i % 2 ? 'same' : `p${i}`, {
          id: `b${i}`,
          batchId: 'batch',
          dependsOn: i > 0 ? [`b${i - 1}`] : undefined,
        }),
      );
      const { operations } = await store.enqueue(batch, T0);
      expect(operations.map(o => o.id)).toEqual(batch.map(o => o.id));
      const seqs = operations.map(o => o.seq);
      expect([...seqs].sort((a, b) => a - b)).toEqual(seqs);
      expect(operations[3].dependsOn).toEqual(['b2']);
      expect((await store.get('b3')).dependsOn).toEqual(['b2']);
      expect((await store.listBatch('batch')).map(o => o.id)).toEqual(
        batch.map(o => o.id),
      );
    });

    it('tells which plugins have an operation queued or running', async () => {
      const { store } = await createStore();
      await store.enqueue([op('a'), op('b'), op('c', { id: 'c1' })], T0);
      await claim(store, 'replica-a', 1); // a runs
      await store.cancel('c1', 'no', T0);
      expect(
        [...(await store.withUnfinished(['a', 'b', 'c', 'd']))].sort(),
      ).toEqual(['a', 'b']);
      expect(await store.withUnfinished([])).toEqual(new Set());
    });

    it('cancels only queued operations', async () => {
      const { store } = await createStore();
      await store.enqueue([op('p', { id: 'c1' }), op('p', { id: 'c2' })], T0);
      await claim(store);
      await expect(store.cancel('c1', 'no', T0)).rejects.toThrow(ConflictError);
      await expect(store.cancel('c1', 'no', T0)).rejects.toThrow(
        "Operation 'c1' is running; only a queued operation can be cancelled",
      );
      expect(await store.cancel('c2', 'changed my mind', T0)).toMatchObject({
        status: 'cancelled',
        error: 'changed my mind',
      });
      await expect(store.cancel('nope', 'x', T0)).rejects.toThrow(
        "No operation with id 'nope'",
      );
    });

    it('never gives one operation to two claimers at once', async () => {
      const { store } = await createStore();
      await store.enqueue(
        Array.from({ length: 200 }, (_, i) => op(`p${i % 50}`)),
        T0,
      );
      const seen = new Map<string, string>();
      for (let round = 0; round < 10; round++) {
        const [a, b] = await Promise.all([
          claim(store, 'replica-a', 20),
          claim(store, 'replica-b', 20),
        ]);
        const running = [...a, ...b];
        expect(new Set(running.map(o => o.id)).size).toBe(running.length);
        expect(new Set(running.map(o => o.pluginId)).size).toBe(running.length);
        for (const o of running) {
          expect(seen.has(o.id)).toBe(false);
          seen.set(o.id, o.leaseOwner!);
          await store.finish(o.id, o.leaseOwner!, { status: 'succeeded' }, T0);
        }
      }
      expect(seen.size).toBe(200);
    });
  },
);

describe('Coalescer', () => {
  it('sends what is asked in one event loop turn as one statement, same keys apart', async () => {
    const statements: string[][] = [];
    const coalescer = new Coalescer<string, string>({
      run: async items => {
        statements.push(items);
        return items.map(i => i.toUpperCase());
      },
      key: item => item[0],
    });
    const results = await Promise.all(
      ['a1', 'b1', 'a2', 'c1'].map(i => coalescer.submit(i)),
    );
    expect(results).toEqual(['A1', 'B1', 'A2', 'C1']);
    expect(statements).toEqual([['a1', 'b1', 'c1'], ['a2']]);
  });

  it('answers each request alone when the server refuses a shared statement', async () => {
    const statements: number[][] = [];
    const coalescer = new Coalescer<number, number>({
      run: async items => {
        statements.push(items);
        if (items.includes(2)) {
          throw Object.assign(new Error('check violation'), { code: '23514' });
        }
        return items.map(i => i * 10);
      },
    });
    const results = await Promise.allSettled(
      [1, 2, 3].map(i => coalescer.submit(i)),
    );
    expect(results).toEqual([
      { status: 'fulfilled', value: 10 },
      { status: 'rejected', reason: expect.any(Error) },
      { status: 'fulfilled', value: 30 },
    ]);
    expect(statements).toEqual([[1, 2, 3], [1], [2], [3]]);
  });

  it('does not run again what may have run when the connection failed', async () => {
    let calls = 0;
    const coalescer = new Coalescer<number, number>({
      run: async () => {
        calls += 1;
        throw Object.assign(new Error('Connection terminated'), {
          code: 'ECONNRESET',
        });
      },
    });
    const results = await Promise.allSettled(
      [1, 2].map(i => coalescer.submit(i)),
    );
    expect(results.map(r => r.status)).toEqual(['rejected', 'rejected']);
    expect(calls).toBe(1);
  });
});
