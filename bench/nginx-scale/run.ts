/*
 * The nginx data plane with many services: how long a routing change takes
 * to reach nginx (render, `nginx -t`, reload, new workers serving), how big
 * the configuration gets, and what a request costs when nginx has to find
 * its upstream among many (proxy_pass with variables looks the upstream up
 * by name). For 1, 100 and 1,000 services (2 instances each, all on the same
 * two upstream processes), one after the other in one run. Prints a table
 * and writes it into BENCHMARKS.md (its own section only).
 *
 *   cd plugins/plugin-lifecycle-backend && node --require @backstage/cli/config/nodeTransform.cjs ../../bench/nginx-scale/run.ts
 *
 * Needs wrk and nginx (`apt-get install -y wrk nginx`).
 *
 * Environment: BENCH_SIZES (comma-separated service counts, default
 * 1,100,1000), BENCH_SECONDS (per wrk run, 5), BENCH_ROUNDS (3),
 * BENCH_RELOADS (routing changes timed per size, 5), BENCH_WRITE=0 to only
 * print.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import knexFactory from 'knex';
import { applyDatabaseMigrations } from '../../plugins/plugin-lifecycle-backend/src/database/migrations';
import { ServiceDiscovery } from '../../plugins/plugin-lifecycle-backend/src/engines/discovery/ServiceDiscovery';
import { ProxyMetrics } from '../../plugins/plugin-lifecycle-backend/src/engines/discovery/ProxyMetrics';
import { NginxDataPlane } from '../../plugins/plugin-lifecycle-backend/src/engines/discovery/nginx/NginxDataPlane';
import { ALL_TENANTS } from '../../plugins/plugin-lifecycle-backend/src/domain/tenancy';
import { writeBenchmarks } from '../lib/benchmarksFile';
import {
  Child,
  median,
  quietLogger,
  runWrk,
  startUpstream,
  stopChild,
  treeCpuMs,
} from '../proxy/run';

const SIZES = (process.env.BENCH_SIZES ?? '1,100,1000').split(',').map(Number);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const RELOADS = Number(process.env.BENCH_RELOADS ?? 5);
const CONNECTIONS = 64;

interface Result {
  services: number;
  startMs: number;
  configKiB: number;
  reloadMs: number[];
  first: { rps: number; p99Ms: number; cpuUs: number }[];
  last: { rps: number; p99Ms: number; cpuUs: number }[];
}

async function measure(size: number, upstreams: Child[]): Promise<Result> {
  const knex = knexFactory({
    client: 'better-sqlite3',
    connection: { filename: ':memory:' },
    useNullAsDefault: true,
  });
  await applyDatabaseMigrations({ getClient: async () => knex });
  const discovery = ServiceDiscovery.create({
    db: knex,
    logger: quietLogger,
    expireIntervalMs: 0,
  });
  await discovery.start();
  for (let s = 0; s < size; s++) {
    for (const [i, u] of upstreams.entries()) {
      await discovery.registerService(
        {
          serviceId: `svc-${s}-${i}`,
          serviceName: `svc-${s}`,
          host: '127.0.0.1',
          port: u.ready.port,
        },
        { scope: ALL_TENANTS },
      );
    }
  }
  const started = performance.now();
  const plane = await NginxDataPlane.start({
    discovery,
    metrics: ProxyMetrics.create(),
    logger: quietLogger,
    reloadDebounceMs: 0,
  });
  const startMs = performance.now() - started;
  const configKiB =
    fs.statSync(path.join(plane.directory, 'nginx.conf')).size / 1024;
  try {
    // A routing change on the last service: render, check, reload, until
    // new connections reach the new workers.
    const reloadMs: number[] = [];
    for (let r = 0; r < RELOADS; r++) {
      const t0 = performance.now();
      await discovery.setInstanceHealth(`svc-${size - 1}-0`, {
        ready: r % 2 === 1,
      });
      await plane.settle();
      reloadMs.push(performance.now() - t0);
    }
    await discovery.setInstanceHealth(`svc-${size - 1}-0`, { ready: true });
    await plane.settle();

    const pid = Number(
      fs.readFileSync(path.join(plane.directory, 'nginx.pid'), 'utf8'),
    );
    const run = async (service: number) => {
      const url = `http://127.0.0.1:${plane.port}/proxy/svc-${service}/hello`;
      const before = treeCpuMs(pid);
      const result = await runWrk(url, {
        connections: CONNECTIONS,
        seconds: SECONDS,
      });
      const cpuUs = ((treeCpuMs(pid) - before) * 1000) / result.requests;
      const errors = Object.values(result.errors).reduce((a, b) => a + b, 0);
      if (errors > 0) throw new Error(`${errors} errors at ${url}`);
      return { rps: result.rps, p99Ms: result.p99Ms, cpuUs };
    };
    // Warm-up, then the first and the last service (its upstream block is
    // the last one nginx's lookup reaches) alternately.
    await run(0);
    const first = [];
    const last = [];
    for (let r = 0; r < ROUNDS; r++) {
      first.push(await run(0));
      last.push(await run(size - 1));
    }
    return { services: size, startMs, configKiB, reloadMs, first, last };
  } finally {
    await plane.close();
    await discovery.stop();
    await knex.destroy();
  }
}

async function main() {
  const loadBefore = os.loadavg()[0];
  const upstreams = [
    await startUpstream('a', 64),
    await startUpstream('b', 64),
  ];
  const results: Result[] = [];
  try {
    for (const size of SIZES) {
      const result = await measure(size, upstreams);
      results.push(result);
      console.log(
        `${size} services: start ${result.startMs.toFixed(
          0,
        )} ms, config ${result.configKiB.toFixed(
          0,
        )} KiB, routing change to serving ${median(result.reloadMs).toFixed(
          0,
        )} ms; first service ${median(result.first.map(x => x.rps)).toFixed(
          0,
        )} req/s ${median(result.first.map(x => x.cpuUs)).toFixed(
          1,
        )} µs/req, last ${median(result.last.map(x => x.rps)).toFixed(
          0,
        )} req/s ${median(result.last.map(x => x.cpuUs)).toFixed(1)} µs/req`,
      );
    }
  } finally {
    for (const u of upstreams) await stopChild(u);
  }
  const loadAfter = os.loadavg()[0];
  const rows = results.map(
    r =>
      `| ${r.services} | ${r.configKiB.toFixed(0)} | ${r.startMs.toFixed(
        0,
      )} | ${median(r.reloadMs).toFixed(0)} (${r.reloadMs
        .map(x => x.toFixed(0))
        .join(', ')}) | ${median(r.first.map(x => x.rps)).toFixed(
        0,
      )} / ${median(r.first.map(x => x.p99Ms)).toFixed(2)} / ${median(
        r.first.map(x => x.cpuUs),
      ).toFixed(1)} | ${median(r.last.map(x => x.rps)).toFixed(0)} / ${median(
        r.last.map(x => x.p99Ms),
      ).toFixed(2)} / ${median(r.last.map(x => x.cpuUs)).toFixed(1)} |`,
  );
  const table = [
    '| services (2 instances each) | nginx.conf (KiB) | start (ms) | routing change → new workers serving (ms), median (each) | first service: req/s / p99 ms / nginx CPU µs per request | last service: req/s / p99 ms / nginx CPU µs per request |',
    '| ---: | ---: | ---: | ---: | ---: | ---: |',
    ...rows,
  ].join('\n');
  console.log(`\n${table}`);
  const body = [
    '## nginx data plane with many services (bench/nginx-scale)',
    '',
    'The nginx data plane (one worker) with 1, 100 and 1,000 services registered in discovery (in-memory SQLite), each with',
    'two instances (the same two node:http upstream processes for all). Start: from `NginxDataPlane.start` to nginx',
    'listening (render, `nginx -t`, spawn). A routing change: one instance of the last service marked not ready (or ready',
    'again) in discovery, until `settle()` returns: the render, `nginx -t`, the reload, and a new connection answered by a',
    'new worker while the old ones stopped accepting. Requests: wrk (1 thread, 64 connections,',
    `${SECONDS} s, ${ROUNDS} rounds alternating) to the first and to the last service; nginx CPU is the master’s and`,
    'workers’ from /proc per request (the Node process reading the access log is not counted here). nginx finds the',
    'upstream of a `proxy_pass` with variables by name among all upstream blocks, so the last service shows what that',
    'lookup costs as the count grows.',
    '',
    `Run on ${new Date().toISOString().slice(0, 10)}, Node ${
      process.version
    }, ${os.cpus().length} cores; 1-minute load average ${loadBefore.toFixed(
      1,
    )} at the start and ${loadAfter.toFixed(1)} at the end.`,
    'Command (from plugins/plugin-lifecycle-backend, with the toolchain on PATH):',
    '',
    '    node --require @backstage/cli/config/nodeTransform.cjs ../../bench/nginx-scale/run.ts',
    '',
    table,
  ].join('\n');
  if (process.env.BENCH_WRITE !== '0') writeBenchmarks('nginx-scale', body);
}

main().catch(error => {
  console.error(error);
  process.exit(1);
});
