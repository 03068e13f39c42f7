/*
 * Deployments under load: for each data plane (nginx, the Node proxy) and
 * each strategy, a constant BENCH_RATE requests/s (default 300) to
 * 127.0.0.1 during an update of a plugin of two sample instances
 * 1.0.0 -> 1.1.0; then a canary 1.0.0 -> bad 2.1.0 (ready, but 500 on
 * every request) that its analysis must roll back. The demo backend
 * (packages/backend, the real one) runs as a child process, once, with the
 * nginx data plane when nginx is installed; the Node proxy route of the
 * same backend is the other plane.
 *
 *   cd plugins/plugin-lifecycle-backend && node --require @backstage/cli/config/nodeTransform.cjs ../../bench/rollout/run.ts
 *
 * Per update: requests sent, failed (no answer, 502/503/504), 5xx from the
 * service, the rollout's duration (createdAt -> finishedAt), its configured
 * waits (analysis windows, pauses, waits, scale-down delay) and the
 * overhead (duration - waits). After each, the plugin goes back to 1.0.0
 * (a rolling update, unmeasured), so every run starts from the same state.
 *
 * Environment: BENCH_PLANES (nginx,node), BENCH_STRATEGIES (blue-green,
 * canary,rolling,a-b-testing,recreate,canary-bad), BENCH_RATE (300),
 * BENCH_REPEAT (3), BENCH_WRITE=0 to only print.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Deployment } from '@internal/plugin-lifecycle-common';
import { writeBenchmarks } from '../lib/benchmarksFile';
import {
  DemoBackend,
  SHUTDOWN_TOKEN,
  callApi,
  startDemoBackend,
} from '../../packages/backend/src/__testUtils__/shutdownHarness';
import { Sample, isFailed, startLoad } from './load';
import {
  BadCanaryRun,
  RolloutRun,
  badCanaryRun,
  median,
  rolloutRun,
} from './measure';

const ROOT = path.resolve(__dirname, '../..');
const PLUGIN = 'bench-rollout';
const RATE = Number(process.env.BENCH_RATE ?? 300);
const REPEAT = Number(process.env.BENCH_REPEAT ?? 3);
const nginx = ['/usr/sbin/nginx', '/usr/bin/nginx'].find(f => fs.existsSync(f));
const PLANES = (process.env.BENCH_PLANES ?? 'nginx,node')
  .split(',')
  .filter(p => p === 'node' || (p === 'nginx' && nginx));
const TERMINAL = ['succeeded', 'rolled-back', 'aborted', 'failed'];
/** Targets of issue #12. */
const MAX_OVERHEAD_MS = 2_000;
const MAX_BACK_MS = 1_000;

/** Settings per strategy: short waits, so a run takes seconds, and real analysis. */
const ANALYSIS = { minRequests: 50, maxExtensions: 3 };
const STRATEGIES: Record<string, object> = {
  'blue-green': {
    deploymentStrategy: 'blue-green',
    deploymentConfig: {
      blueGreen: { smokeTest: { path: '/' }, scaleDownDelay: 2_000 },
    },
  },
  canary: {
    deploymentStrategy: 'canary',
    deploymentConfig: {
      canary: {
        trafficIncrement: 25,
        incrementInterval: 2_000,
        analysis: ANALYSIS,
      },
    },
  },
  rolling: { deploymentStrategy: 'rolling' },
  'a-b-testing': {
    deploymentStrategy: 'a-b-testing',
    deploymentConfig: {
      abTesting: { percentage: 50, duration: 2_000, analysis: ANALYSIS },
    },
  },
  recreate: { deploymentStrategy: 'recreate' },
};
const BAD_CANARY = {
  deploymentStrategy: 'canary',
  deploymentConfig: {
    canary: {
      trafficIncrement: 20,
      incrementInterval: 5_000,
      analysis: ANALYSIS,
    },
  },
};
const SELECTED = (
  process.env.BENCH_STRATEGIES ??
  [...Object.keys(STRATEGIES), 'canary-bad'].join(',')
).split(',');

