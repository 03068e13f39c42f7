/*
 * Orchestrator benchmark: operations per second and queue latency of the
 * durable operation queue, on SQLite (one replica) and PostgreSQL (one and
 * two replicas), each replica a real backend process with a runtime that
 * does no real work. Prints a table and writes it into BENCHMARKS.md.
 *
 *   bash scripts/toolchain.sh node --require @backstage/cli/config/nodeTransform.cjs bench/orchestrator/run.ts
 *
 * Environment: BENCH_OPERATIONS (default 2000), BENCH_CONCURRENCY (per
 * replica, default 32), BENCH_POSTGRES_URL (default postgresql://postgres@127.0.0.1:5432),
 * BENCH_ONLY (a regular expression: run only the scenarios whose label, e.g.
 * `queue: PostgreSQL, 2 replicas` or `whole: PostgreSQL, 2 replicas`, matches
 * it; such a partial run prints its table and leaves BENCHMARKS.md alone),
 * BENCH_CPU_PROFILE_DIR (the backend replicas write V8 CPU profiles there),
 * BENCH_PRODUCER (`sequential`, the default: the whole-operation scenarios
 * send their batches one after the other; `concurrent`: one client per
 * replica, at the same time, timed from the first request), BENCH_ROUNDS
 * (default 3: each scenario runs that many times and the table shows the
 * round with the median operations/s; the machines are shared and noisy).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import knexFactory, { Knex } from 'knex';
import { execSync, spawn } from 'node:child_process';
import {
  Replica,
  callReplica,
  startReplica,
} from '../../plugins/plugin-lifecycle-backend/dev/replicas';
import { applyDatabaseMigrations } from '../../plugins/plugin-lifecycle-backend/src/database/migrations';
import {
  NewOperation,
  OperationStore,
} from '../../plugins/plugin-lifecycle-backend/src/database/OperationStore';
import { createNoopOrchestrator } from './noopOrchestrator';
import { writeBenchmarks } from '../lib/benchmarksFile';

const OPERATIONS = Number(process.env.BENCH_OPERATIONS ?? 2000);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 32);
const POSTGRES_URL =
  process.env.BENCH_POSTGRES_URL ?? 'postgresql://postgres@127.0.0.1:5432';
const BATCH = 500;
/** When set, each backend replica writes a V8 CPU profile into this directory. */
const CPU_PROFILE_DIR = process.env.BENCH_CPU_PROFILE_DIR;
/** How the whole-operation scenarios send their batches (see scenario()). */
const PRODUCER = process.env.BENCH_PRODUCER ?? 'sequential';
const ROUNDS = Math.max(1, Number(process.env.BENCH_ROUNDS ?? 3));

interface Result {
  scenario: string;
  operations: number;
  seconds: number;
  perSecond: number;
  latencyP50: number;
  latencyP99: number;
  duplicates: number;
  failed: number;
  /** CPU milliseconds per operation, by process kind, over the whole run. */
  cpu?: CpuPerOperation;
}

interface CpuPerOperation {
  replicas: number;
  postgres: number;
  producer: number;
}

const CLOCK_TICKS = (() => {
  try {
    return Number(execSync('getconf CLK_TCK').toString().trim()) || 100;
  } catch {
    return 100;
  }
})();

/** User + system CPU milliseconds of a process so far (Linux /proc). */
function processCpuMs(pid: number): number | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
  } catch {
    return undefined;
  }
}

/** PostgreSQL backend processes serving `database` (on this host). */
function postgresBackends(database: string): number[] {
  const pids: number[] = [];
  let entries: string[] = [];
  try {
    entries = fs.readdirSync('/proc');
  } catch {
    return pids;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      if (cmdline.startsWith('postgres: ') && cmdline.includes(` ${database} `))
        pids.push(Number(entry));
    } catch {
      // gone
    }
  }
  return pids;
}

/**
 * Samples the CPU time of the replicas and of the PostgreSQL backends of
 * the run's database (every 100 ms, so that backends that come and go are
 * counted) and of this process (the producer).
 */
