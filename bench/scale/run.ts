/*
 * Scale benchmark: a real backend replica (dev/replica.ts, the `recording`
 * runtime that does no real work) brought to a fleet's size: 1,000 plugins
 * with 10 instances each and 10,000 registered services. Reports the
 * backend's memory over a bare one, how fast registrations and heartbeats are
 * taken (one by one, and in bulk), and the latency of resolving and of
 * proxying one request at that size against the same with one service.
 * Prints a table and writes it into BENCHMARKS.md (its own section only).
 *
 *   cd plugins/plugin-lifecycle-backend && node --require @backstage/cli/config/nodeTransform.cjs ../../bench/scale/run.ts
 *
 * Environment: BENCH_PLUGINS (1000), BENCH_INSTANCES (per plugin, 10),
 * BENCH_SERVICES (10000), BENCH_SINGLE (registrations sent one by one before
 * the rest go in bulk, 1000), BENCH_CONCURRENCY (client requests at once,
 * 16), BENCH_REQUESTS (sequential requests per latency figure, 400),
 * BENCH_ROUNDS (latency rounds, one service and full size in turns, 5),
 * BENCH_DATABASES (comma-separated: sqlite,postgres; default both when
 * PostgreSQL answers), BENCH_POSTGRES_URL (postgresql://postgres@127.0.0.1:5432),
 * BENCH_HEAP_SNAPSHOT_DIR (heap snapshots of the replica at full size there),
 * BENCH_CPU_PROFILE_DIR (a V8 CPU profile of the full-size replica there),
 * BENCH_MALLOC_ARENA_MAX (the replicas' MALLOC_ARENA_MAX, 2 as scripts/start.sh
 * sets it; empty for glibc's default), BENCH_SMAPS (a file: the full-size
 * replica's /proc smaps is copied there, a diagnosis aid),
 * BENCH_WRITE=0 to only print.
 */
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { randomUUID } from 'node:crypto';
import knexFactory from 'knex';
import {
  REPLICA_TOKEN,
  Replica,
  callReplica,
  startReplica,
} from '../../plugins/plugin-lifecycle-backend/dev/replicas';
import { writeBenchmarks } from '../lib/benchmarksFile';

const PLUGINS = Number(process.env.BENCH_PLUGINS ?? 1000);
const INSTANCES = Number(process.env.BENCH_INSTANCES ?? 10);
const SERVICES = Number(process.env.BENCH_SERVICES ?? 10_000);
const SINGLE = Math.min(SERVICES, Number(process.env.BENCH_SINGLE ?? 1000));
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 16);
const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 400);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const POSTGRES_URL =
  process.env.BENCH_POSTGRES_URL ?? 'postgresql://postgres@127.0.0.1:5432';
const HEAP_DIR = process.env.BENCH_HEAP_SNAPSHOT_DIR;
const CPU_PROFILE_DIR = process.env.BENCH_CPU_PROFILE_DIR;
const MALLOC_ARENA_MAX = process.env.BENCH_MALLOC_ARENA_MAX ?? '2';
const BULK = 500;
/** Services share names ten by ten, as instances of one service would. */
const PER_NAME = 10;

interface Memory {
  rssMb: number;
  heapUsedMb: number;
  heapTotalMb: number;
  externalMb: number;
}

interface Figures {
  database: string;
  bare: Memory;
  full: Memory;
  installSeconds: number;
  singlePerSecond: number;
  bulkPerSecond: number;
  heartbeatsPerSecond: number;
  listServicesMs: number;
  listServicesKb: number;
  resolve: { one: Latency; full: Latency };
  proxy: { one: Latency; full: Latency };
}

interface Latency {
  p50: number;
  p99: number;
}

const mb = (bytes: number) => Math.round((bytes / 1024 / 1024) * 10) / 10;