const sleep = (ms: number) => new Promise(r => setTimeout(r, ms));

async function until<T>(
  what: string,
  fn: () => Promise<T | undefined>,
  timeoutMs = 120_000,
) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`never: ${what}`);
    await sleep(100);
  }
}

async function update(
  backend: DemoBackend,
  version: string,
  body: object,
): Promise<Deployment> {
  const res = await callApi(backend, 'POST', `/plugins/${PLUGIN}/update`, {
    version,
    ...body,
  });
  if (res.status !== 202) {
    throw new Error(
      `update to ${version}: ${res.status} ${JSON.stringify(res.body)}`,
    );
  }
  return until(
    `deployment ${res.body.deploymentId} ends`,
    async () => {
      const d = await callApi(
        backend,
        'GET',
        `/deployments/${res.body.deploymentId}`,
      );
      return TERMINAL.includes(d.body?.phase)
        ? (d.body as Deployment)
        : undefined;
    },
    180_000,
  );
}

/** The plugin runs `version` on two instances, and `url` answers with it. */
async function settled(backend: DemoBackend, version: string, urls: string[]) {
  await until(`two instances of ${version}`, async () => {
    const res = await callApi(backend, 'GET', `/plugins/${PLUGIN}`);
    const running = (res.body?.instances ?? []).filter(
      (i: { status: string }) => i.status === 'running',
    );
    return res.body?.state === 'running' &&
      res.body?.currentVersion === version &&
      running.length === 2 &&
      running.every((i: { version: string }) => i.version === version)
      ? true
      : undefined;
  });
  for (const url of urls) {
    // Several answers in a row, on new connections: every route has it.
    await until(`${url} answers ${version}`, async () => {
      for (let i = 0; i < 6; i++) {
        const res = await fetch(url, {
          headers: {
            Authorization: `Bearer ${SHUTDOWN_TOKEN}`,
            Connection: 'close',
          },
        });
        const body = (await res.json()) as { version?: string };
        if (res.status !== 200 || body.version !== version) return undefined;
      }
      return true;
    });
  }
}

/** Each step's start and end, in ms from the deployment's creation (BENCH_VERBOSE=1). */
function printSteps(d: Deployment, samples: Sample[]) {
  const t0 = Date.parse(d.createdAt);
  const at = (iso?: string) => (iso ? String(Date.parse(iso) - t0) : '-');
  for (const s of d.steps) {
    console.log(
      `  ${s.index} ${s.kind} ${JSON.stringify(s).slice(0, 80)} ${at(
        s.startedAt,
      )} -> ${at(s.finishedAt)} ${s.status}`,
    );
  }
  for (const a of d.analysis) {
    console.log(
      `  analysis step ${a.step}: ${a.verdict} ${at(a.startedAt)} -> ${at(
        a.finishedAt,
      )}, ${a.extensions} extension(s), ${JSON.stringify(
        a.evidence.map(e => [e.version, e.requests, e.errorRate, e.p99Ms]),
      )}; ${a.reasons.join('; ')}`,
    );
  }
  console.log(`  finished ${at(d.finishedAt)}`);
  // Failed requests in bursts: when (sent, ms from createdAt) and why.
  let burst: Sample[] = [];
  const flush = () => {
    if (burst.length === 0) return;
    const why = new Map<string, number>();
    for (const b of burst) {
      const key = b.error ?? `${b.status} ${b.body ?? ''}`;
      why.set(key, (why.get(key) ?? 0) + 1);
    }
    console.log(
      `  ${burst.length} failed, sent ${Math.round(
        burst[0].sentAt - t0,
      )} .. ${Math.round(burst[burst.length - 1].sentAt - t0)}: ${[...why]
        .map(([k, n]) => `${k} x${n}`)
        .join(', ')}`,
    );
    burst = [];
  };
  for (const s of samples) {
    if (!isFailed(s)) continue;
    if (burst.length && s.sentAt - burst[burst.length - 1].sentAt > 200)
      flush();
    burst.push(s);
  }
  flush();
}