function cpuMeter(replicaPids: number[], database?: string) {
  const base = new Map<number, number>();
  const last = new Map<number, number>();
  const sample = (initial: boolean) => {
    const pg = database ? postgresBackends(database) : [];
    for (const pid of [...replicaPids, ...pg]) {
      const ms = processCpuMs(pid);
      if (ms === undefined) continue;
      if (!base.has(pid)) base.set(pid, initial ? ms : 0);
      last.set(pid, ms);
    }
  };
  sample(true);
  const producer = process.cpuUsage();
  const timer = setInterval(() => sample(false), 100);
  return {
    stop(operations: number): CpuPerOperation {
      clearInterval(timer);
      sample(false);
      const used = (pid: number) => (last.get(pid) ?? 0) - (base.get(pid) ?? 0);
      let replicas = 0;
      let postgres = 0;
      for (const pid of last.keys()) {
        if (replicaPids.includes(pid)) replicas += used(pid);
        else postgres += used(pid);
      }
      const p = process.cpuUsage(producer);
      return {
        replicas: replicas / operations,
        postgres: postgres / operations,
        producer: (p.user + p.system) / 1000 / operations,
      };
    },
  };
}

function percentile(sorted: number[], p: number) {
  return sorted[
    Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))
  ];
}

/** Waits until the queue is empty, then measures it from the operations' own timestamps. */
async function measureQueue(
  db: Knex,
  scenario: string,
  duplicates: (operations: number) => Promise<number>,
  /** Start of the measured time; the first operation's enqueue when not given. */
  since?: number,
): Promise<Result> {
  for (;;) {
    const [{ n }] = await db('operations')
      .whereIn('status', ['queued', 'running'])
      .count({ n: '*' });
    if (Number(n) === 0) break;
    await new Promise(r => setTimeout(r, 50));
  }
  const rows = await db('operations').select(
    'created_at',
    'started_at',
    'finished_at',
    'status',
  );
  const ms = (v: string | Date) => new Date(v).getTime();
  const first = since ?? Math.min(...rows.map(r => ms(r.created_at)));
  const last = Math.max(...rows.map(r => ms(r.finished_at)));
  const latencies = rows
    .map(r => ms(r.started_at) - ms(r.created_at))
    .sort((a, b) => a - b);
  const seconds = (last - first) / 1000;
  return {
    scenario,
    operations: rows.length,
    seconds,
    perSecond: rows.length / seconds,
    latencyP50: percentile(latencies, 50),
    latencyP99: percentile(latencies, 99),
    duplicates: await duplicates(rows.length),
    failed: rows.filter(r => r.status !== 'succeeded').length,
  };
}

