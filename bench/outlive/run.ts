/*
 * Outliving the backend, and healing: for each fault, the requests that
 * failed and the longest time no request was served, under a bounded load
 * (BENCH_RATE requests/s, default 150) to 127.0.0.1. The demo backend
 * (packages/backend, the real one, a child process) runs a plugin of two
 * instances of the sample service; the load goes through the nginx data
 * plane (it outlives the backend), or straight to the instances when nginx
 * is not installed (then the instance faults are not measured: their
 * replacements listen on new ports).
 *
 *   cd plugins/plugin-lifecycle-backend && node --require @backstage/cli/config/nodeTransform.cjs ../../bench/outlive/run.ts
 *
 * Faults: kill-one (SIGKILL one instance), kill-all (SIGKILL both),
 * backend-sigterm and backend-sigkill (the backend stopped or killed, then
 * started again on the same data: it adopts the instances). Each is
 * repeated BENCH_REPEAT times (default 3); medians are written.
 *
 * Environment: BENCH_FAULTS (subset, comma-separated), BENCH_REPEAT,
 * BENCH_RATE, BENCH_WRITE=0 to only print.
 */
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { writeBenchmarks } from '../lib/benchmarksFile';
import {
  DemoBackend,
  callApi,
  startDemoBackend,
  timeToExit,
} from '../../packages/backend/src/__testUtils__/shutdownHarness';

const ROOT = path.resolve(__dirname, '../..');
const SAMPLE = path.join(ROOT, 'examples/sample-http-service/server.js');
const FAULTS = (
  process.env.BENCH_FAULTS ??
  'kill-one,kill-all,backend-sigterm,backend-sigkill'
).split(',');
const REPEAT = Number(process.env.BENCH_REPEAT ?? 3);
const RATE = Number(process.env.BENCH_RATE ?? 150);
const PLUGIN = 'bench-outlive';
const nginx = ['/usr/sbin/nginx', '/usr/bin/nginx'].find(f => fs.existsSync(f));

const sleep = (ms: number) => new Promise(r => setTimeout(r, ms));

interface Instance {
  id: string;
  pid: number;
  port: number;
  status: string;
}

async function instances(backend: DemoBackend): Promise<Instance[]> {
  const res = await callApi(backend, 'GET', `/plugins/${PLUGIN}`);
  return (res.body?.instances ?? []).filter(
    (i: Instance) => i.status === 'running',
  );
}

async function until<T>(what: string, fn: () => Promise<T | undefined>) {
  const deadline = Date.now() + 120_000;
  for (;;) {
    const value = await fn().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`never: ${what}`);
    await sleep(100);
  }
}

/** Requests at a fixed rate, each with when it was sent and whether it was served. */
function load(urls: () => string[]) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
  const results: Array<{ at: number; ok: boolean }> = [];
  const inFlight = new Set<Promise<void>>();
  let n = 0;
  const timer = setInterval(() => {
    const targets = urls();
    const url = targets[n++ % targets.length];
    const at = performance.now();
    const done = new Promise<void>(resolve => {
      const req = http.get(url, { agent, timeout: 5_000 }, res => {
        res.resume();
        res.once('end', () => {
          results.push({ at, ok: res.statusCode === 200 });
          resolve();
        });
      });
      req.once('timeout', () => req.destroy(new Error('timeout')));
      req.once('error', () => {
        results.push({ at, ok: false });
        resolve();
      });
    });
    inFlight.add(done);
    done.finally(() => inFlight.delete(done));
  }, 1000 / RATE);
  return {
    async stop() {
      clearInterval(timer);
      await Promise.all(inFlight);
      agent.destroy();
      results.sort((a, b) => a.at - b.at);
      const failed = results.filter(r => !r.ok).length;
      // The longest stretch from the last served request before a failure
      // to the first served one after it.
      let longest = 0;
      let lastOk: number | undefined;
      let failing = false;
      for (const r of results) {
        if (r.ok) {
          if (failing && lastOk !== undefined) {
            longest = Math.max(longest, r.at - lastOk);
          }
          failing = false;
          lastOk = r.at;
        } else {
          failing = true;
        }
      }
      return { sent: results.length, failed, outageMs: longest };
    },
  };
}

function median(values: number[]) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