function fmt(ms: number) {
  return Number.isNaN(ms) ? '-' : (ms / 1000).toFixed(2);
}

async function main() {
  const artifacts = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-rollout-'));
  // As root, plugins run as their own users, who must read the tarballs.
  fs.chmodSync(artifacts, 0o755);
  // eslint-disable-next-line @backstage/no-relative-monorepo-imports
  await require(path.join(ROOT, 'examples/scripts/pack.js'))(artifacts);
  const backend = await startDemoBackend({
    nodeEnv: 'production',
    shutdown: { gracePeriod: 3_000 },
    dataPlane: PLANES.includes('nginx') ? { engine: 'nginx' } : undefined,
    pluginLifecycle: {
      plugins: {
        [PLUGIN]: {
          artifact: {
            type: 'tarball',
            // `$$` escapes Backstage's environment substitution in config files.
            // eslint-disable-next-line no-template-curly-in-string
            path: path.join(artifacts, 'sample-http-service-$${version}.tgz'),
          },
        },
      },
      runtime: { process: { readyTimeout: 10_000, stopGracePeriod: 3_000 } },
    },
  });
  const urlOf = (plane: string) =>
    plane === 'nginx'
      ? `http://127.0.0.1:${backend.dataPlanePort}/proxy/${PLUGIN}/`
      : `${backend.api}/proxy/${PLUGIN}/`;
  const allUrls = PLANES.map(urlOf);
  const rollout: Array<{
    plane: string;
    strategy: string;
    runs: RolloutRun[];
  }> = [];
  const bad: Array<{ plane: string; runs: BadCanaryRun[] }> = [];
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
    await settled(backend, '1.0.0', allUrls);

    const underLoad = async (plane: string, version: string, body: object) => {
      const load = startLoad({
        url: urlOf(plane),
        rate: RATE,
        headers: { Authorization: `Bearer ${SHUTDOWN_TOKEN}` },
        newConnection: plane === 'nginx',
      });
      await sleep(1_000);
      const d = await update(backend, version, body);
      await sleep(1_000);
      const { samples, skipped } = await load.stop();
      return { d, samples, skipped };
    };

    for (const plane of PLANES) {
      for (const strategy of SELECTED.filter(s => s in STRATEGIES)) {
        const runs: RolloutRun[] = [];
        for (let n = 0; n < REPEAT; n++) {
          const { d, samples, skipped } = await underLoad(
            plane,
            '1.1.0',
            STRATEGIES[strategy],
          );
          const run = rolloutRun(d, samples, skipped);
          runs.push(run);
          const latencies = samples
            .map(x => x.doneAt - x.sentAt)
            .sort((a, b) => a - b);
          const p99 = latencies[Math.floor(latencies.length * 0.99)] ?? 0;
          console.log(
            `${plane} ${strategy} #${n + 1}: ${
              d.phase
            }; latency p50 ${Math.round(
              median(latencies),
            )} ms, p99 ${Math.round(p99)} ms; ${run.failed}/${
              run.sent
            } failed, ${run.service5xx} 5xx, ${run.other} other, ${
              run.skipped
            } skipped; ${fmt(run.durationMs)} s (waits ${fmt(
              run.waitsMs,
            )} s, overhead ${fmt(run.overheadMs)} s: ${run.slowest})${
              run.outageMs ? `; outage ${Math.round(run.outageMs)} ms` : ''
            }`,
          );
          if (process.env.BENCH_VERBOSE === '1') printSteps(d, samples);
          if (d.phase !== 'succeeded') {
            console.log(`  ${d.message}`);
            await settled(backend, '1.0.0', allUrls);
            continue;
          }
          await settled(backend, '1.1.0', allUrls);
          // Back to 1.0.0, unmeasured, so the next run starts where this one did.
          const back = await update(backend, '1.0.0', {
            deploymentStrategy: 'rolling',
          });
          if (back.phase !== 'succeeded') {
            throw new Error(`back to 1.0.0: ${back.phase}: ${back.message}`);
          }
          await settled(backend, '1.0.0', allUrls);
        }
        rollout.push({ plane, strategy, runs });
      }
      if (SELECTED.includes('canary-bad')) {
        const runs: BadCanaryRun[] = [];
        for (let n = 0; n < REPEAT; n++) {
          const { d, samples } = await underLoad(plane, '2.1.0', BAD_CANARY);
          const run = badCanaryRun(d, samples, '2.1.0');
          if (process.env.BENCH_VERBOSE === '1') printSteps(d, samples);
          runs.push(run);
          console.log(
            `${plane} canary-bad #${n + 1}: ${d.phase} (${run.message}); ${
              run.failed
            } failed + ${run.service5xx} 5xx of ${run.sent} (2.1.0 answered ${
              run.badAnswers
            }; share bound ${run.shareBound}, to the verdict ${
              run.shareBoundToVerdict
            }); last 2.1.0 answer ${Math.round(
              run.backAfterMs,
            )} ms after the verdict, rollback done after ${Math.round(
              run.rollbackMs,
            )} ms`,
          );
          await settled(backend, '1.0.0', allUrls);
        }
        bad.push({ plane, runs });
      }
    }
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
    await sleep(500);
    if (process.env.BENCH_KEEP === '1') {
      console.log(`kept ${backend.work}`);
    } else {
      await backend.dispose();
    }
    fs.rmSync(artifacts, { recursive: true, force: true });
  }
  report(rollout, bad);
}

