/*
 * Orchestrator benchmark: operations per second and queue latency of the
 * durable operation queue, on SQLite (one replica) and PostgreSQL (one and
 * two replicas), each replica a real backend process with a runtime that
 * does no real work. Prints a table and writes it into BENCHMARKS.md.
 *
 *   bash scripts/toolchain.sh node --require @backstage/cli/config/nodeTransform.cjs bench/orchestrator/run.ts
 *
 * Environment: BENCH_OPERATIONS (default 2000), BENCH_CONCURRENCY (per
 * replica, default 32), BENCH_POSTGRES_URL (default postgresql://postgres@127.0.0.1:5432).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import knexFactory, { Knex } from 'knex';
import { spawn } from 'node:child_process';
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

const OPERATIONS = Number(process.env.BENCH_OPERATIONS ?? 2000);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 32);
const POSTGRES_URL =
  process.env.BENCH_POSTGRES_URL ?? 'postgresql://postgres@127.0.0.1:5432';
const BATCH = 500;

interface Result {
  scenario: string;
  operations: number;
  seconds: number;
  perSecond: number;
  latencyP50: number;
  latencyP99: number;
  duplicates: number;
  failed: number;
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
  const first = Math.min(...rows.map(r => ms(r.created_at)));
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

    // Enqueue through the API, spread over the replicas, in batches.
    for (let start = 0, r = 0; start < OPERATIONS; start += BATCH, r++) {
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
      const res = await callReplica(
        replicas[r % replicas.length],
        'POST',
        '/operations/batch',
        { operations },
      );
      if (res.status !== 202)
        throw new Error(
          `batch refused: ${res.status} ${JSON.stringify(res.body)}`,
        );
    }
    return await measureQueue(db, name, async operations => {
      const [{ calls }] = await db!('recording_calls').count({ calls: '*' });
      return Number(calls) - operations;
    });
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
  const lines = [
    '| scenario | operations | seconds | operations/s | queue latency p50 (ms) | p99 (ms) | duplicates | failed |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const r of results) {
    lines.push(
      `| ${r.scenario} | ${r.operations} | ${r.seconds.toFixed(
        2,
      )} | ${r.perSecond.toFixed(0)} | ${r.latencyP50} | ${r.latencyP99} | ${
        r.duplicates
      } | ${r.failed} |`,
    );
  }
  return lines.join('\n');
}

function writeBenchmarks(section: string, body: string) {
  const file = path.resolve(__dirname, '../../BENCHMARKS.md');
  let text = fs.existsSync(file)
    ? fs.readFileSync(file, 'utf8')
    : "# Benchmarks\n\nFigures from the scripts under bench/, on the project's own machines (2 cores, shared and noisy).\n";
  const start = `<!-- ${section}:start -->`;
  const end = `<!-- ${section}:end -->`;
  const block = `${start}\n${body}\n${end}`;
  text = text.includes(start)
    ? text.replace(new RegExp(`${start}[\\s\\S]*?${end}`), block)
    : `${text.trimEnd()}\n\n${block}\n`;
  fs.writeFileSync(file, text);
}

async function main() {
  const queueResults: Result[] = [];
  for (const [name, database, count] of [
    ['SQLite, 1 replica', 'sqlite', 1],
    ['PostgreSQL, 1 replica', 'postgres', 1],
    ['PostgreSQL, 2 replicas', 'postgres', 2],
  ] as const) {
    process.stdout.write(`queue engine, ${name} ... `);
    const result = await queueScenario(name, database, count);
    console.log(`${result.perSecond.toFixed(0)} operations/s`);
    queueResults.push(result);
  }
  const results: Result[] = [];
  for (const [name, database, count] of [
    ['SQLite, 1 replica', 'sqlite', 1],
    ['PostgreSQL, 1 replica', 'postgres', 1],
    ['PostgreSQL, 2 replicas', 'postgres', 2],
  ] as const) {
    process.stdout.write(`running ${name} ... `);
    const result = await scenario(name, database, count);
    console.log(`${result.perSecond.toFixed(0)} operations/s`);
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
    '',
    table(queueResults),
    '',
    '### Whole install operations through real backends',
    '',
    `${OPERATIONS} install operations of distinct plugins, enqueued through the batch API, run by real backend`,
    `processes with a runtime that does no real work (each operation still claims with a lease, makes two state`,
    `transitions with history, stores the version and records its outcome). Up to ${CONCURRENCY} operations at once per replica.`,
    `Queue latency: from enqueue to the start of the first attempt. Duplicates: install calls beyond one per operation.`,
    `Run on ${new Date().toISOString().slice(0, 10)}, Node ${
      process.version
    }, ${os.cpus().length} cores.`,
    '',
    table(results),
  ].join('\n');
  console.log(`\n${table(queueResults)}\n\n${table(results)}`);
  writeBenchmarks('orchestrator', body);
}

main().catch(error => {
  console.error(error);
  process.exit(1);
});
