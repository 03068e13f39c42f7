/*
 * Health monitor benchmark: one HealthMonitor probes 10,000 HTTP targets
 * every second (spread over 20 real keep-alive HTTP servers in a child
 * process) and we measure what it costs the event loop. Prints a table and
 * writes it into BENCHMARKS.md (its own section only).
 *
 *   cd plugins/plugin-lifecycle-backend && node --require @backstage/cli/config/nodeTransform.cjs ../../bench/health/run.ts
 *
 * Environment: BENCH_TARGETS (default 10000), BENCH_PORTS (20), BENCH_SECONDS
 * (measured seconds, 30), BENCH_WARMUP_SECONDS (5), BENCH_CONCURRENCY (max
 * probes at once; the monitor's default, 64), BENCH_CONNECTIONS (keep-alive
 * connections per server, 4), BENCH_COMPARE_CONCURRENCY (a further SQLite
 * run with this many probes at once, 256; empty for none), BENCH_DATABASES (sqlite,postgres), BENCH_POSTGRES_URL
 * (postgresql://postgres@127.0.0.1:5432), BENCH_WRITE=0 to only print,
 * BENCH_TRACE=1 to print a line per measured second.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn, ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createHistogram, monitorEventLoopDelay } from 'node:perf_hooks';
import knexFactory, { Knex } from 'knex';
import { LoggerService } from '@backstage/backend-plugin-api';
import { applyDatabaseMigrations } from '../../plugins/plugin-lifecycle-backend/src/database/migrations';
import {
  HealthMonitor,
  HealthTarget,
} from '../../plugins/plugin-lifecycle-backend/src/engines/health/HealthMonitor';
import { ProberRegistry } from '../../plugins/plugin-lifecycle-backend/src/engines/health/probers/ProberRegistry';
import { SystemEvents } from '../../plugins/plugin-lifecycle-backend/src/events/SystemEvents';
import { writeBenchmarks } from '../lib/benchmarksFile';

const TARGETS = Number(process.env.BENCH_TARGETS ?? 10_000);
const PORTS = Number(process.env.BENCH_PORTS ?? 20);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 30);
const WARMUP_SECONDS = Number(process.env.BENCH_WARMUP_SECONDS ?? 5);
/** Probes at once; the monitor's default (64) when not set. */
const CONCURRENCY = process.env.BENCH_CONCURRENCY
  ? Number(process.env.BENCH_CONCURRENCY)
  : undefined;
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 4);
/** Also run SQLite with this many probes at once, for comparison ('' for none). */
const COMPARE_CONCURRENCY = process.env.BENCH_COMPARE_CONCURRENCY ?? '256';
const DATABASES = (process.env.BENCH_DATABASES ?? 'sqlite,postgres').split(',');
const POSTGRES_URL =
  process.env.BENCH_POSTGRES_URL ?? 'postgresql://postgres@127.0.0.1:5432';
const TARGET_P99_MS = 20;
/** monitorEventLoopDelay's default; its values include this interval. */
const LAG_RESOLUTION_MS = 10;

/** The servers: plain node:http with keep-alive, in their own process. */
const SERVERS_SCRIPT = `
const http = require('node:http');
const count = Number(process.argv[1]);
const servers = [];
let listening = 0;
const ports = [];
for (let i = 0; i < count; i++) {
  const server = http.createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': 2 });
    res.end('ok');
  });
  server.keepAliveTimeout = 60000;
  server.listen(0, '127.0.0.1', () => {
    ports.push(server.address().port);
    if (++listening === count) process.stdout.write(JSON.stringify(ports) + '\\n');
  });
  servers.push(server);
}
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
`;

interface Result {
  database: string;
  concurrency: number;
  targets: number;
  seconds: number;
  probesPerSecond: number;
  failed: number;
  lagP50: number;
  lagP99: number;
  lagMax: number;
  startLagP99: number;
  startLagMax: number;
  probeLatencyP50: number;
  probeLatencyP99: number;
  cpuPercent: number;
  serverCpuPercent: number;
  statusRows: number;
  results: number;
  /** The machine's 1-minute load average before and after (it is shared). */
  load: [number, number];
}

const quietLogger: LoggerService = {
  error: (message: string) => console.error(message),
  warn: (message: string) => console.warn(message),
  info: () => {},
  debug: () => {},
  child() {
    return quietLogger;
  },
};

