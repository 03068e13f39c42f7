/*
 * Held requests benchmark: the demo backend (packages/backend, a child
 * process) with N configuration long-polls held open, while a client times
 * a simple GET. Once with the caps raised above N (every long-poll held),
 * once with the default caps (pluginLifecycle.heldRequests: 20 per caller,
 * 1000 in all; all requests here are one caller, so the rest get 429).
 *
 *   cd plugins/plugin-lifecycle-backend && node --require @backstage/cli/config/nodeTransform.cjs ../../bench/heldRequests/run.ts
 *
 * Environment: BENCH_HELD (long-polls opened, default 2000), BENCH_GETS
 * (timed GETs, default 100), BENCH_WRITE=0 to only print.
 */
import fs from 'node:fs';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { writeBenchmarks } from '../lib/benchmarksFile';
import {
  DemoBackend,
  OpenRequest,
  callApi,
  installWatchedPlugin,
  openRequest,
  startDemoBackend,
} from '../../packages/backend/src/__testUtils__/shutdownHarness';

const HELD = Number(process.env.BENCH_HELD ?? 2000);
const GETS = Number(process.env.BENCH_GETS ?? 100);
const WATCHED = 'held-watched';

const sleep = (ms: number) => new Promise(r => setTimeout(r, ms));

function quantile(sorted: number[], q: number) {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

function fds(pid: number) {
  try {
    return fs.readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return NaN;
  }
}

function rssMb(pid: number) {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    return Math.round(Number(/VmRSS:\s+(\d+)/.exec(status)![1]) / 1024);
  } catch {
    return NaN;
  }
}

/** GET /plugins/{id}, one after the other, in ms. */
async function timeGets(backend: DemoBackend) {
  const times: number[] = [];
  for (let i = 0; i < GETS; i++) {
    const start = performance.now();
    const res = await callApi(backend, 'GET', `/plugins/${WATCHED}`);
    if (res.status !== 200) throw new Error(`GET answered ${res.status}`);
    times.push(performance.now() - start);
  }
  return times.sort((a, b) => a - b);
}

interface Row {
  scenario: string;
  opened: number;
  held: number;
  refused: number;
  refusedWithinMs: number;
  openMs: number;
  refusedP50: number;
  outcomes: string;
  overCapP50?: number;
  overCapMax?: number;
  fds: number;
  rssMb: number;
  getP50: number;
  getP99: number;
  getMax: number;
  baselineP50: number;
  baselineMax: number;
}

async function scenario(
  name: string,
  heldRequests: Record<string, number> | undefined,
): Promise<Row> {
  const backend = await startDemoBackend({
    nodeEnv: 'production',
    pluginLifecycle: heldRequests ? { heldRequests } : {},
  });
  try {
    await installWatchedPlugin(backend, WATCHED);
    const pid = backend.child.pid!;
    const baseline = await timeGets(backend);

    const started = performance.now();
    const open: OpenRequest[] = [];
    const refusedAt: number[] = [];
    let answered = 0;
    const outcomes = new Map<string, number>();
    const refusedIn: number[] = [];
    for (let i = 0; i < HELD; i++) {
      const sent = performance.now();
      const req = openRequest(backend, {
        path: `/plugins/${WATCHED}/config/production/watch?timeoutMs=300000`,
      });
      req.done.then(outcome => {
        answered++;
        const kind = outcome.replace(/:.*/, '');
        outcomes.set(kind, (outcomes.get(kind) ?? 0) + 1);
        if (outcome === 'status 429') {
          refusedAt.push(performance.now() - started);
          refusedIn.push(performance.now() - sent);
        }
      });
      open.push(req);
      // Opened in bursts of 100, as many clients would.
      if (i % 100 === 99) await sleep(10);
    }
    // Until every request is either held or answered: neither the answers
    // nor the backend's open sockets change for 3 s.
    let last = '';
    let still = 0;
    for (let i = 0; i < 240 && still < 3; i++) {
      await sleep(1_000);
      const now = `${answered}/${fds(pid)}`;
      still = now === last ? still + 1 : 0;
      last = now;
    }
    const openMs = performance.now() - started - 3_000;
    const row: Row = {
      scenario: name,
      opened: HELD,
      held: HELD - answered,
      refused: refusedAt.length,
      refusedWithinMs: refusedAt.length
        ? Math.round(Math.max(...refusedAt))
        : 0,
      openMs: Math.round(openMs),
      refusedP50: refusedIn.length
        ? quantile(
            refusedIn.sort((a, b) => a - b),
            0.5,
          )
        : 0,
      outcomes: [...outcomes].map(([k, n]) => `${k}: ${n}`).join(', '),
      fds: fds(pid),
      rssMb: rssMb(pid),
      getP50: 0,
      getP99: 0,
      getMax: 0,
      baselineP50: quantile(baseline, 0.5),
      baselineMax: baseline[baseline.length - 1],
    };
    // One more long-poll at a time while the caps are full: how soon the 429 comes.
    const overCap: number[] = [];
    if (answered > 0) {
      for (let i = 0; i < 50; i++) {
        const start = performance.now();
        const res = await callApi(
          backend,
          'GET',
          `/plugins/${WATCHED}/config/production/watch?timeoutMs=300000`,
        );
        if (res.status !== 429) throw new Error(`over cap: ${res.status}`);
        overCap.push(performance.now() - start);
      }
      overCap.sort((a, b) => a - b);
      row.overCapP50 = quantile(overCap, 0.5);
      row.overCapMax = overCap[overCap.length - 1];
    }
    const during = await timeGets(backend);
    row.getP50 = quantile(during, 0.5);
    row.getP99 = quantile(during, 0.99);
    row.getMax = during[during.length - 1];
    open.forEach(r => r.abort());
    await Promise.all(open.map(r => r.done));
    return row;
  } finally {
    await backend.dispose();
  }
}