async function scenario(
  name: string,
  database: 'sqlite' | 'postgres',
  replicaCount: number,
): Promise<Result> {
  const prefix = `plt_bench_${randomUUID().slice(0, 8)}_`;
  const sqliteDir = fs.mkdtempSync(path.join(os.tmpdir(), 'plt-bench-sqlite-'));
  const replicas: Replica[] = [];
  let db: Knex | undefined;
  try {
    for (let i = 0; i < replicaCount; i++) {
      replicas.push(
        await startReplica({
          name: `${name}-${i}`,
          postgresUrl: database === 'postgres' ? POSTGRES_URL : undefined,
          sqliteDir,
          databasePrefix: prefix,
          orchestrator: {
            maxConcurrentOperations: CONCURRENCY,
            pollInterval: 20,
          },
          execArgv: CPU_PROFILE_DIR
            ? ['--cpu-prof', '--cpu-prof-dir', CPU_PROFILE_DIR]
            : undefined,
        }),
      );
    }
    db =
      database === 'postgres'
        ? knexFactory({
            client: 'pg',
            connection: `${POSTGRES_URL}/${prefix}plugin-lifecycle`,
          })
        : knexFactory({
            client: 'better-sqlite3',
            connection: {
              filename: path.join(sqliteDir, 'plugin-lifecycle.sqlite'),
            },
            useNullAsDefault: true,
          });

    const meter = cpuMeter(
      replicas.map(r => r.process.pid!),
      database === 'postgres' ? `${prefix}plugin-lifecycle` : undefined,
    );
    // Enqueue through the API, spread over the replicas, in batches: one
    // after the other (the default), or with PRODUCER=concurrent one client
    // per replica sending its batches one after the other, the clients at
    // the same time (then the time counts from the first request).
    const batches: object[][] = [];
    for (let start = 0; start < OPERATIONS; start += BATCH) {
      const operations = [];
      for (let i = start; i < Math.min(OPERATIONS, start + BATCH); i++) {
        operations.push({
          pluginId: `bench-${i}`,
          action: 'install',
          install: {
            version: '1.0.0',
            runtime: 'recording',
            artifact: {
              type: 'external',
              endpoints: [{ host: '127.0.0.1', port: 9 }],
            },
          },
        });
      }
      batches.push(operations);
    }
    const firstRequestAt = Date.now();
    const send = async (index: number) => {
      const sentAt = Date.now();
      const res = await callReplica(
        replicas[index % replicas.length],
        'POST',
        '/operations/batch',
        { operations: batches[index] },
      );
      if (process.env.BENCH_DEBUG)
        console.log(`batch ${index}: ${Date.now() - sentAt} ms`);
      if (res.status !== 202)
        throw new Error(
          `batch refused: ${res.status} ${JSON.stringify(res.body)}`,
        );
    };
    if (PRODUCER === 'concurrent') {
      await Promise.all(
        replicas.map(async (_, r) => {
          for (let i = r; i < batches.length; i += replicas.length)
            await send(i);
        }),
      );
    } else {
      for (let i = 0; i < batches.length; i++) await send(i);
    }
    const result = await measureQueue(
      db,
      name,
      async operations => {
        const [{ calls }] = await db!('recording_calls').count({
          calls: '*',
        });
        return Number(calls) - operations;
      },
      PRODUCER === 'concurrent' ? firstRequestAt : undefined,
    );
    return { ...result, cpu: meter.stop(result.operations) };
  } finally {
    await Promise.all(replicas.map(r => r.kill('SIGTERM')));
    await db?.destroy();
    if (database === 'postgres') {
      const admin = knexFactory({ client: 'pg', connection: POSTGRES_URL });
      await admin
        .raw(`DROP DATABASE IF EXISTS "${prefix}plugin-lifecycle"`)
        .catch(() => {});
      await admin.destroy();
    }
    fs.rmSync(sqliteDir, { recursive: true, force: true });
  }
}

const QUEUE_OPERATIONS = Number(process.env.BENCH_QUEUE_OPERATIONS ?? 10000);
const QUEUE_RATE = Number(process.env.BENCH_QUEUE_RATE ?? 2000);

/**
 * The queue engine alone: Orchestrator workers in 1 or 2 processes with a
 * handler that does nothing, fed at QUEUE_RATE operations/s over QUEUE_OPERATIONS
 * distinct plugins by a producer in this process.
 */