function quantile(sorted: number[], q: number) {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

/** The replica's memory after a garbage collection (it runs with --expose-gc). */
async function memoryOf(replica: Replica, file: string): Promise<Memory> {
  fs.rmSync(file, { force: true });
  replica.process.kill('SIGUSR2');
  for (let i = 0; i < 600 && !fs.existsSync(file); i++) {
    await new Promise(r => setTimeout(r, 100));
  }
  const usage = JSON.parse(fs.readFileSync(file, 'utf8'));
  // RSS from the kernel, as an operator's tools see it.
  const status = fs.readFileSync(`/proc/${replica.process.pid}/status`, 'utf8');
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)![1]);
  return {
    rssMb: Math.round(rssKb / 102.4) / 10,
    heapUsedMb: mb(usage.heapUsed),
    heapTotalMb: mb(usage.heapTotal),
    externalMb: mb(usage.external),
  };
}

async function inParallel<T>(
  items: T[],
  concurrency: number,
  fn: (item: T) => Promise<void>,
) {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < items.length) await fn(items[next++]);
    }),
  );
}

/** A plain upstream every registration points at. */
async function startUpstream(): Promise<{ port: number; close: () => void }> {
  const server = http.createServer((_req, res) => res.end('ok'));
  server.keepAliveTimeout = 60_000;
  await new Promise<void>(r => server.listen(0, '127.0.0.1', () => r()));
  return {
    port: (server.address() as { port: number }).port,
    close: () => server.close(),
  };
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

/** Sequential GETs over one kept-alive connection; milliseconds per request. */
async function latency(url: string, requests: number): Promise<Latency> {
  const get = () =>
    new Promise<number>((resolve, reject) => {
      const started = performance.now();
      http
        .get(
          url,
          { agent, headers: { Authorization: `Bearer ${REPLICA_TOKEN}` } },
          res => {
            res.resume();
            res.on('end', () => {
              if (res.statusCode !== 200) {
                reject(new Error(`${url}: ${res.statusCode}`));
              } else resolve(performance.now() - started);
            });
          },
        )
        .on('error', reject);
    });
  for (let i = 0; i < 50; i++) await get(); // warm up
  const times: number[] = [];
  for (let i = 0; i < requests; i++) times.push(await get());
  times.sort((a, b) => a - b);
  const round = (n: number) => Math.round(n * 1000) / 1000;
  return {
    p50: round(quantile(times, 0.5)),
    p99: round(quantile(times, 0.99)),
  };
}

function registration(i: number, port: number) {
  return {
    serviceId: `reg-${i}`,
    serviceName: `svc-${Math.floor(i / PER_NAME)}`,
    host: '127.0.0.1',
    port,
    version: '1.0.0',
    ttlMs: 3_600_000,
    tags: ['bench'],
  };
}

async function postOk(replica: Replica, urlPath: string, body: unknown) {
  const res = await callReplica(replica, 'POST', urlPath, body);
  if (res.status >= 300) {
    throw new Error(`${urlPath}: ${res.status} ${JSON.stringify(res.body)}`);
  }
  return res.body;
}

async function installFleet(replica: Replica) {
  const ids = Array.from(
    { length: PLUGINS },
    (_, i) => `fleet-${String(i).padStart(4, '0')}`,
  );
  for (let i = 0; i < ids.length; i += BULK) {
    await postOk(replica, '/operations/batch', {
      operations: ids.slice(i, i + BULK).map(pluginId => ({
        pluginId,
        action: 'install',
        install: {
          version: '1.0.0',
          runtime: 'recording',
          replicas: INSTANCES,
          start: true,
          artifact: {
            type: 'external',
            endpoints: [{ host: '127.0.0.1', port: 9 }],
          },
        },
      })),
    });
  }
  const deadline = Date.now() + 30 * 60_000;
  for (;;) {
    const res = await callReplica(replica, 'GET', '/metrics/system');
    const running = res.body.plugins?.byState?.running ?? 0;
    const failed = res.body.plugins?.byState?.error ?? 0;
    if (running + failed >= PLUGINS) {
      if (failed > 0) throw new Error(`${failed} plugins failed to start`);
      return;
    }
    if (Date.now() > deadline) throw new Error('the fleet did not start');
    await new Promise(r => setTimeout(r, 1000));
  }
}

async function scenario(database: 'sqlite' | 'postgres'): Promise<Figures> {
  const replicas: Replica[] = [];
  try {
    return await measure(database, replicas);
  } catch (error) {
    for (const r of replicas) {
      console.error(`--- replica ${r.name}:\n${r.output().slice(-4000)}`);
      await r.kill('SIGKILL');
    }
    throw error;
  }
}

async function measure(
  database: 'sqlite' | 'postgres',
  replicas: Replica[],
): Promise<Figures> {
  const upstream = await startUpstream();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-scale-'));
  const prefix = `bench_scale_${randomUUID().slice(0, 8)}_`;
  const start = async (name: string, heap: boolean) => {
    const replica = await startReplica({
      name,
      databasePrefix: `${prefix}${name}_`,
      postgresUrl: database === 'postgres' ? POSTGRES_URL : undefined,
      sqliteDir: path.join(dir, name),
      execArgv: [
        '--expose-gc',
        ...(CPU_PROFILE_DIR && name === 'full'
          ? ['--cpu-prof', `--cpu-prof-dir=${CPU_PROFILE_DIR}`]
          : []),
      ],
      env: {
        // As scripts/start.sh sets it (see README): glibc's default of 8
        // arenas per core kept ~100 MB more resident after the install burst.
        ...(MALLOC_ARENA_MAX ? { MALLOC_ARENA_MAX } : {}),
        REPLICA_MEMORY_FILE: path.join(dir, `${name}.memory.json`),
        ...(heap ? { REPLICA_HEAP_SNAPSHOT: '1' } : {}),
      },
    });
    replicas.push(replica);
    return replica;
  };

  // One service: the latency baseline.
  const one = await start('one', false);
  await postOk(one, '/services', registration(0, upstream.port));
  // Kept running: its latency is measured in turns with the full one's.

  const full = await start('full', Boolean(HEAP_DIR));
  await new Promise(r => setTimeout(r, 3000)); // settle after start
  const bare = await memoryOf(full, path.join(dir, 'full.memory.json'));

  let t = performance.now();
  await installFleet(full);
  const installSeconds = (performance.now() - t) / 1000;

  // Registrations one by one (as each service registers itself) ...
  t = performance.now();
  await inParallel(
    Array.from({ length: SINGLE }, (_, i) => i),
    CONCURRENCY,
    async i => {
      await postOk(full, '/services', registration(i, upstream.port));
    },
  );
  const singlePerSecond = SINGLE / ((performance.now() - t) / 1000);

  // ... and the rest in bulk.
  t = performance.now();
  const rest = Array.from({ length: SERVICES - SINGLE }, (_, i) => i + SINGLE);
  const bulks: number[][] = [];
  for (let i = 0; i < rest.length; i += BULK)
    bulks.push(rest.slice(i, i + BULK));
  await inParallel(bulks, 2, async ids => {
    await postOk(full, '/services/batch', {
      services: ids.map(i => registration(i, upstream.port)),
    });
  });
  const bulkPerSecond =
    rest.length > 0 ? rest.length / ((performance.now() - t) / 1000) : NaN;

  t = performance.now();
  const all = Array.from({ length: SERVICES }, (_, i) => `reg-${i}`);
  const heartbeatBulks: string[][] = [];
  for (let i = 0; i < all.length; i += BULK)
    heartbeatBulks.push(all.slice(i, i + BULK));
  let heartbeatsPerSecond = NaN;
  if (
    (
      await callReplica(full, 'POST', '/services/heartbeats', {
        serviceIds: ['reg-0'],
      })
    ).status < 300
  ) {
    t = performance.now();
    await inParallel(heartbeatBulks, 2, async serviceIds => {
      await postOk(full, '/services/heartbeats', { serviceIds });
    });
    heartbeatsPerSecond = SERVICES / ((performance.now() - t) / 1000);
  }

  await new Promise(r => setTimeout(r, 3000)); // let the feed and timers settle
  const fullMemory = await memoryOf(full, path.join(dir, 'full.memory.json'));
  if (process.env.BENCH_SMAPS) {
    // Where the resident memory is, by mapping (a diagnosis aid).
    fs.writeFileSync(
      `${process.env.BENCH_SMAPS}.${database}`,
      fs.readFileSync(`/proc/${full.process.pid}/smaps`),
    );
  }
  if (HEAP_DIR) {
    fs.mkdirSync(HEAP_DIR, { recursive: true });
    for (const f of fs
      .readdirSync(dir)
      .filter(n => n.endsWith('.heapsnapshot'))) {
      fs.renameSync(path.join(dir, f), path.join(HEAP_DIR, `${database}-${f}`));
    }
  }

  t = performance.now();
  const listed = await fetch(`${full.url}/services`, {
    headers: { Authorization: `Bearer ${REPLICA_TOKEN}` },
  });
  const listedBody = await listed.text();
  const listServicesMs = performance.now() - t;

  const middle = `svc-${Math.floor(SERVICES / PER_NAME / 2)}`;
  // Rounds in turns, one service then full size, so that both see the
  // same machine; the medians of the rounds' figures.
  const rounds: Record<
    'oneResolve' | 'fullResolve' | 'oneProxy' | 'fullProxy',
    Latency[]
  > = {
    oneResolve: [],
    fullResolve: [],
    oneProxy: [],
    fullProxy: [],
  };
  for (let round = 0; round < ROUNDS; round++) {
    rounds.oneResolve.push(
      await latency(`${one.url}/services/svc-0/resolve`, REQUESTS),
    );
    rounds.fullResolve.push(
      await latency(`${full.url}/services/${middle}/resolve`, REQUESTS),
    );
    rounds.oneProxy.push(await latency(`${one.url}/proxy/svc-0/`, REQUESTS));
    rounds.fullProxy.push(
      await latency(`${full.url}/proxy/${middle}/`, REQUESTS),
    );
  }
  const medianOf = (list: Latency[]): Latency => {
    const at = (k: keyof Latency) =>
      list.map(l => l[k]).sort((a, b) => a - b)[Math.floor(list.length / 2)];
    return { p50: at('p50'), p99: at('p99') };
  };
  const oneResolve = medianOf(rounds.oneResolve);
  const fullResolve = medianOf(rounds.fullResolve);
  const oneProxy = medianOf(rounds.oneProxy);
  const fullProxy = medianOf(rounds.fullProxy);
  await one.kill('SIGTERM');
  await full.kill('SIGTERM');
  upstream.close();
  fs.rmSync(dir, { recursive: true, force: true });
  if (database === 'postgres') await dropDatabases(prefix);

  return {
    database,
    bare,
    full: fullMemory,
    installSeconds,
    singlePerSecond,
    bulkPerSecond,
    heartbeatsPerSecond,
    listServicesMs,
    listServicesKb: Math.round(Buffer.byteLength(listedBody) / 1024),
    resolve: { one: oneResolve, full: fullResolve },
    proxy: { one: oneProxy, full: fullProxy },
  };
}

const postgres = () =>
  knexFactory({
    client: 'pg',
    connection: `${POSTGRES_URL}/postgres`,
    acquireConnectionTimeout: 3000,
  });

async function dropDatabases(prefix: string) {
  const db = postgres();
  const { rows } = await db.raw(
    'SELECT datname FROM pg_database WHERE datname LIKE ?',
    [`${prefix}%`],
  );
  for (const { datname } of rows) {
    await db.raw(`DROP DATABASE IF EXISTS "${datname}" WITH (FORCE)`);
  }
  await db.destroy();
}

async function postgresAnswers() {
  const db = postgres();
  try {
    await db.raw('select 1');
    return true;
  } catch {
    return false;
  } finally {
    await db.destroy();
  }
}

function table(results: Figures[]) {
  const ratio = (a: number, b: number) => `${(a / b).toFixed(2)}x`;
  const lines = [
    `| database | RSS bare -> full (over bare) | heap bare -> full | fleet install | registrations one by one | in bulk | heartbeats in bulk | GET /services | resolve p50 / p99, 1 service -> full (p50 ratio) | proxy p50 / p99, 1 service -> full (p50 ratio) |`,
    `|---|---|---|---|---|---|---|---|---|---|`,
  ];
  for (const r of results) {
    lines.push(
      `| ${r.database} | ${r.bare.rssMb} -> ${r.full.rssMb} MB (+${(
        r.full.rssMb - r.bare.rssMb
      ).toFixed(1)}) | ${r.bare.heapUsedMb} -> ${
        r.full.heapUsedMb
      } MB | ${r.installSeconds.toFixed(1)} s | ${Math.round(
        r.singlePerSecond,
      )}/s | ${Math.round(r.bulkPerSecond)}/s | ${Math.round(
        r.heartbeatsPerSecond,
      )}/s | ${Math.round(r.listServicesMs)} ms, ${r.listServicesKb} KiB | ${
        r.resolve.one.p50
      } / ${r.resolve.one.p99} -> ${r.resolve.full.p50} / ${
        r.resolve.full.p99
      } ms (${ratio(r.resolve.full.p50, r.resolve.one.p50)}) | ${
        r.proxy.one.p50
      } / ${r.proxy.one.p99} -> ${r.proxy.full.p50} / ${
        r.proxy.full.p99
      } ms (${ratio(r.proxy.full.p50, r.proxy.one.p50)}) |`,
    );
  }
  return lines.join('\n');
}

async function main() {
  const wanted = process.env.BENCH_DATABASES
    ? process.env.BENCH_DATABASES.split(',')
    : ['sqlite', ...((await postgresAnswers()) ? ['postgres'] : [])];
  const results: Figures[] = [];
  for (const database of wanted as Array<'sqlite' | 'postgres'>) {
    console.log(
      `[scale] ${database}: ${PLUGINS} plugins x ${INSTANCES} instances, ${SERVICES} services`,
    );
    const r = await scenario(database);
    console.log(JSON.stringify(r));
    results.push(r);
  }
  const body = [
    '## Fleet scale (bench/scale)',
    '',
    `One backend replica (dev/replica.ts, the recording runtime) brought to ${PLUGINS} plugins x ${INSTANCES} instances`,
    `and ${SERVICES} registered services (${SINGLE} one by one over ${CONCURRENCY} connections, the rest through`,
    '`POST /services/batch` in bulks of 500), then 10,000 heartbeats through `POST /services/heartbeats`. Memory after a',
    `garbage collection; latency over one kept-alive connection, ${REQUESTS} sequential requests after 50 to warm up,`,
    `in ${ROUNDS} rounds taken in turns with a second replica holding one service (medians of the rounds).`,
    'Targets (issue #18): RSS under 300 MB over a bare backend, 1,000 registrations',
    'and heartbeats per second or more, resolve and proxy latency within 10 % of one service.',
    '',
    `Replicas ran with ${
      MALLOC_ARENA_MAX
        ? `MALLOC_ARENA_MAX=${MALLOC_ARENA_MAX}`
        : "glibc's default malloc arenas"
    }. Run on ${new Date().toISOString().slice(0, 10)}, load average ${os
      .loadavg()
      .map(l => l.toFixed(1))
      .join(' ')} at the end:`,
    '',
    table(results),
    '',
    'Command: `cd plugins/plugin-lifecycle-backend && node --require @backstage/cli/config/nodeTransform.cjs ../../bench/scale/run.ts`',
    '',
    'Before the changes of 2026-12-03 (same script, SQLite, PostgreSQL): registrations one by one 22/s and 99/s (every one',
    'rebuilt the whole discovery view, and every registration event re-read all services for health checks), 500 in bulk',
    '220/s; discovery re-read and JSON-compared all 10,000 running instances every second (a third of the CPU in a',
    "profile, most of the rest garbage collection). With glibc's default malloc arenas the same runs after the changes",
    'held +350 and +292 MB (SQLite, PostgreSQL) and +375 MB in a second SQLite run: V8 keeps freed old-space pages',
    '(heap total 300 MB for 120 MB used after the install burst) and glibc its arenas; the JavaScript heap itself grows',
    'by about 38 MB for the whole fleet (10,000 instances, 10,000 registrations, 1,000 plugins).',
  ].join('\n');
  console.log(`\n${body}`);
  if (process.env.BENCH_WRITE !== '0') writeBenchmarks('scale', body);
}

main().catch(error => {
  console.error(error);
  process.exit(1);
});
