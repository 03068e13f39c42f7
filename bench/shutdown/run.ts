/*
 * Shutdown benchmark: how long the demo backend (packages/backend, the
 * real one, a child process) takes from SIGTERM to its exit, with what
 * clients left behind. Upstreams in this process answer at once (`fast`),
 * after 20 s (`slow`) or drip a body forever (`drip`); proxied requests go
 * through Backstage's route and the Node data plane listener alike.
 *
 *   cd plugins/plugin-lifecycle-backend && node --require @backstage/cli/config/nodeTransform.cjs ../../bench/shutdown/run.ts
 *
 * Scenarios: idle; load ended (steady load on `fast`, every request
 * answered); aborted (requests to `slow` and `drip`, and POSTs with a body
 * that never ends, whose clients then destroy their sockets); hung (the
 * same, clients still waiting); watches (configuration long-polls and
 * server-sent event streams held open).
 *
 * Environment: BENCH_ENVS (NODE_ENV values, default production,development),
 * BENCH_SCENARIOS (comma-separated subset of idle,load-ended,aborted,hung,
 * watches), BENCH_GRACE (pluginLifecycle.shutdown.gracePeriod in ms;
 * unset: the default), BENCH_CAP_MS (a backend still running this long
 * after SIGTERM is killed and reported as such, default 60000),
 * BENCH_REQUESTS (open requests per kind and plane, default 10),
 * BENCH_WRITE=0 to only print.
 */
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { writeBenchmarks } from '../lib/benchmarksFile';
import {
  DemoBackend,
  OpenRequest,
  Plane,
  installWatchedPlugin,
  openRequest,
  registerUpstreams,
  startDemoBackend,
  startUpstreams,
  timeToExit,
} from '../../packages/backend/src/__testUtils__/shutdownHarness';

const ENVS = (process.env.BENCH_ENVS ?? 'production,development').split(
  ',',
) as Array<'production' | 'development'>;
const SCENARIOS = (
  process.env.BENCH_SCENARIOS ?? 'idle,load-ended,aborted,hung,watches'
).split(',');
const GRACE = process.env.BENCH_GRACE
  ? Number(process.env.BENCH_GRACE)
  : undefined;
const CAP_MS = Number(process.env.BENCH_CAP_MS ?? 60_000);
const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 10);
const PLANES: Plane[] = ['backstage', 'dataPlane'];
const WATCHED = 'shutdown-watched';

const sleep = (ms: number) => new Promise(r => setTimeout(r, ms));

/** Steady load on `fast` from 16 clients for 2 s; every request is answered before it returns. */
async function steadyLoad(backend: DemoBackend) {
  const until = performance.now() + 2_000;
  let answered = 0;
  await Promise.all(
    Array.from({ length: 16 }, async (_, i) => {
      const plane = PLANES[i % 2];
      while (performance.now() < until) {
        await openRequest(backend, { plane, path: '/proxy/fast/x' }).done;
        answered++;
      }
    }),
  );
  return `${answered} requests answered`;
}

/** Requests that do not end by themselves: to slow and drip, and endless POST bodies. */
function openHanging(backend: DemoBackend): OpenRequest[] {
  const open: OpenRequest[] = [];
  for (const plane of PLANES) {
    for (let i = 0; i < REQUESTS; i++) {
      open.push(openRequest(backend, { plane, path: '/proxy/slow/wait' }));
      open.push(openRequest(backend, { plane, path: '/proxy/drip/stream' }));
      open.push(
        openRequest(backend, {
          plane,
          path: '/proxy/slow/upload',
          method: 'POST',
          body: 'endless',
        }),
      );
    }
  }
  return open;
}

function openWatches(backend: DemoBackend): OpenRequest[] {
  const open: OpenRequest[] = [];
  const watch = `/plugins/${WATCHED}/config/development/watch`;
  for (let i = 0; i < REQUESTS; i++) {
    open.push(openRequest(backend, { path: `${watch}?timeoutMs=55000` }));
    open.push(
      openRequest(backend, {
        path: watch,
        headers: { accept: 'text/event-stream' },
      }),
    );
  }
  return open;
}

interface Row {
  env: string;
  scenario: string;
  load: string;
  ms: number | undefined;
  exit: string;
}

