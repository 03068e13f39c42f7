import { randomUUID } from 'node:crypto';
import knexFactory, { Knex } from 'knex';
import { Operation } from '@internal/plugin-lifecycle-common';
import { Replica, callReplica, startReplica } from '../dev/replicas';

jest.setTimeout(180_000);

const postgresUrl =
  process.env.BACKSTAGE_TEST_DATABASE_POSTGRES15_CONNECTION_STRING;
const describeWithPostgres = postgresUrl ? describe : describe.skip;

/**
 * Two real backend processes share one PostgreSQL database and its
 * operation queue. One is killed with SIGKILL while it runs operations;
 * the other takes them over. Each install's effect must happen exactly once.
 */
describeWithPostgres(
  'two backend replicas on one PostgreSQL (skipped when no PostgreSQL is configured)',
  () => {
    const prefix = `plt_mr_${randomUUID().slice(0, 8)}_`;
    const replicas: Replica[] = [];
    let db: Knex;

    afterAll(async () => {
      await Promise.all(replicas.map(r => r.kill('SIGTERM')));
      await db?.destroy();
      const admin = knexFactory({ client: 'pg', connection: postgresUrl });
      await admin
        .raw(`DROP DATABASE IF EXISTS "${prefix}plugin-lifecycle"`)
        .catch(() => {});
      await admin.destroy();
    });

    it('share the queue, and when one is killed the other finishes its operations exactly once', async () => {
      const common = {
        postgresUrl: postgresUrl!,
        databasePrefix: prefix,
        installMs: 400,
        orchestrator: { maxConcurrentOperations: 4, leaseDuration: 3000 },
      };
      // One after the other: on a fresh database, Backstage's own scheduler
      // migrations (backstage_backend_tasks) race when two backends create
      // them at once (a duplicate pg_type error), which is not what this
      // test is about. Each is kept for afterAll as soon as it runs.
      const a = await startReplica({ name: 'a', ...common });
      replicas.push(a);
      const b = await startReplica({ name: 'b', ...common });
      replicas.push(b);
      db = knexFactory({
        client: 'pg',
        connection: `${postgresUrl}/${prefix}plugin-lifecycle`,
      });

      const operationIds: string[] = [];
      for (let i = 0; i < 24; i++) {
        const res = await callReplica(
          i % 2 ? a : b,
          'POST',
          `/plugins/p-${i}/install`,
          {
            version: '1.0.0',
            runtime: 'recording',
            artifact: {
              type: 'external',
              endpoints: [{ host: '127.0.0.1', port: 9 }],
            },
          },
        );
        expect(res.status).toBe(202);
        operationIds.push(res.body.operationId);
      }

      // Kill replica a while it is in the middle of installs.
      const aPid = `${require('node:os').hostname()}:${a.process.pid}`;
      for (let i = 0; i < 200; i++) {
        const [{ n }] = await db('recording_calls')
          .where({ replica: aPid })
          .whereNull('finished_ms')
          .count({ n: '*' });
        if (Number(n) >= 2) break;
        await new Promise(r => setTimeout(r, 25));
      }
      const killedAt = Date.now();
      await a.kill('SIGKILL');

      const finished: Operation[] = [];
      for (const id of operationIds) {
        for (let i = 0; ; i++) {
          const res = await callReplica(b, 'GET', `/operations/${id}`);
          expect(res.status).toBe(200);
          if (!['queued', 'running'].includes(res.body.status)) {
            finished.push(res.body);
            break;
          }
          if (i > 600)
            throw new Error(
              `operation ${id} did not finish: ${JSON.stringify(
                res.body,
              )}\n${b.output()}`,
            );
          await new Promise(r => setTimeout(r, 50));
        }
      }

      // Nothing lost: every operation succeeded and every plugin is installed.
      expect(
        finished
          .filter(o => o.status !== 'succeeded')
          .map(o => ({ ...o, replicaBOutput: b.output() })),
      ).toEqual([]);
      expect(finished).toHaveLength(operationIds.length);
      const states = await db('plugins').select('id', 'state');
      expect(states.every(p => p.state === 'installed')).toBe(true);
      expect(states).toHaveLength(24);

      // Nothing done twice: one effect per plugin.
      const effects = await db('recording_effects').select('plugin_id');
      expect(effects.map(e => e.plugin_id).sort()).toEqual(
        Array.from({ length: 24 }, (_, i) => `p-${i}`).sort(),
      );

      // Both replicas worked; a did nothing after it was killed; what a had
      // started and not finished was taken over by b (a second attempt).
      const calls = await db('recording_calls').select();
      const byReplica = new Set(calls.map(c => c.replica));
      expect(byReplica.size).toBe(2);
      expect(
        calls.filter(
          c => c.replica === aPid && Number(c.started_ms) > killedAt,
        ),
      ).toEqual([]);
      const cutOff = calls.filter(
        c => c.replica === aPid && c.finished_ms === null,
      );
      expect(cutOff.length).toBeGreaterThanOrEqual(1);
      for (const call of cutOff) {
        const op = finished[Number(call.plugin_id.slice(2))];
        expect(op.attempts).toBeGreaterThanOrEqual(2);
      }
      // and no install of one plugin ran on two replicas at the same time
      for (const [pluginId, group] of Object.entries(
        groupBy(calls, c => c.plugin_id),
      )) {
        const sorted = group.sort(
          (x, y) => Number(x.started_ms) - Number(y.started_ms),
        );
        for (let i = 1; i < sorted.length; i++) {
          const previous = sorted[i - 1];
          const previousEnd =
            previous.finished_ms === null
              ? killedAt
              : Number(previous.finished_ms);
          expect({
            pluginId,
            overlaps: Number(sorted[i].started_ms) < previousEnd,
          }).toEqual({ pluginId, overlaps: false });
        }
      }
    });
  },
);

function groupBy<T>(items: T[], key: (item: T) => string): Record<string, T[]> {
  const groups: Record<string, T[]> = {};
  for (const item of items) (groups[key(item)] ??= []).push(item);
  return groups;
}