function report(
  rollout: Array<{ plane: string; strategy: string; runs: RolloutRun[] }>,
  bad: Array<{ plane: string; runs: BadCanaryRun[] }>,
) {
  const planeName = (p: string) => (p === 'nginx' ? 'nginx' : 'Node proxy');
  const rows = rollout.map(({ plane, strategy, runs }) => {
    const m = (f: (r: RolloutRun) => number) => median(runs.map(f));
    const zeroTarget = strategy !== 'recreate';
    const met =
      runs.every(r => r.phase === 'succeeded') &&
      (!zeroTarget || runs.every(r => r.failed === 0)) &&
      m(r => r.overheadMs) < MAX_OVERHEAD_MS;
    return `| ${planeName(plane)} | ${strategy} | ${m(r => r.sent)} | ${m(
      r => r.failed,
    )} | ${m(r => r.service5xx)} | ${fmt(m(r => r.durationMs))} | ${fmt(
      m(r => r.waitsMs),
    )} | ${fmt(m(r => r.overheadMs))} | ${
      zeroTarget
        ? met
          ? 'yes'
          : 'NO'
        : `no target (outage ${Math.round(m(r => r.outageMs))} ms)`
    } | ${runs.map(r => `${r.failed} / ${fmt(r.overheadMs)}`).join(', ')} |`;
  });
  const badRows = bad.map(({ plane, runs }) => {
    const m = (f: (r: BadCanaryRun) => number) => median(runs.map(f));
    const met = runs.every(
      r =>
        r.phase === 'rolled-back' &&
        r.failed + r.service5xx <= r.shareBound &&
        !(r.backAfterMs > MAX_BACK_MS),
    );
    return `| ${planeName(plane)} | ${m(r => r.sent)} | ${m(
      r => r.failed,
    )} | ${m(r => r.service5xx)} | ${m(r => r.shareBound)} | ${Math.round(
      m(r => r.backAfterMs),
    )} | ${Math.round(m(r => r.rollbackMs))} | ${met ? 'yes' : 'NO'} | ${runs
      .map(
        r =>
          `${r.failed + r.service5xx}/${r.shareBound}, ${Math.round(
            r.backAfterMs,
          )} ms`,
      )
      .join('; ')} |`;
  });
  let nginxVersion = '';
  try {
    nginxVersion = execFileSync(nginx ?? 'nginx', ['-v'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } catch (e: any) {
    nginxVersion = String(e.stderr ?? '');
  }
  nginxVersion = (nginxVersion || '').trim().replace(/^nginx version: /, '');
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  const body = [
    '## Deployments under load (bench/rollout)',
    '',
    `\`node --require @backstage/cli/config/nodeTransform.cjs ../../bench/rollout/run.ts\` (from plugins/plugin-lifecycle-backend), ${
      os.cpus().length
    } cores (${cpu}, shared with other work), ${new Date()
      .toISOString()
      .slice(0, 10)}, BENCH_RATE=${RATE}, BENCH_REPEAT=${REPEAT}${
      nginx
        ? `, ${nginxVersion || 'nginx'}`
        : ', nginx not installed (Node proxy only)'
    }. The demo backend (one child process, SQLite, default \`deployments.tickInterval\` 250 ms) runs a plugin of two sample-http-service instances. ${RATE} requests/s go to 127.0.0.1 from 1 s before the update until 1 s after it ended: through the nginx data plane (a new connection per request: a reload closes idle keep-alive connections) or through the Node proxy route \`/api/plugin-lifecycle/proxy/{pluginId}/\` (keep-alive). After each run the plugin goes back to 1.0.0 (a rolling update, not measured).`,
    '',
    'Settings: blue-green smoke test `GET /` and scaleDownDelay 2 s; canary trafficIncrement 25, incrementInterval 2 s (3 windows); rolling the defaults (maxSurge 1, maxUnavailable 0, minReadySeconds 0); A/B percentage 50 for 2 s with analysis as the winner; recreate. Every analysis: minRequests 50, maxExtensions 3, the design thresholds (99 % success, 1 % errors).',
    '',
    '"failed": no answer, or 502/503/504 (the data plane could not serve); "5xx": answered by the service. "configured waits": analysis windows (with the extensions taken), pauses, waits and the scale-down delay; "overhead" = duration (createdAt -> finishedAt) - configured waits. Targets (issue #12): 0 failed for blue-green, canary, rolling and A/B, and overhead under 2 s; recreate stops everything before it starts the new set (downtime by design, no target). Medians of the runs; each run listed as failed / overhead (s).',
    '',
    '### 1.0.0 -> 1.1.0',
    '',
    '| data plane | strategy | requests | failed | 5xx | duration (s) | configured waits (s) | overhead (s) | targets met | runs |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |',
    ...rows,
    '',
    ...(badRows.length
      ? [
          '### Canary 1.0.0 -> bad 2.1.0 (ready, 500 on every request)',
          '',
          'trafficIncrement 20, incrementInterval 5 s, minRequests 50. "share bound": 20 % of the requests sent from the start of the step that gave the canary its 20 % until its last answer: failed + 5xx must be at most that. "back after": from the failing analysis\'s finishedAt to the last answer of 2.1.0 the load saw (target: within 1 s; negative when none came after the verdict). "rolled back after": from the verdict to the deployment\'s finishedAt (the new instances stopped, the old set restored). Each run listed as failed+5xx / share bound, back after.',
          '',
          '| data plane | requests | failed | 5xx | share bound | back after (ms) | rolled back after (ms) | targets met | runs |',
          '| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |',
          ...badRows,
          '',
        ]
      : []),
    'Where the overhead goes: every split change (a weight, the pin before new instances start, the end of the split), every track change and every "routable" wait now returns only once the data planes route by it; for nginx that is a reload (a 100 ms debounce, `nginx -t`, SIGHUP, the new workers answering), a few hundred ms each on these shared cores. A canary of 3 windows makes about 9 of them. The Node proxy plane of this backend waits for the same reloads, since the backend also runs nginx. Before that wait, nginx routed by the previous split while the next step already stopped instances: 31-58 failed requests per canary, 70-99 per A/B, 16-45 per rolled-back canary, all 503 "no instance could be reached" right after finish or rollback stopped the instances that had just lost their share.',
  ].join('\n');
  console.log(body);
  if (process.env.BENCH_WRITE !== '0') writeBenchmarks('rollout', body);
}

main().catch(error => {
  console.error(error);
  process.exit(1);
});