async function queueScenario(
  name: string,
  database: 'sqlite' | 'postgres',
  replicaCount: number,
): Promise<Result> {
  const dbName = `plt_qbench_${randomUUID().slice(0, 8)}`;
  const sqliteFile = path.join(
    fs.mkdtempSync(path.join(os.tmpdir(), 'plt-qbench-')),
    'queue.sqlite',
  );
  const knexConfig =
    database === 'postgres'
      ? {
          client: 'pg',
          connection: `${POSTGRES_URL}/${dbName}`,
          pool: { min: 0, max: 12 },
        }
      : {
          client: 'better-sqlite3',
          connection: { filename: sqliteFile },
          useNullAsDefault: true,
        };
  if (database === 'postgres') {
    const admin = knexFactory({ client: 'pg', connection: POSTGRES_URL });
    await admin.raw(`CREATE DATABASE "${dbName}"`);
    await admin.destroy();
  }
  const db = knexFactory(knexConfig as any);
  await applyDatabaseMigrations({ getClient: async () => db } as any);
  const store = OperationStore.create({ db });
  // SQLite is embedded: its one replica runs in this process (a second
  // process writing the same file would only wait on its lock).
  const workers =
    database === 'sqlite'
      ? [inProcessWorker(db, 'bench-replica-0')]
      : await Promise.all(
          Array.from({ length: replicaCount }, (_, i) =>
            processWorker(knexConfig, `bench-replica-${i}`),
          ),
        );
  try {
    const chunk = 50;
    const started = Date.now();
    for (let sent = 0; sent < QUEUE_OPERATIONS; sent += chunk) {
      const due = started + (sent / QUEUE_RATE) * 1000;
      if (due > Date.now())
        await new Promise(r => setTimeout(r, due - Date.now()));
      const ops: NewOperation[] = [];
      for (let i = sent; i < Math.min(QUEUE_OPERATIONS, sent + chunk); i++) {
        ops.push({
          id: randomUUID(),
          pluginId: `q-${i}`,
          tenant: `t-${i % 4}`,
          type: 'start',
          params: {},
          timeoutMs: 60_000,
          maxAttempts: 1,
        });
      }
      await store.enqueue(ops, Date.now());
    }
    return await measureQueue(db, name, async operations => {
      // every operation ran exactly once across the replicas
      const ran = (await Promise.all(workers.map(w => w.stop()))).flat();
      return ran.length - new Set(ran).size + (ran.length - operations);
    });
  } finally {
    await Promise.all(workers.map(w => w.kill()));
    await db.destroy();
    if (database === 'postgres') {
      const admin = knexFactory({ client: 'pg', connection: POSTGRES_URL });
      await admin.raw(`DROP DATABASE IF EXISTS "${dbName}"`).catch(() => {});
      await admin.destroy();
    }
  }
}

interface Worker {
  stop(): Promise<string[]>;
  kill(): Promise<void>;
}

function inProcessWorker(db: Knex, replicaId: string): Worker {
  const ran: string[] = [];
  const orchestrator = createNoopOrchestrator({
    db,
    replicaId,
    concurrency: CONCURRENCY,
    ran,
  });
  orchestrator.start();
  return {
    stop: async () => (await orchestrator.shutdown(), ran),
    kill: () => orchestrator.shutdown(),
  };
}