async function startServers(): Promise<{
  ports: number[];
  child: ChildProcess;
}> {
  const child = spawn(process.execPath, ['-e', SERVERS_SCRIPT, String(PORTS)], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout!.on('data', d => (out += d));
  while (!out.includes('\n')) await new Promise(r => setTimeout(r, 10));
  return { ports: JSON.parse(out.trim()), child };
}

/** CPU time of a process in ms, from /proc (Linux). */
function processCpuMs(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]); // utime + stime
  return (ticks * 1000) / 100; // USER_HZ is 100 on Linux
}

async function openDatabase(
  database: string,
): Promise<{ db: Knex; cleanup: () => Promise<void> }> {
  if (database === 'postgres') {
    const name = `plt_hbench_${randomUUID().slice(0, 8)}`;
    const admin = knexFactory({ client: 'pg', connection: POSTGRES_URL });
    await admin.raw(`CREATE DATABASE "${name}"`);
    await admin.destroy();
    const db = knexFactory({
      client: 'pg',
      connection: `${POSTGRES_URL}/${name}`,
      pool: { min: 0, max: 10 },
    });
    return {
      db,
      cleanup: async () => {
        await db.destroy();
        const again = knexFactory({ client: 'pg', connection: POSTGRES_URL });
        await again.raw(`DROP DATABASE IF EXISTS "${name}"`).catch(() => {});
        await again.destroy();
      },
    };
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'plt-hbench-'));
  const db = knexFactory({
    client: 'better-sqlite3',
    connection: { filename: path.join(dir, 'health.sqlite') },
    useNullAsDefault: true,
  });
  return {
    db,
    cleanup: async () => {
      await db.destroy();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function scenario(
  database: string,
  ports: number[],
  serverPid: number,
  concurrency: number | undefined,
) {
  const { db, cleanup } = await openDatabase(database);
  await applyDatabaseMigrations({ getClient: async () => db } as any);
  const probers = ProberRegistry.create({
    http: { connectionsPerOrigin: CONNECTIONS },
  });
  // Measure each probe's own latency on the way through.
  const latency = createHistogram();
  const run = probers.run.bind(probers);
  probers.run = async (target, probe, signal) => {
    const outcome = await run(target, probe, signal);
    latency.record(Math.max(1, Math.round(outcome.latencyMs * 1000)));
    return outcome;
  };
  const events = new SystemEvents();
  const verdictCounts = new Map<string, number>();
  events.on('healthMonitor:verdictChanged', (change: { verdict: string }) =>
    verdictCounts.set(
      change.verdict,
      (verdictCounts.get(change.verdict) ?? 0) + 1,
    ),
  );
  const monitor = HealthMonitor.create({
    db,
    logger: quietLogger,
    events,
    replicaId: `bench-${process.pid}`,
    probers,
    maxConcurrentProbes: concurrency,
    heartbeatIntervalMs: 2_000,
    replicaTimeoutMs: 10_000,
  });
  const targets: HealthTarget[] = Array.from({ length: TARGETS }, (_, i) => ({
    id: `target-${i}`,
    pluginId: `bench-${i % 100}`,
    host: '127.0.0.1',
    port: ports[i % ports.length],
    probes: [
      {
        name: 'ready',
        type: 'readiness',
        method: 'http',
        http: { path: '/healthz' },
        periodSeconds: 1,
        timeoutSeconds: 1,
      },
    ],
  }));

  const startLag = monitorEventLoopDelay({ resolution: LAG_RESOLUTION_MS });
  startLag.enable();
  await monitor.start();
  await monitor.addTargets(targets);
  await new Promise(r => setTimeout(r, WARMUP_SECONDS * 1000));
  // The first status of every target is written by now (or is waited for):
  // the measured seconds are the steady state.
  await monitor.flush();
  startLag.disable();

  const lag = monitorEventLoopDelay({ resolution: LAG_RESOLUTION_MS });
  const loadBefore = os.loadavg()[0];
  latency.reset();
  const before = monitor.stats();
  const cpuBefore = process.cpuUsage();
  const serverCpuBefore = processCpuMs(serverPid);
  const started = performance.now();
  lag.enable();
  if (process.env.BENCH_TRACE === '1') {
    // One line per second: where the time goes.
    const second = monitorEventLoopDelay({ resolution: LAG_RESOLUTION_MS });
    second.enable();
    let last = monitor.stats();
    for (let s = 0; s < SECONDS; s++) {
      await new Promise(r => setTimeout(r, 1000));
      const now = monitor.stats();
      console.log(
        `  ${s}s: lag p99 ${(second.percentile(99) / 1e6).toFixed(1)} max ${(
          second.max / 1e6
        ).toFixed(1)} ms, probes ${now.probesRun - last.probesRun}, running ${
          now.probesRunning
        }, status rows ${
          now.statusRowsWritten - last.statusRowsWritten
        }, results ${now.resultsWritten - last.resultsWritten}, pending ${
          now.pendingStatusRows
        }/${now.pendingResults}, verdicts ${JSON.stringify(
          Object.fromEntries(verdictCounts),
        )}`,
      );
      verdictCounts.clear();
      second.reset();
      last = now;
    }
    second.disable();
  } else {
    await new Promise(r => setTimeout(r, SECONDS * 1000));
  }
  lag.disable();
  const elapsed = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  const serverCpu = processCpuMs(serverPid) - serverCpuBefore;
  const after = monitor.stats();
  await monitor.stop();
  await probers.close();
  await cleanup();

  const ms = (ns: number) => ns / 1e6;
  const result: Result = {
    database: database === 'postgres' ? 'PostgreSQL' : 'SQLite',
    concurrency: concurrency ?? 64,
    targets: after.targets,
    seconds: elapsed,
    probesPerSecond: (after.probesRun - before.probesRun) / elapsed,
    failed: after.probesFailed - before.probesFailed,
    lagP50: ms(lag.percentile(50)),
    lagP99: ms(lag.percentile(99)),
    lagMax: ms(lag.max),
    startLagP99: ms(startLag.percentile(99)),
    startLagMax: ms(startLag.max),
    probeLatencyP50: latency.percentile(50) / 1000,
    probeLatencyP99: latency.percentile(99) / 1000,
    cpuPercent: ((cpu.user + cpu.system) / 1000 / (elapsed * 1000)) * 100,
    serverCpuPercent: (serverCpu / (elapsed * 1000)) * 100,
    statusRows: after.statusRowsWritten - before.statusRowsWritten,
    results: after.resultsWritten - before.resultsWritten,
    load: [loadBefore, os.loadavg()[0]],
  };
  return result;
}

function table(results: Result[]) {
  const lines = [
    '| database | probes at once | targets | probes/s | failed | event-loop lag p50 | p99 | max | p99 / max while starting | probe latency p50 / p99 | CPU (monitor / servers) | status rows, results written | machine load |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const r of results) {
    lines.push(
      `| ${r.database} | ${r.concurrency} | ${
        r.targets
      } | ${r.probesPerSecond.toFixed(0)} | ${r.failed} | ${r.lagP50.toFixed(
        1,
      )} ms | ${r.lagP99.toFixed(1)} ms | ${r.lagMax.toFixed(
        1,
      )} ms | ${r.startLagP99.toFixed(1)} ms / ${r.startLagMax.toFixed(
        0,
      )} ms | ${r.probeLatencyP50.toFixed(2)} / ${r.probeLatencyP99.toFixed(
        2,
      )} ms | ${r.cpuPercent.toFixed(0)}% / ${r.serverCpuPercent.toFixed(
        0,
      )}% | ${r.statusRows}, ${r.results} | ${r.load[0].toFixed(
        1,
      )} → ${r.load[1].toFixed(1)} |`,
    );
  }
  return lines.join('\n');
}

async function main() {
  const { ports, child } = await startServers();
  const results: Result[] = [];
  try {
    const runs: Array<[string, number | undefined]> = DATABASES.map(d => [
      d,
      CONCURRENCY,
    ]);
    if (COMPARE_CONCURRENCY) runs.push(['sqlite', Number(COMPARE_CONCURRENCY)]);
    for (const [database, concurrency] of runs) {
      process.stdout.write(
        `${database}, ${
          concurrency ?? 64
        } at once: ${TARGETS} targets every 1 s ... `,
      );
      const result = await scenario(database, ports, child.pid!, concurrency);
      console.log(
        `${result.probesPerSecond.toFixed(
          0,
        )} probes/s, lag p99 ${result.lagP99.toFixed(1)} ms`,
      );
      results.push(result);
    }
  } finally {
    child.stdin!.end();
    child.kill();
  }
  const verdicts = results
    .slice(0, DATABASES.length)
    .map(
      r =>
        `${r.database}: p99 ${r.lagP99.toFixed(1)} ms, ${
          r.lagP99 < TARGET_P99_MS ? 'met' : 'NOT met'
        }, at ${r.probesPerSecond.toFixed(0)} probes/s (${(
          (r.probesPerSecond / TARGETS) *
          100
        ).toFixed(0)}% of the ${TARGETS} asked for)`,
    );
  const body = [
    '## Health monitor',
    '',
    `bench/health/run.ts. One HealthMonitor (one replica) probes ${TARGETS} targets registered with \`addTargets\`, each with`,
    'one HTTP readiness probe (`GET /healthz`, `periodSeconds: 1`, `timeoutSeconds: 1`). The targets are spread over',
    `${PORTS} real node:http servers (keep-alive) in a child process; the HTTP prober keeps ${CONNECTIONS} keep-alive`,
    `connections per server (undici). Up to ${
      CONCURRENCY ?? 64
    } probes run at once (\`maxConcurrentProbes\`${
      CONCURRENCY ? '' : ', the default'
    }). State changes and sampled`,
    'results are written in batches every second to a SQLite file or a fresh PostgreSQL database.',
    '',
    `A ${WARMUP_SECONDS} s warm-up (start, ${TARGETS} targets added, the first probes, the first write of every status row,`,
    `waited for) is the "while starting" column; then ${SECONDS} s are measured: event-loop lag with`,
    `\`perf_hooks.monitorEventLoopDelay\` at its default resolution of ${LAG_RESOLUTION_MS} ms (each value is the interval between`,
    `two samples, so an idle loop reads ${LAG_RESOLUTION_MS} ms and the figures include it), probes completed per second, the`,
    "probes' own latency as the prober measured it, and CPU time as a share of one core.",
    '',
    `Run on ${new Date().toISOString().slice(0, 10)}, Node ${
      process.version
    }, ${os.cpus().length} cores (${os.cpus()[0]?.model.trim()}). Command:`,
    '',
    '    cd plugins/plugin-lifecycle-backend && node --require @backstage/cli/config/nodeTransform.cjs ../../bench/health/run.ts',
    '',
    table(results),
    '',
    'Machine load: the 1-minute load average before and after the measured seconds. The machine is shared with other',
    "work, and the servers' process competes with the monitor for the same two cores.",
    '',
    `Target: event-loop lag p99 < ${TARGET_P99_MS} ms while probing ${TARGETS} targets every second. ${verdicts.join(
      '; ',
    )}.`,
    '',
    'Notes from the runs made while tuning it (same machine, same day):',
    '',
    '- The figures depend on what else the machine runs. With a load average of 4 to 5 from other work, the same',
    '  script gave 6,958 probes/s at p99 36.0 ms on SQLite and 8,305 probes/s at p99 26.9 ms on PostgreSQL: the',
    '  monitor got only 55-60% of a core. With the machine quiet, runs gave p99 16.0 to 19.7 ms at 9,084 to 10,070',
    '  probes/s (PostgreSQL, whose server processes share the two cores, at the lower end).',
    '- 64 probes at once is the default because more slots let a busy loop pile up completions: with 256 slots',
    '  and a loaded machine, runs settled at 7,000-7,800 probes/s, every slot taken, probe latency p50 around 20 ms and',
    '  lag p99 of 36 to 50 ms (a probe that waits for the loop holds its slot longer, so more run at once, so more',
    '  complete in each turn of the loop). With the machine quiet the difference is small (the last row above).',
    '- Start-up is above the target: adding 10,000 targets, their first probes and writing 10,000 status rows',
    '  cost p99 21 to 40 ms and single stalls of up to about 120 ms in the first seconds.',
    '- Status rows and results are written only on changes and at intervals (each row is rewritten every 30-90 s;',
    '  a result is sampled when it differs from the previous one, else once a minute), so the steady state writes',
    '  little: the columns above count what the measured seconds wrote.',
  ].join('\n');
  console.log(`\n${table(results)}`);
  if (process.env.BENCH_WRITE !== '0') writeBenchmarks('health', body);
}

main().catch(error => {
  console.error(error);
  process.exit(1);
});