async function main() {
  const config = {
    nodeEnv: 'production' as const,
    shutdown: { gracePeriod: 3_000 },
    dataPlane: nginx ? { engine: 'nginx' } : undefined,
    pluginLifecycle: {
      plugins: {
        [PLUGIN]: {
          artifact: {
            type: 'command',
            command: process.execPath,
            args: [SAMPLE],
          },
        },
      },
      runtime: {
        process: { readyTimeout: 10_000, stopGracePeriod: 3_000 },
        restartPolicy: {
          backoffBase: 100,
          backoffMax: 1_000,
          maxRestarts: 1_000,
        },
      },
      orchestrator: { enableAutoRecovery: true },
    },
  };
  let backend = await startDemoBackend(config);
  const groups = new Set<number>();
  try {
    const install = await callApi(
      backend,
      'POST',
      `/plugins/${PLUGIN}/install`,
      {
        version: '1.0.0',
        replicas: 2,
        start: true,
      },
    );
    await callApi(
      backend,
      'GET',
      `/operations/${install.body.operationId}?waitSeconds=60`,
    );
    let current = await until('two instances', async () => {
      const live = await instances(backend);
      return live.length === 2 ? live : undefined;
    });
    const viaNginx = `http://127.0.0.1:${backend.dataPlanePort}/proxy/${PLUGIN}/`;
    if (nginx) {
      await until('nginx routes', async () =>
        (await fetch(viaNginx)).status === 200 ? true : undefined,
      );
    }
    const urls = () =>
      nginx ? [viaNginx] : current.map(i => `http://127.0.0.1:${i.port}/`);

    const rows: string[] = [];
    for (const fault of FAULTS) {
      if (!nginx && fault.startsWith('kill-')) continue;
      const runs: Array<{
        sent: number;
        failed: number;
        outageMs: number;
        replaced: number;
      }> = [];
      for (let run = 0; run < REPEAT; run++) {
        const before = current;
        before.forEach(i => groups.add(i.pid));
        const l = load(urls);
        await sleep(1_000);
        if (fault === 'kill-one') {
          process.kill(before[0].pid, 'SIGKILL');
        } else if (fault === 'kill-all') {
          before.forEach(i => process.kill(i.pid, 'SIGKILL'));
        } else {
          await timeToExit(
            backend,
            fault === 'backend-sigterm' ? 'SIGTERM' : 'SIGKILL',
            30_000,
          );
          backend = await startDemoBackend({ ...config, restartOf: backend });
        }
        const killed = fault.startsWith('kill-')
          ? new Set(
              fault === 'kill-one' ? [before[0].id] : before.map(i => i.id),
            )
          : new Set<string>();
        current = await until('two serving instances again', async () => {
          const live = await instances(backend);
          return live.length === 2 && live.every(i => !killed.has(i.id))
            ? live
            : undefined;
        });
        await sleep(1_000);
        const stopped = await l.stop();
        // Instances that are not the ones from before the fault.
        const replaced = current.filter(
          i => !before.some(b => b.id === i.id && b.pid === i.pid),
        ).length;
        const result = { ...stopped, replaced };
        runs.push(result);
        console.log(
          `${fault} #${run + 1}: ${result.failed}/${
            result.sent
          } failed, longest outage ${result.outageMs.toFixed(
            0,
          )} ms, ${replaced} instance(s) replaced`,
        );
        await sleep(500);
      }
      rows.push(
        `| ${fault} | ${median(runs.map(r => r.sent))} | ${median(
          runs.map(r => r.failed),
        )} | ${median(runs.map(r => r.outageMs)).toFixed(0)} | ${median(
          runs.map(r => r.replaced),
        )} | ${runs
          .map(r => `${r.failed} / ${r.outageMs.toFixed(0)} ms`)
          .join(', ')} |`,
      );
    }
    current.forEach(i => groups.add(i.pid));
    const body = [
      '## Instances outlive the backend; faults under load (bench/outlive)',
      '',
      `\`node --require @backstage/cli/config/nodeTransform.cjs ../../bench/outlive/run.ts\` (from plugins/plugin-lifecycle-backend), ${
        os.cpus().length
      } cores, ${new Date()
        .toISOString()
        .slice(
          0,
          10,
        )}. The demo backend runs one plugin of two sample instances; ${RATE} requests/s go to 127.0.0.1 ${
        nginx
          ? 'through the nginx data plane'
          : 'straight to the instances (nginx not installed)'
      }, from 1 s before the fault until 1 s after two instances serve again (the backend restarted, for the backend faults). "Longest outage": from the last served request before a failure to the next served one. Medians of ${REPEAT} runs, each run as failed / outage.`,
      '',
      '| fault | requests | failed | longest outage (ms) | instances replaced | runs |',
      '| --- | ---: | ---: | ---: | ---: | --- |',
      ...rows,
      '',
      'A killed instance is replaced by the restart policy; requests in flight on it, and those nginx sent it before it was taken out, fail. A backend restart (SIGTERM or SIGKILL) restarts no instance (same ids and pids after it): the next backend adopts them, and nginx, left running, is adopted, and reloaded only when the routing it serves changed (a reload makes its old workers close idle client connections, which cost 1 request in 3,230 in an earlier run that always reloaded).',
    ].join('\n');
    console.log(body);
    if (process.env.BENCH_WRITE !== '0') writeBenchmarks('outlive', body);
  } finally {
    await backend.dispose({ keepData: true });
    const nginxPid = path.join(
      backend.work,
      'plugin-lifecycle',
      '.nginx',
      'nginx.pid',
    );
    try {
      process.kill(Number(fs.readFileSync(nginxPid, 'utf8')), 'SIGQUIT');
    } catch {
      // none
    }
    for (const pid of groups) {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    await sleep(500);
    await backend.dispose();
  }
}

main().catch(error => {
  console.error(error);
  process.exit(1);
});
