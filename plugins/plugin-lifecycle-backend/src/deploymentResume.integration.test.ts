/*
 * Issue #12: a backend SIGKILLed in the middle of a canary, started again
 * on the same data, finishes the canary from the step it was at. A real
 * backend replica (dev/replica.ts) runs the sample service as real
 * processes, on SQLite files and (when configured) on PostgreSQL.
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import knexFactory from 'knex';
import { DeploymentStep } from '@internal/plugin-lifecycle-common';
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
  startTimeOf,
} from './__testUtils__/rolloutReplicas';
import { REPLICA_TOKEN } from '../dev/replicas';

jest.setTimeout(240_000);

const postgresUrl =
  process.env.BACKSTAGE_TEST_DATABASE_POSTGRES15_CONNECTION_STRING;
const PLUGIN = 'resume-sample';
const LEASE_MS = 3000;

/** Light load through the replica's proxy: what each version answered, and when requests failed. */
function proxyLoad(replica: () => Replica) {
  const result = {
    versions: {} as Record<string, number>,
    /** `at`: when the request started; `end`: when it failed. */
    failures: [] as Array<{ at: number; end: number; why: string }>,
    successes: [] as number[],
  };
  let running = true;
  const loop = (async () => {
    while (running) {
      const at = Date.now();
      try {
        const res = await fetch(`${replica().url}/proxy/${PLUGIN}/`, {
          headers: { Authorization: `Bearer ${REPLICA_TOKEN}` },
          signal: AbortSignal.timeout(5_000),
        });
        const body = (await res.json().catch(() => ({}))) as {
          version?: string;
        };
        if (res.status === 200 && body.version) {
          result.versions[body.version] =
            (result.versions[body.version] ?? 0) + 1;
          result.successes.push(at);
        } else {
          result.failures.push({
            at,
            end: Date.now(),
            why: `status ${res.status}`,
          });
        }
      } catch (error) {
        result.failures.push({ at, end: Date.now(), why: String(error) });
      }
      await new Promise(r => setTimeout(r, 100));
    }
  })();
  return {
    result,
    stop: async () => {
      running = false;
      await loop;
      return result;
    },
  };
}

/** The deployment's lease as the database has it: `held by <owner> for <ms> more` or `free`. */
async function leaseOf(
  replica: Replica,
  database: string,
  prefix: string,
  id: string,
) {
  const db = knexFactory(
    database === 'postgres'
      ? { client: 'pg', connection: `${postgresUrl}/${prefix}plugin-lifecycle` }
      : {
          client: 'better-sqlite3',
          connection: {
            filename: `${replica.dir}/sqlite/plugin-lifecycle.sqlite`,
          },
          useNullAsDefault: true,
        },
  );
  try {
    const row = await db('deployments').where({ id }).first();
    const until = row?.lease_expires_at
      ? new Date(row.lease_expires_at).getTime()
      : 0;
    return row?.lease_owner && until > Date.now()
      ? `held by ${row.lease_owner} for ${until - Date.now()} ms more`
      : 'free';
  } finally {
    await db.destroy();
  }
}

const databases = ['sqlite', ...(postgresUrl ? ['postgres'] : [])];

