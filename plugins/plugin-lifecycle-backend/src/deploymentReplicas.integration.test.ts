/*
 * Issue #12: two backend replicas on one PostgreSQL database advance one
 * canary together (both controllers run) without executing a step twice,
 * a rollout run by the replica that did not start the old instances stops
 * their processes (not only their records), and when the replica holding
 * the deployment's lease is SIGKILLed in the middle of a step, the other
 * finishes the rollout once the lease expires.
 * Real processes: the replicas (dev/replica.ts) and the sample service's
 * instances, sharing one data directory as replicas on one host do.
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import knexFactory, { Knex } from 'knex';
import { Deployment } from '@internal/plugin-lifecycle-common';
import { packSampleArtifacts } from './__testUtils__/sampleArtifacts';
import {
  Replica,
  callReplica,
  dropReplicaDatabase,
  eventually,
  getDeployment,
  getInstances,
  installSample,
  killJournaledGroups,
  sampleProcessesUnder,
  sampleReplicaConfig,
  startReplica,
} from './__testUtils__/rolloutReplicas';

jest.setTimeout(240_000);

const postgresUrl =
  process.env.BACKSTAGE_TEST_DATABASE_POSTGRES15_CONNECTION_STRING;
const describeWithPostgres = postgresUrl ? describe : describe.skip;
const LEASE_MS = 3000;
const REPLICAS = 3;
const CANARY_REPLICAS = 1;

/** A canary of several short steps: plan 0 scale(1), 1-6 weights and pauses, 7 scale(3), 8 weight 100, 9 finish. */
const CANARY = {
  version: '1.1.0',
  deploymentStrategy: 'CANARY',
  deploymentConfig: {
    canary: {
      canaryReplicas: CANARY_REPLICAS,
      steps: [
        { setWeight: 20 },
        { pause: { duration: 1000 } },
        { setWeight: 40 },
        { pause: { duration: 1000 } },
        { setWeight: 60 },
        { pause: { duration: 1000 } },
        { setWeight: 100 },
      ],
    },
  },
};

/** Colour codes of the replicas' log lines. */
const ANSI_COLOUR = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, 'g');

/** Lines `deployment <id> step <n> (<kind>) <outcome> on <replica>` the runner logs per decided execution. */
function executions(outputs: string[], deploymentId: string) {
  const pattern = new RegExp(
    `deployment ${deploymentId} step (\\d+) \\((\\w+)\\) (\\w+) on (\\S+)`,
    'g',
  );
  return outputs.flatMap(o =>
    [...o.matchAll(pattern)].map(m => ({
      step: Number(m[1]),
      kind: m[2],
      outcome: m[3],
      replica: m[4].replace(ANSI_COLOUR, ''),
    })),
  );
}

/**
 * Samples, every 50 ms until stopped, how many instances of the new
 * version are there (processes under the data directory, and active
 * instance rows) and which step the deployment is at.
 */
function sampleRollout(
  db: Knex,
  dataDir: string,
  pluginId: string,
  deploymentId: string,
) {
  const samples: Array<{ step: number; processes: number; rows: number }> = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      const [row] = await db('deployments')
        .where({ id: deploymentId })
        .select('current_step');
      const processes = sampleProcessesUnder(dataDir).filter(
        p => p.where.includes(pluginId) && p.where.includes('1.1.0'),
      ).length;
      const [{ n }] = await db('plugin_instances')
        .where({ plugin_id: pluginId, version: '1.1.0' })
        .whereIn('status', ['starting', 'running'])
        .count({ n: '*' });
      samples.push({
        step: Number(row?.current_step ?? -1),
        processes,
        rows: Number(n),
      });
      await new Promise(r => setTimeout(r, 50));
    }
  })();
  return {
    samples,
    stop: async () => {
      running = false;
      await loop;
      return samples;
    },
  };
}