async function main() {
  const rows = [
    await scenario(`caps raised to ${HELD + 100}`, {
      maxPerCaller: HELD + 100,
      maxTotal: HELD + 100,
    }),
    await scenario('default caps (20 per caller, 1000 in all)', undefined),
  ];
  const ms = (v: number) => v.toFixed(1);
  const table = [
    '| scenario | long-polls opened | held | answered 429 | 429 answered in p50 (ms) | last 429 after (ms) | one more, once settled: 429 in p50 / max (ms) | settled after (ms) | backend fds | backend RSS (MB) | GET p50 (ms) | p99 | max | GET p50 / max before (ms) |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...rows.map(
      r =>
        `| ${r.scenario} | ${r.opened} | ${r.held} | ${r.refused} | ${ms(
          r.refusedP50,
        )} | ${r.refusedWithinMs} | ${
          r.overCapP50 === undefined
            ? '-'
            : `${ms(r.overCapP50)} / ${ms(r.overCapMax!)}`
        } | ${r.openMs} | ${r.fds} | ${r.rssMb} | ${ms(r.getP50)} | ${ms(
          r.getP99,
        )} | ${ms(r.getMax)} | ${ms(r.baselineP50)} / ${ms(r.baselineMax)} |`,
    ),
  ].join('\n');
  const outcomes = rows
    .map(r => `${r.scenario}: ${r.outcomes || 'none answered'}`)
    .join('; ');
  const body = `## Held requests (bench/heldRequests)

${HELD} configuration long-polls (\`GET /plugins/{id}/config/production/watch?timeoutMs=300000\`), each on a
connection of its own from one caller, opened in bursts of 100 against the demo backend (one process, SQLite,
NODE_ENV=production); then ${GETS} \`GET /plugins/{id}\` one after the other while they are held. "Before": the
same GETs with nothing held. The 2,000 arrive within a fraction of a second on a 2-core machine, so the
first 429s wait behind the others' authentication; "one more": 50 further long-polls one at a time once all
settled. Backend fds: open file descriptors of the backend process once the long-polls
settled (held or answered); settled after: from the first request until then. Run on ${new Date()
    .toISOString()
    .slice(0, 10)}, Node ${process.version}, ${os.cpus().length} cores.

${table}

Answers to the long-polls before they were released (client side): ${outcomes}.`;
  console.log(body);
  if (process.env.BENCH_WRITE !== '0') writeBenchmarks('heldRequests', body);
}

main().catch(error => {
  console.error(error);
  process.exit(1);
});