async function processWorker(
  knexConfig: object,
  replicaId: string,
): Promise<Worker> {
  const outFile = path.join(os.tmpdir(), `${replicaId}-${randomUUID()}.json`);
  const child = spawn(
    process.execPath,
    [
      '--require',
      require.resolve('@backstage/cli/config/nodeTransform.cjs'),
      path.join(__dirname, 'queueWorker.ts'),
      replicaId,
      JSON.stringify(knexConfig),
      String(CONCURRENCY),
      outFile,
    ],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  let out = '';
  child.stdout!.on('data', d => (out += d));
  const exited = new Promise<void>(resolve =>
    child.once('exit', () => resolve()),
  );
  while (!out.includes('ready')) await new Promise(r => setTimeout(r, 20));
  return {
    stop: async () => {
      child.stdin!.end();
      await exited;
      return JSON.parse(fs.readFileSync(outFile, 'utf8'));
    },
    kill: async () => {
      if (child.exitCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}

function table(results: Result[]) {
  const withCpu = results.some(r => r.cpu);
  const lines = [
    `| scenario | operations | seconds | operations/s | queue latency p50 (ms) | p99 (ms) | duplicates | failed |${
      withCpu ? ' CPU ms/operation: backends | PostgreSQL | producer |' : ''
    }`,
    `| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |${
      withCpu ? ' ---: | ---: | ---: |' : ''
    }`,
  ];
  for (const r of results) {
    const cpu = r.cpu
      ? ` ${r.cpu.replicas.toFixed(2)} | ${
          r.cpu.postgres ? r.cpu.postgres.toFixed(2) : '-'
        } | ${r.cpu.producer.toFixed(2)} |`
      : '';
    lines.push(
      `| ${r.scenario} | ${r.operations} | ${r.seconds.toFixed(
        2,
      )} | ${r.perSecond.toFixed(0)} | ${r.latencyP50} | ${r.latencyP99} | ${
        r.duplicates
      } | ${r.failed} |${withCpu ? cpu : ''}`,
    );
  }
  return lines.join('\n');
}

/** Runs a scenario ROUNDS times; the round with the median operations/s. */
async function median(run: () => Promise<Result>): Promise<Result> {
  const results: Result[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    const result = await run();
    process.stdout.write(`${result.perSecond.toFixed(0)} `);
    results.push(result);
  }
  results.sort((a, b) => a.perSecond - b.perSecond);
  return {
    ...results[Math.floor((results.length - 1) / 2)],
    // a duplicate or a failure in any round counts
    duplicates: Math.max(...results.map(r => r.duplicates)),
    failed: Math.max(...results.map(r => r.failed)),
  };
}

const ONLY = process.env.BENCH_ONLY
  ? new RegExp(process.env.BENCH_ONLY)
  : undefined;

async function main() {
  const queueResults: Result[] = [];
  for (const [name, database, count] of [
    ['SQLite, 1 replica', 'sqlite', 1],
    ['PostgreSQL, 1 replica', 'postgres', 1],
    ['PostgreSQL, 2 replicas', 'postgres', 2],
  ] as const) {
    if (ONLY && !ONLY.test(`queue: ${name}`)) continue;
    process.stdout.write(`queue engine, ${name} ... `);
    const result = await median(() => queueScenario(name, database, count));
    console.log(`operations/s; median ${result.perSecond.toFixed(0)}`);
    queueResults.push(result);
  }
  const results: Result[] = [];
  for (const [name, database, count] of [
    ['SQLite, 1 replica', 'sqlite', 1],
    ['PostgreSQL, 1 replica', 'postgres', 1],
    ['PostgreSQL, 2 replicas', 'postgres', 2],
  ] as const) {
    if (ONLY && !ONLY.test(`whole: ${name}`)) continue;
    process.stdout.write(`running ${name} ... `);
    const result = await median(() => scenario(name, database, count));
    console.log(`operations/s; median ${result.perSecond.toFixed(0)}`);
    results.push(result);
  }
  const body = [
    '## Orchestrator (bench/orchestrator)',
    '',
    `### The queue engine`,
    '',
    `${QUEUE_OPERATIONS} operations on distinct plugins of 4 tenants, offered at ${QUEUE_RATE} operations/s by a producer, run by`,
    `Orchestrator workers in separate processes (leases, per-plugin order, fairness, outcome recording) with a handler that does no`,
    `work. Up to ${CONCURRENCY} operations at once per replica. Queue latency: from enqueue to the start of the attempt.`,
    `Each scenario ran ${ROUNDS} time(s); each row is the round with the median operations/s (duplicates and failed: the most`,
    `of any round).`,
    '',
    table(queueResults),
    '',
    '### Whole install operations through real backends',
    '',
    `${OPERATIONS} install operations of distinct plugins, enqueued through the batch API in batches of ${BATCH} (${
      PRODUCER === 'concurrent'
        ? 'one client per replica, at the same time; timed from the first request'
        : 'one after the other, alternating replicas; timed from the first enqueue'
    }), run by real backend`,
    `processes with a runtime that does no real work (each operation still claims with a lease, makes two state`,
    `transitions with history, stores the version and records its outcome, with its events and audit). Up to ${CONCURRENCY}`,
    `operations at once per replica. Queue latency: from enqueue to the start of the first attempt. Duplicates: install calls`,
    `beyond one per operation. CPU ms/operation: user + system CPU time over the run (from the first request), divided by the`,
    `operations, of the backend processes together, of PostgreSQL's backends for the run's database, and of the producer.`,
    `Rounds as above.`,
    `Run on ${new Date().toISOString().slice(0, 10)}, Node ${
      process.version
    }, ${os.cpus().length} cores.`,
    '',
    table(results),
  ].join('\n');
  console.log(`\n${table(queueResults)}\n\n${table(results)}`);
  if (!ONLY) writeBenchmarks('orchestrator', body);
}

main().catch(error => {
  console.error(error);
  process.exit(1);
});