async function runScenario(
  env: 'production' | 'development',
  scenario: string,
): Promise<Row> {
  const upstreams = await startUpstreams(20_000);
  const backend = await startDemoBackend({
    nodeEnv: env,
    shutdown: GRACE === undefined ? undefined : { gracePeriod: GRACE },
    // Every watch here is one caller's (the bench's token): room for all.
    pluginLifecycle: {
      heldRequests: { maxPerCaller: 4 * REQUESTS, maxTotal: 4 * REQUESTS },
    },
  });
  let open: OpenRequest[] = [];
  let load = '';
  try {
    await registerUpstreams(backend, upstreams);
    if (scenario === 'watches') await installWatchedPlugin(backend, WATCHED);
    // One answered request per plane, so both have pools and connections.
    for (const plane of PLANES) {
      await openRequest(backend, { plane, path: '/proxy/fast/warm' }).done;
    }
    switch (scenario) {
      case 'idle':
        load = 'none';
        break;
      case 'load-ended':
        load = await steadyLoad(backend);
        break;
      case 'aborted':
      case 'hung':
        open = openHanging(backend);
        await sleep(1_000);
        if (scenario === 'aborted') {
          for (const o of open) o.abort();
          await sleep(200);
        }
        load = `${open.length} requests ${
          scenario === 'aborted' ? 'aborted by their clients' : 'held open'
        }`;
        break;
      case 'watches':
        open = openWatches(backend);
        await sleep(1_000);
        load = `${open.length / 2} long-polls, ${
          open.length / 2
        } event streams`;
        break;
      default:
        throw new Error(`unknown scenario ${scenario}`);
    }
    const result = await timeToExit(backend, 'SIGTERM', CAP_MS);
    return {
      env,
      scenario,
      load,
      ms: result.ms,
      exit:
        result.ms === undefined
          ? `still running after ${CAP_MS / 1000} s: SIGKILL`
          : `code ${result.code}${result.signal ? ` (${result.signal})` : ''}`,
    };
  } finally {
    for (const o of open) o.abort();
    await backend.dispose();
    await upstreams.close();
  }
}

async function main() {
  const rows: Row[] = [];
  for (const env of ENVS) {
    for (const scenario of SCENARIOS) {
      const row = await runScenario(env, scenario);
      console.log(
        `${env.padEnd(12)} ${scenario.padEnd(11)} ${
          row.ms === undefined ? `>${CAP_MS} ms` : `${row.ms.toFixed(0)} ms`
        }  ${row.exit}  (${row.load})`,
      );
      rows.push(row);
    }
  }
  const grace =
    GRACE === undefined
      ? 'the default grace period (10 s)'
      : `${GRACE} ms grace`;
  const body = [
    '## Shutdown (bench/shutdown)',
    '',
    `Time from SIGTERM to the exit of the demo backend (packages/backend, a child process, SQLite), with ${grace}, ` +
      `on ${os.cpus().length} cores (${
        os.cpus()[0]?.model ?? 'unknown CPU'
      }), shared. Upstreams answer at once, ` +
      `after 20 s, or drip a body forever; proxied requests (${REQUESTS} per kind and plane) go through ` +
      '`/api/plugin-lifecycle/proxy` and the Node data plane listener. One run per row; a backend still ' +
      `running ${CAP_MS / 1000} s after SIGTERM is killed.`,
    '',
    // Measured once, at the commit that added this script, before the fix.
    'Before the fix (commit af205dd, same script, 60 s cap): requests hung on an upstream kept the backend running past 60 s in both modes, and held long-polls and event streams in production; every other row took about 0.1 s.',
    '',
    '    cd plugins/plugin-lifecycle-backend && node --require @backstage/cli/config/nodeTransform.cjs ../../bench/shutdown/run.ts',
    '',
    '| NODE_ENV | scenario | load before SIGTERM | SIGTERM to exit | exit |',
    '| --- | --- | --- | ---: | --- |',
    ...rows.map(
      r =>
        `| ${r.env} | ${r.scenario} | ${r.load} | ${
          r.ms === undefined
            ? `> ${CAP_MS / 1000} s`
            : `${(r.ms / 1000).toFixed(1)} s`
        } | ${r.exit} |`,
    ),
  ].join('\n');
  console.log(`\n${body}`);
  if (process.env.BENCH_WRITE !== '0') writeBenchmarks('shutdown', body);
}

main().catch(error => {
  console.error(error);
  process.exit(1);
});