describeWithPostgres(
  'two replicas on one PostgreSQL advance one canary (skipped when no PostgreSQL is configured)',
  () => {
    const prefix = `plt_dstep_${randomUUID().slice(0, 8)}_`;
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'plt-dstep-data-'));
    fs.chmodSync(dataDir, 0o711);
    const replicas: Replica[] = [];
    let artifactsDir: string | undefined;
    let db: Knex | undefined;

    afterAll(async () => {
      await Promise.all(replicas.map(r => r.kill('SIGKILL')));
      killJournaledGroups(dataDir);
      for (const p of sampleProcessesUnder(dataDir)) {
        try {
          process.kill(p.pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
      await db?.destroy();
      await dropReplicaDatabase(postgresUrl!, prefix);
      for (const dir of [dataDir, artifactsDir, ...replicas.map(r => r.dir)]) {
        if (dir) fs.rmSync(dir, { recursive: true, force: true });
      }
    });

    async function start(name: string, tarballTemplate: string) {
      const replica = await startReplica({
        name,
        postgresUrl: postgresUrl!,
        databasePrefix: prefix,
        env: { LOG_LEVEL: 'info' },
        outputLimit: 5_000_000,
        pluginLifecycle: {
          ...sampleReplicaConfig({
            pluginId: 'dstep-a',
            tarballTemplate,
            leaseDuration: LEASE_MS,
          }),
          plugins: Object.fromEntries(
            ['dstep-a', 'dstep-b', 'dstep-c'].map(id => [
              id,
              {
                artifact: {
                  type: 'tarball',
                  path: tarballTemplate.replace(
                    '${version}',
                    () => '$${version}',
                  ),
                },
              },
            ]),
          ),
          dataDir,
        },
      });
      replicas.push(replica);
      return replica;
    }

    async function update(replica: Replica, pluginId: string) {
      const res = await callReplica(
        replica,
        'POST',
        `/plugins/${pluginId}/update`,
        CANARY,
      );
      expect(res.status).toBe(202);
      return res.body.deploymentId as string;
    }

    async function ended(replica: Replica, id: string): Promise<Deployment> {
      return eventually(
        `deployment ${id} ends`,
        async () => {
          const d = await getDeployment(replica, id);
          return ['pending', 'progressing', 'paused'].includes(d.phase)
            ? undefined
            : d;
        },
        120_000,
        200,
      );
    }

    /** What the plan allows: at most the canary's instances of 1.1.0 until the final scale step (7) runs. */
    function expectWithinPlan(
      samples: Array<{ step: number; processes: number; rows: number }>,
    ) {
      const beforeScale = samples.filter(s => s.step >= 0 && s.step < 7);
      expect(beforeScale.length).toBeGreaterThan(10);
      expect(Math.max(...beforeScale.map(s => s.processes))).toBe(
        CANARY_REPLICAS,
      );
      expect(Math.max(...beforeScale.map(s => s.rows))).toBe(CANARY_REPLICAS);
      expect(Math.max(...samples.map(s => s.processes))).toBeLessThanOrEqual(
        REPLICAS,
      );
    }

    async function expectDone(
      replica: Replica,
      pluginId: string,
      d: Deployment,
    ) {
      expect({ phase: d.phase, message: d.message }).toEqual({
        phase: 'succeeded',
        message: expect.anything(),
      });
      expect(d.steps.map(s => s.status)).toEqual(
        d.steps.map(() => 'succeeded'),
      );
      const plugin = await getInstances(replica, pluginId);
      expect(plugin).toMatchObject({
        state: 'running',
        currentVersion: '1.1.0',
      });
      const serving = plugin.instances.filter(i => i.status === 'running');
      expect(serving.map(i => i.version)).toEqual(
        Array(REPLICAS).fill('1.1.0'),
      );
      let found: ReturnType<typeof sampleProcessesUnder> = [];
      const processes = await eventually(
        `only the ${REPLICAS} instances of ${pluginId} run`,
        () => {
          found = sampleProcessesUnder(dataDir).filter(p =>
            p.where.includes(`/${pluginId}/`),
          );
          return found.length === REPLICAS ? found : undefined;
        },
        20_000,
      ).catch(e => {
        throw new Error(
          `${e.message}: ${JSON.stringify(found)} instances ${JSON.stringify(
            serving,
          )}`,
        );
      });
      expect(processes.map(p => p.pid).sort()).toEqual(
        serving.map(i => i.pid).sort(),
      );
    }

    it('executes each step once while both controllers run, and the survivor finishes when the lease holder is killed', async () => {
      const artifacts = await packSampleArtifacts();
      artifactsDir = artifacts.dir;
      // One after the other: Backstage's own migrations race on a fresh database.
      const a = await start('dstep-a', artifacts.tarballTemplate);
      const b = await start('dstep-b', artifacts.tarballTemplate);
      db = knexFactory({
        client: 'pg',
        connection: `${postgresUrl}/${prefix}plugin-lifecycle`,
      });
      await installSample(a, 'dstep-a', REPLICAS);
      await installSample(b, 'dstep-b', REPLICAS);
      await installSample(a, 'dstep-c', REPLICAS);

      // 1. Both controllers run; the rollout goes through without a double step.
      const first = await update(b, 'dstep-a');
      const sampler = sampleRollout(db, dataDir, 'dstep-a', first);
      const done = await ended(a, first);
      expectWithinPlan(await sampler.stop());
      await expectDone(a, 'dstep-a', done);
      const ran = executions([a.output(), b.output()], first);
      const byStep = done.steps.map(s => ran.filter(r => r.step === s.index));
      // eslint-disable-next-line no-console
      console.log(
        `both replicas: steps executed by ${JSON.stringify(
          byStep.map(rs =>
            rs
              .map(r => (r.replica.includes(`:${a.process.pid}:`) ? 'a' : 'b'))
              .join(''),
          ),
        )}`,
      );
      expect(byStep.map(rs => rs.length)).toEqual(done.steps.map(() => 1));
      expect(byStep.map(rs => rs[0].outcome)).toEqual(
        done.steps.map(() => 'done'),
      );
      // The scale steps started exactly what was missing: three instances of 1.1.0 in all.
      const [{ n: started }] = await db('plugin_instances')
        .where({ plugin_id: 'dstep-a', version: '1.1.0' })
        .count({ n: '*' });
      expect(Number(started)).toBe(REPLICAS);

      // 2. The old instances were started by one replica and the rollout runs
      // on the other (the first is frozen): the other must stop them for good.
      const owners = new Set(
        (await getInstances(a, 'dstep-c')).instances.map(i => i.owner),
      );
      expect(owners.size).toBe(1);
      const starter = [a, b].find(r =>
        [...owners][0].includes(`:${r.process.pid}:`),
      )!;
      const rollout = starter === a ? b : a;
      starter.process.kill('SIGSTOP');
      let done3: Deployment;
      try {
        done3 = await ended(rollout, await update(rollout, 'dstep-c'));
        const finish = executions([rollout.output()], done3.id).filter(
          r => r.kind === 'finish',
        );
        expect(finish).toHaveLength(1);
        await expectDone(rollout, 'dstep-c', done3);
      } finally {
        starter.process.kill('SIGCONT');
      }

      // 3. The replica holding the lease is SIGKILLed in the middle of a scale step.
      const second = await update(a, 'dstep-b');
      const sampler2 = sampleRollout(db, dataDir, 'dstep-b', second);
      const holder = await eventually(
        'a replica holds the lease during a scale step',
        async () => {
          const row = await db!('deployments').where({ id: second }).first();
          if (!row?.lease_owner || row.phase !== 'progressing')
            return undefined;
          const step = JSON.parse(
            typeof row.steps === 'string'
              ? row.steps
              : JSON.stringify(row.steps),
          )[row.current_step];
          if (step?.kind !== 'scale' || step.status !== 'running')
            return undefined;
          return {
            owner: row.lease_owner as string,
            step: row.current_step as number,
          };
        },
        60_000,
        20,
      );
      const victim = [a, b].find(r =>
        holder.owner.includes(`:${r.process.pid}:`),
      )!;
      const survivor = victim === a ? b : a;
      const killedAt = Date.now();
      await victim.kill('SIGKILL');
      const done2 = await ended(survivor, second);
      const finishedStep = Date.parse(done2.steps[holder.step].finishedAt!);
      // eslint-disable-next-line no-console
      console.log(
        `killed ${victim.name} holding the lease at step ${
          holder.step
        } (scale); ${survivor.name} finished that step ${
          finishedStep - killedAt
        } ms after the kill (lease ${LEASE_MS} ms)`,
      );
      expectWithinPlan(await sampler2.stop());
      await expectDone(survivor, 'dstep-b', done2);
      const ran2 = executions([victim.output(), survivor.output()], second);
      const times = done2.steps.map(
        s =>
          ran2.filter(r => r.step === s.index && r.outcome === 'done').length,
      );
      // eslint-disable-next-line no-console
      console.log(
        `after the kill: executions per step ${JSON.stringify(times)}`,
      );
      // The step at the kill may have been decided by the victim too, just
      // before it died; every other step once.
      expect(times.filter((_, i) => i !== holder.step)).toEqual(
        done2.steps.slice(1).map(() => 1),
      );
      expect(times[holder.step]).toBeGreaterThanOrEqual(1);
      expect(times[holder.step]).toBeLessThanOrEqual(2);
      // Steps after the kill ran on the survivor only.
      expect(
        ran2
          .filter(r => r.step > holder.step)
          .every(r => !r.replica.includes(`:${victim.process.pid}:`)),
      ).toBe(true);
    });
  },
);
