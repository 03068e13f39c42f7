/*
 * What the rollout fault tests share: real backend replicas (dev/replica.ts)
 * running the sample service as real processes, on SQLite files or one
 * PostgreSQL database, and ways to look at their deployments, instances and
 * processes from outside.
 */
import fs from 'node:fs';
import knexFactory from 'knex';
import { Deployment, PluginInstance } from '@internal/plugin-lifecycle-common';
import { Replica, callReplica, startReplica } from '../../dev/replicas';

/** The replicas' configuration for the sample plugin `pluginId`, from packed tarballs. */
export function sampleReplicaConfig(options: {
  pluginId: string;
  tarballTemplate: string;
  leaseDuration: number;
}) {
  return {
    defaultRuntime: 'process',
    // `$${version}`: the configuration file would substitute `${version}`.
    plugins: {
      [options.pluginId]: {
        artifact: {
          type: 'tarball',
          path: options.tarballTemplate.replace(
            '${version}',
            () => '$${version}',
          ),
        },
      },
    },
    runtime: { process: { readyTimeout: 8000, stopGracePeriod: 2000 } },
    deployments: { tickInterval: 100, leaseDuration: options.leaseDuration },
    // Instances outlive their backend (the default, said here on purpose).
    shutdown: { stopInstances: false },
  };
}

export async function getDeployment(
  replica: Replica,
  id: string,
): Promise<Deployment> {
  const res = await callReplica(replica, 'GET', `/deployments/${id}`);
  if (res.status !== 200) {
    throw new Error(
      `GET /deployments/${id}: ${res.status} ${JSON.stringify(res.body)}`,
    );
  }
  return res.body;
}

export async function getInstances(
  replica: Replica,
  pluginId: string,
): Promise<{
  state: string;
  currentVersion?: string;
  instances: PluginInstance[];
}> {
  const res = await callReplica(replica, 'GET', `/plugins/${pluginId}`);
  if (res.status !== 200) {
    throw new Error(
      `GET /plugins/${pluginId}: ${res.status} ${JSON.stringify(res.body)}`,
    );
  }
  return res.body;
}

/** Waits for an operation to end; its final state. */
export async function waitForReplicaOperation(replica: Replica, id: string) {
  for (;;) {
    const op = await callReplica(
      replica,
      'GET',
      `/operations/${id}?waitSeconds=20`,
    );
    if (!['queued', 'running'].includes(op.body?.status)) return op.body;
  }
}

/** Polls `fn` until it returns something other than undefined or false. */
export async function eventually<T>(
  what: string,
  fn: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 60_000,
  intervalMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (value !== undefined && value !== false) return value as T;
    if (Date.now() > deadline) throw new Error(`never: ${what}`);
    await new Promise(r => setTimeout(r, intervalMs));
  }
}

/** Installs the sample plugin at 1.0.0 with `replicas` running instances. */
export async function installSample(
  replica: Replica,
  pluginId: string,
  replicas: number,
) {
  const res = await callReplica(
    replica,
    'POST',
    `/plugins/${pluginId}/install`,
    {
      version: '1.0.0',
      replicas,
      start: true,
    },
  );
  if (res.status !== 202) {
    throw new Error(
      `install refused: ${res.status} ${JSON.stringify(res.body)}`,
    );
  }
  const op = await waitForReplicaOperation(replica, res.body.operationId);
  if (op?.status !== 'succeeded') {
    throw new Error(
      `install did not succeed: ${JSON.stringify(op)}\n${replica.output()}`,
    );
  }
}

/** Start time of a process (/proc/<pid>/stat field 22); undefined when gone or a zombie. */
export function startTimeOf(pid: number): string | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return rest[0] === 'Z' ? undefined : rest[19];
  } catch {
    return undefined;
  }
}

/**
 * The sample service's processes started from under `dir` (a replica's
 * data directory): their pids, by the version in their command line or
 * working directory.
 */
export function sampleProcessesUnder(
  dir: string,
): Array<{ pid: number; where: string }> {
  const found: Array<{ pid: number; where: string }> = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const cmdline = fs
        .readFileSync(`/proc/${name}/cmdline`, 'utf8')
        .split('\0')
        .join(' ');
      if (!cmdline.includes('server.js')) continue;
      let cwd = '';
      try {
        cwd = fs.readlinkSync(`/proc/${name}/cwd`);
      } catch {
        // another user's process: the command line must say
      }
      const where = `${cmdline} (cwd ${cwd})`;
      if (where.includes(dir) && startTimeOf(Number(name)) !== undefined) {
        found.push({ pid: Number(name), where });
      }
    } catch {
      // gone
    }
  }
  return found;
}

/** SIGKILLs the process groups a runtime journaled under a data directory. */
export function killJournaledGroups(dataDir: string) {
  const dir = `${dataDir}/.journal`;
  for (const file of fs.existsSync(dir) ? fs.readdirSync(dir) : []) {
    try {
      const entry = JSON.parse(fs.readFileSync(`${dir}/${file}`, 'utf8'));
      if (startTimeOf(entry.pid) === entry.startTime) {
        process.kill(-entry.processGroup, 'SIGKILL');
      }
    } catch {
      // gone, or half written
    }
  }
}

/** Drops the replicas' PostgreSQL database (`<prefix>plugin-lifecycle`). */
export async function dropReplicaDatabase(postgresUrl: string, prefix: string) {
  const admin = knexFactory({ client: 'pg', connection: postgresUrl });
  await admin
    .raw(`DROP DATABASE IF EXISTS "${prefix}plugin-lifecycle" WITH (FORCE)`)
    .catch(() => {});
  await admin.destroy();
}

export { callReplica, startReplica };
export type { Replica };