describe.each(databases)(
  'a backend SIGKILLed mid-canary on %s resumes the canary where it was',
  database => {
    const prefix = `plt_resume_${randomUUID().slice(0, 8)}_`;
    let replica: Replica | undefined;
    let artifactsDir: string | undefined;

    afterAll(async () => {
      if (replica) {
        await replica.kill('SIGKILL');
        killJournaledGroups(`${replica.dir}/data`);
        fs.rmSync(replica.dir, { recursive: true, force: true });
      }
      if (artifactsDir)
        fs.rmSync(artifactsDir, { recursive: true, force: true });
      if (database === 'postgres')
        await dropReplicaDatabase(postgresUrl!, prefix);
    });

    it('finishes from its persisted step with every instance at 1.1.0 and no orphan', async () => {
      const artifacts = await packSampleArtifacts();
      artifactsDir = artifacts.dir;
      const options = {
        name: `resume-${database}`,
        databasePrefix: prefix,
        ...(database === 'postgres' ? { postgresUrl } : {}),
        env: { LOG_LEVEL: 'info' },
        pluginLifecycle: sampleReplicaConfig({
          pluginId: PLUGIN,
          tarballTemplate: artifacts.tarballTemplate,
          leaseDuration: LEASE_MS,
        }),
      };
      replica = await startReplica(options);
      await installSample(replica, PLUGIN, 2);
      const before = (await getInstances(replica, PLUGIN)).instances.filter(
        i => i.status === 'running',
      );
      expect(before.map(i => i.version)).toEqual(['1.0.0', '1.0.0']);

      const load = proxyLoad(() => replica!);
      const res = await callReplica(
        replica,
        'POST',
        `/plugins/${PLUGIN}/update`,
        {
          version: '1.1.0',
          deploymentStrategy: 'CANARY',
          deploymentConfig: {
            canary: {
              steps: [
                { setWeight: 25 },
                { pause: { duration: 4000 } },
                { setWeight: 50 },
                { pause: { duration: 4000 } },
                { setWeight: 100 },
              ],
            },
          },
        },
      );
      expect(res.status).toBe(202);
      const deploymentId: string = res.body.deploymentId;

      // Killed while the deployment waits in its first pause (25% on the canary).
      const atPause = await eventually(
        'the canary reaches its first pause',
        async () => {
          const d = await getDeployment(replica!, deploymentId);
          const step = d.steps[d.currentStep];
          return d.phase === 'progressing' &&
            step?.kind === 'pause' &&
            step.status === 'running'
            ? d
            : undefined;
        },
      );
      const pauseIndex = atPause.currentStep;
      const completed = atPause.steps.filter(s => s.status === 'succeeded');
      expect(completed.map(s => s.kind)).toEqual(['scale', 'setWeight']);
      expect(atPause.traffic).toEqual({ '1.0.0': 75, '1.1.0': 25 });
      const canary = (await getInstances(replica, PLUGIN)).instances.filter(
        i => i.status === 'running' && i.version === '1.1.0',
      );
      expect(canary).toHaveLength(1);
      const survivors = [...before, ...canary].map(i => ({
        id: i.id,
        pid: i.pid!,
        startTime: startTimeOf(i.pid!),
      }));

      const killedAt = Date.now();
      await replica.kill('SIGKILL');
      // Whether the dead backend held the deployment's lease when it died
      // (a pause releases it until due; a step being executed holds it).
      const lease = await leaseOf(replica, database, prefix, deploymentId);
      // Instances outlive their backend: the same processes still run.
      for (const s of survivors) expect(startTimeOf(s.pid)).toBe(s.startTime);

      replica = await startReplica({ ...options, restartOf: replica });
      const upAt = Date.now();
      const done = await eventually(
        'the deployment ends',
        async () => {
          const d = await getDeployment(replica!, deploymentId);
          return ['progressing', 'paused', 'pending'].includes(d.phase)
            ? undefined
            : d;
        },
        120_000,
        200,
      );
      const resumedAt = Date.parse(done.steps[pauseIndex].finishedAt!);
      // eslint-disable-next-line no-console
      console.log(
        `${database}: killed at step ${pauseIndex} (pause); backend up again after ${
          upAt - killedAt
        } ms; the pause finished ${resumedAt - killedAt} ms after the kill (${
          resumedAt - upAt
        } ms after the restart; lease ${LEASE_MS} ms, at the kill ${lease})`,
      );
      expect({ phase: done.phase, message: done.message }).toEqual({
        phase: 'succeeded',
        message: expect.anything(),
      });
      // Nothing before the pause ran again: their records are as they were.
      const same = (s: DeploymentStep) => ({
        kind: s.kind,
        status: s.status,
        startedAt: s.startedAt,
        finishedAt: s.finishedAt,
      });
      expect(done.steps.slice(0, pauseIndex).map(same)).toEqual(
        completed.map(same),
      );
      // The pause kept the start it had before the kill.
      expect(done.steps[pauseIndex].startedAt).toBe(
        atPause.steps[pauseIndex].startedAt,
      );
      expect(done.steps.every(s => s.status === 'succeeded')).toBe(true);
      expect(done.traffic).toEqual({ '1.1.0': 100 });

      const after = await getInstances(replica, PLUGIN);
      expect(after).toMatchObject({
        state: 'running',
        currentVersion: '1.1.0',
      });
      const serving = after.instances.filter(i => i.status === 'running');
      expect(serving.map(i => i.version)).toEqual(['1.1.0', '1.1.0']);
      // The canary started before the kill is one of them: adopted, not restarted.
      expect(serving.map(i => i.id)).toContain(canary[0].id);
      expect(startTimeOf(canary[0].pid!)).toBe(
        survivors.find(s => s.id === canary[0].id)!.startTime,
      );
      // The 1.0.0 processes are gone; the only sample processes left are the two instances.
      for (const s of survivors.filter(x => x.id !== canary[0].id)) {
        await eventually(
          `1.0.0 instance ${s.id} exits`,
          () => startTimeOf(s.pid) !== s.startTime,
        );
      }
      const processes = await eventually(
        'no orphaned sample process',
        () => {
          const found = sampleProcessesUnder(`${replica!.dir}/data`);
          return found.length === 2 ? found : undefined;
        },
        20_000,
      );
      expect(processes.map(p => p.pid).sort()).toEqual(
        serving.map(i => i.pid).sort(),
      );

      // Proxied traffic: both versions answered; requests failed only while no backend
      // was up (from the kill until the restarted backend served its first request).
      await new Promise(r => setTimeout(r, 500));
      const traffic = await load.stop();
      const backAt = traffic.successes.find(t => t >= upAt) ?? Infinity;
      // A request in flight when the backend was killed fails with it: only
      // one that failed before the kill, or started after the backend was
      // back, is outside the outage.
      const outsideOutage = traffic.failures.filter(
        f => f.end < killedAt || f.at > backAt,
      );
      // eslint-disable-next-line no-console
      console.log(
        `${database}: proxied ${JSON.stringify(traffic.versions)}, ${
          traffic.failures.length
        } failed (${outsideOutage.length} outside the outage)`,
      );
      expect(outsideOutage).toEqual([]);
      expect(traffic.versions['1.0.0']).toBeGreaterThan(0);
      expect(traffic.versions['1.1.0']).toBeGreaterThan(0);
      const last = await fetch(`${replica.url}/proxy/${PLUGIN}/`, {
        headers: { Authorization: `Bearer ${REPLICA_TOKEN}` },
      });
      expect(((await last.json()) as { version: string }).version).toBe(
        '1.1.0',
      );
    });
  },
);
