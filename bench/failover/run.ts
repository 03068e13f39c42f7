/*
 * Failover benchmark: an instance dies under load. Three upstream instances
 * (plain node:http, each a process of its own) are registered in discovery;
 * our data plane (a process of its own) takes steady GET load from wrk; in
 * the middle of the run one upstream is sent SIGKILL (or, in the other
 * variants, SIGSTOP: it keeps its port and its connections but answers
 * nothing). Reports the requests that failed, when the proxy last tried the
 * dead instance and when passive outlier ejection took it out, as medians
 * over several repeats. Prints a table and writes it into BENCHMARKS.md (its
 * own section only).
 *
 *   cd plugins/plugin-lifecycle-backend && node --require @backstage/cli/config/nodeTransform.cjs ../../bench/failover/run.ts
 *
 * Needs wrk (`apt-get install -y wrk`).
 *
 * Environment: BENCH_CONNECTIONS (wrk connections, default 32),
 * BENCH_SECONDS (per run, 8), BENCH_KILL_AFTER_SECONDS (into the run, 3),
 * BENCH_REPEATS (per variant, 5), BENCH_VARIANTS (comma-separated subset of
 * kill,stop,stop-timeout,stop-attempt), BENCH_STOP_HEADERS_TIMEOUT_MS (the
 * proxy's headersTimeoutMs in the stop-timeout variant, 1000),
 * BENCH_STOP_ATTEMPT_TIMEOUT_MS (the proxy's attemptTimeoutMs in the
 * stop-attempt variant, 250), BENCH_WRITE=0 to only print.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { LoggerService } from '@backstage/backend-plugin-api';
import {
  Child,
  PROXY_PATH,
  WrkResult,
  median,
  runWrk,
  spawnRole,
  startOurProxy,
  startUpstream,
  stopChild,
} from '../proxy/run';
import { writeBenchmarks } from '../lib/benchmarksFile';
import { NginxDataPlane } from '../../plugins/plugin-lifecycle-backend/src/engines/discovery/nginx/NginxDataPlane';
import { parseAccessLogLine } from '../../plugins/plugin-lifecycle-backend/src/engines/discovery/nginx/accessLog';

const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 8);
const KILL_AFTER_SECONDS = Number(process.env.BENCH_KILL_AFTER_SECONDS ?? 3);
const REPEATS = Number(process.env.BENCH_REPEATS ?? 5);
const STOP_HEADERS_TIMEOUT_MS = Number(
  process.env.BENCH_STOP_HEADERS_TIMEOUT_MS ?? 1000,
);
/**
 * 250 ms: far above an answer's normal time here (a p99 of tens of
 * milliseconds at this load on this shared machine), so a slow but healthy
 * instance is not cut off, and short enough that a request retried twice
 * (3 x 250 ms) still ends well within wrk's 2 s timeout and the 1 s target.
 */
const STOP_ATTEMPT_TIMEOUT_MS = Number(
  process.env.BENCH_STOP_ATTEMPT_TIMEOUT_MS ?? 250,
);
const INSTANCES = 3;
const VICTIM = 1;
/** wrk's own per-request timeout. */
const WRK_TIMEOUT_S = 2;
const TARGET_FAILED = 0;
const TARGET_SETTLE_MS = 1000;

type Variant =
  | 'kill'
  | 'stop'
  | 'stop-timeout'
  | 'stop-attempt'
  | 'kill-nginx'
  | 'stop-attempt-nginx';
const VARIANTS: Variant[] = [
  'kill',
  'stop',
  'stop-timeout',
  'stop-attempt',
  'kill-nginx',
  'stop-attempt-nginx',
];

const DESCRIPTIONS: Record<Variant, string> = {
  kill: 'SIGKILL (port closed, connections reset)',
  stop: 'SIGSTOP (port and connections kept, no answers), proxy defaults (headersTimeoutMs 60000)',
  'stop-timeout': `SIGSTOP, proxy with headersTimeoutMs ${STOP_HEADERS_TIMEOUT_MS}`,
  'stop-attempt': `SIGSTOP, proxy with attemptTimeoutMs ${STOP_ATTEMPT_TIMEOUT_MS} (headersTimeoutMs default)`,
  'kill-nginx': 'nginx data plane: SIGKILL',
  'stop-attempt-nginx': `nginx data plane: SIGSTOP, with attemptTimeout ${STOP_ATTEMPT_TIMEOUT_MS} (its proxy_read_timeout)`,
};

/** Wall-clock ms with sub-ms precision, comparable across processes. */
const now = () => performance.timeOrigin + performance.now();

// ---------------------------------------------------------------------------
// The proxy's process.

interface Report {
  /** Attempts per instance id over the whole run. */
  attempts: Record<string, number>;
  /** When each attempt on the victim started (wall-clock ms). */
  victimAttempts: number[];
  /** Ejections: instance id and when. */
  ejections: Array<{ serviceId: string; at: number }>;
  /** When each answer (status < 500, any instance) arrived. */
  answered: number[];
  /** Attempts on the victim under way now (no answer, no failure yet). */
  inFlight: number;
}

async function roleProxy(config: {
  ports: number[];
  victim: string;
  headersTimeoutMs?: number;
  attemptTimeoutMs?: number;
  nginx?: boolean;
}) {
  const ejections: Report['ejections'] = [];
  const logger: LoggerService = {
    error: (message: string) => console.error(message),
    warn: (message: string) => {
      const match = /^Ejected instance '([^']+)'/.exec(message);
      if (match) ejections.push({ serviceId: match[1], at: now() });
      else console.warn(message);
    },
    info: () => {},
    debug: () => {},
    child: () => logger,
  };
  const { discovery, plane } = await startOurProxy({
    ports: config.ports,
    logger,
    ...(config.nginx
      ? {
          dataPlane: 'nginx' as const,
          nginx: {
            // As the backend sets it from discovery.proxy.attemptTimeout.
            ...(config.attemptTimeoutMs !== undefined
              ? { readTimeoutMs: config.attemptTimeoutMs }
              : {}),
            // The whole log stays, for the report below.
            maxLogBytes: Number.MAX_SAFE_INTEGER,
            logFlushMs: 50,
          },
        }
      : {}),
    proxy: {
      ...(config.headersTimeoutMs !== undefined
        ? { headersTimeoutMs: config.headersTimeoutMs }
        : {}),
      ...(config.attemptTimeoutMs !== undefined
        ? { attemptTimeoutMs: config.attemptTimeoutMs }
        : {}),
    },
  });
  // Every attempt on an instance opens a connection slot in discovery:
  // count them there, and note when each attempt on the victim began.
  const attempts: Record<string, number> = {};
  const victimAttempts: number[] = [];
  let inFlight = 0;
  const connectionOpened = discovery.connectionOpened.bind(discovery);
  discovery.connectionOpened = (serviceId: string) => {
    attempts[serviceId] = (attempts[serviceId] ?? 0) + 1;
    if (serviceId === config.victim) victimAttempts.push(now());
    if (serviceId === config.victim) inFlight++;
    connectionOpened(serviceId);
  };
  const connectionClosed = discovery.connectionClosed.bind(discovery);
  discovery.connectionClosed = (serviceId: string) => {
    if (serviceId === config.victim) inFlight--;
    connectionClosed(serviceId);
  };
  // And every answer, for the throughput around the signal.
  let answered: number[] = [];
  const reportOutcome = discovery.reportOutcome.bind(discovery);
  discovery.reportOutcome = (serviceId, outcome) => {
    if (outcome.ok) answered.push(now());
    reportOutcome(serviceId, outcome);
  };
  let resetAt = 0;
  process.on('message', async (message: { type: string }) => {
    if (message.type === 'reset') {
      answered = [];
      resetAt = now();
    }
    if (message.type === 'report') {
      // nginx writes its buffered log every 50 ms here.
      if (config.nginx) await new Promise(r => setTimeout(r, 200));
      const report: Report = config.nginx
        ? nginxReport(
            (plane as NginxDataPlane).directory,
            config.ports,
            config.victim,
            resetAt,
            config.attemptTimeoutMs,
          )
        : { attempts, victimAttempts, ejections: [], answered, inFlight };
      report.ejections = ejections;
      process.send!({ type: 'report', report });
    }
  });
  process.stdout.write(`${JSON.stringify({ port: plane.port })}\n`);
  process.stdin.on('end', () => plane.close().finally(() => process.exit(0)));
  process.stdin.resume();
}

/**
 * The same report from nginx's access log, which has every try of every
 * request. A line is written when its request ends: a try on the victim
 * that timed out began about `timeoutMs` before; one that was refused, at
 * the line's time (the retry takes well under a millisecond).
 */
function nginxReport(
  directory: string,
  ports: number[],
  victim: string,
  since: number,
  timeoutMs: number | undefined,
): Report {
  const ids = new Map(ports.map((p, i) => [`127.0.0.1:${p}`, `upstream-${i}`]));
  const report: Report = {
    attempts: {},
    victimAttempts: [],
    ejections: [],
    answered: [],
    inFlight: 0,
  };
  const text = fs.readFileSync(path.join(directory, 'access.log'), 'latin1');
  for (const line of text.split('\n')) {
    const request = parseAccessLogLine(line);
    if (!request) continue;
    for (const attempt of request.attempts) {
      const id = ids.get(attempt.address);
      if (!id) continue;
      report.attempts[id] = (report.attempts[id] ?? 0) + 1;
      if (id === victim) {
        const timedOut =
          attempt.status === 504 && attempt.headerMs === undefined;
        report.victimAttempts.push(
          timedOut && timeoutMs ? request.at - timeoutMs : request.at,
        );
      }
    }
    if (request.status < 500 && request.at >= since) {
      report.answered.push(request.at);
    }
  }
  report.victimAttempts.sort((a, b) => a - b);
  report.answered.sort((a, b) => a - b);
  return report;
}

// ---------------------------------------------------------------------------
// The benchmark.

interface Run {
  variant: Variant;
  wrk: WrkResult;
  /** What wrk counted as failed (status ≥ 400, socket errors, timeouts). */
  failed: number;
  /** Requests still waiting on the dead instance when the load stopped. */
  unanswered: number;
  /** Attempts on the victim after the signal. */
  attemptsAfter: number;
  /** From the signal to the last attempt on the victim (0: none after it). */
  lastAttemptMs: number;
  /** From the signal to the ejection; undefined when it was not ejected. */
  ejectedMs?: number;
  share: number[];
  /** Answers/s in the second before the signal. */
  rpsBefore: number;
  /** Answers/s in the second after it. */
  rpsAfter: number;
  /** The longest time without a single answer, from the signal to the end. */
  longestGapMs: number;
}

function requestReport(child: Child): Promise<Report> {
  return new Promise(resolve => {
    // The TypeScript loader sends messages of its own ('watch').
    const onMessage = (message: { type?: string; report?: Report }) => {
      if (message?.type !== 'report') return;
      child.process.off('message', onMessage);
      resolve(message.report!);
    };
    child.process.on('message', onMessage);
    child.process.send!({ type: 'report' });
  });
}

async function runOnce(variant: Variant): Promise<Run> {
  const upstreams: Child[] = [];
  for (let i = 0; i < INSTANCES; i++) {
    upstreams.push(await startUpstream(`u${i}`, 64));
  }
  const victim = `upstream-${VICTIM}`;
  const proxy = await spawnRole(
    __filename,
    'proxy',
    {
      ports: upstreams.map(u => u.ready.port),
      victim,
      headersTimeoutMs:
        variant === 'stop-timeout' ? STOP_HEADERS_TIMEOUT_MS : undefined,
      attemptTimeoutMs:
        variant === 'stop-attempt' || variant === 'stop-attempt-nginx'
          ? STOP_ATTEMPT_TIMEOUT_MS
          : undefined,
      nginx: variant.endsWith('-nginx'),
    },
    { ipc: true },
  );
  const url = `http://127.0.0.1:${proxy.ready.port}${PROXY_PATH}`;
  try {
    // Warm-up: JIT and keep-alive connections to every instance.
    await runWrk(url, { connections: CONNECTIONS, seconds: 2 });
    proxy.process.send!({ type: 'reset' });
    const loadStartedAt = now();
    let loadEndedAt = 0;
    // When wrk ended, not when this function got round to it (a report
    // may be under way then).
    const load = runWrk(url, {
      connections: CONNECTIONS,
      seconds: SECONDS,
      timeoutS: WRK_TIMEOUT_S,
    }).then(result => {
      loadEndedAt = now();
      return result;
    });
    await new Promise(r => setTimeout(r, KILL_AFTER_SECONDS * 1000));
    const signalledAt = now();
    upstreams[VICTIM].process.kill(
      variant.startsWith('kill') ? 'SIGKILL' : 'SIGSTOP',
    );
    // What is in flight just before wrk stops (its connections closing
    // abort whatever is left).
    await new Promise(r =>
      setTimeout(r, loadStartedAt + SECONDS * 1000 - 250 - now()),
    );
    const { inFlight } = await requestReport(proxy);
    const wrk = await load;
    const report = await requestReport(proxy);
    if (process.env.BENCH_TRACE === '1') {
      // Answers and attempts on the victim per 250 ms, from the signal.
      const buckets = new Map<number, [number, number]>();
      const bucket = (t: number) => Math.floor((t - signalledAt) / 250);
      for (const t of report.answered) {
        const b = buckets.get(bucket(t)) ?? [0, 0];
        b[0]++;
        buckets.set(bucket(t), b);
      }
      for (const t of report.victimAttempts) {
        const b = buckets.get(bucket(t)) ?? [0, 0];
        b[1]++;
        buckets.set(bucket(t), b);
      }
      console.log(
        [...buckets]
          .sort((a, b) => a[0] - b[0])
          .filter(([b]) => b >= -4)
          .map(([b, [a, v]]) => `${b * 250}ms: ${a}/${v}`)
          .join('  '),
      );
    }
    const after = report.victimAttempts.filter(t => t > signalledAt);
    const ejection = report.ejections.find(
      e => e.serviceId === victim && e.at > signalledAt,
    );
    const total = Object.values(report.attempts).reduce((a, b) => a + b, 0);
    const inWindow = (from: number, to: number) =>
      report.answered.filter(t => t >= from && t < to).length;
    let longestGapMs = 0;
    let previous = signalledAt;
    for (const t of report.answered) {
      if (t <= signalledAt) continue;
      longestGapMs = Math.max(longestGapMs, t - previous);
      previous = t;
    }
    longestGapMs = Math.max(longestGapMs, loadEndedAt - previous);
    const errors = wrk.errors;
    return {
      variant,
      wrk,
      failed:
        errors.connect +
        errors.read +
        errors.write +
        errors.status +
        errors.timeout,
      unanswered: inFlight,
      attemptsAfter: after.length,
      lastAttemptMs: after.length ? after[after.length - 1] - signalledAt : 0,
      ejectedMs: ejection ? ejection.at - signalledAt : undefined,
      share: upstreams.map(
        (_, i) => (report.attempts[`upstream-${i}`] ?? 0) / total,
      ),
      rpsBefore: inWindow(signalledAt - 1000, signalledAt),
      rpsAfter: inWindow(signalledAt, signalledAt + 1000),
      longestGapMs,
    };
  } finally {
    await stopChild(proxy);
    // A stopped process takes SIGKILL too.
    upstreams[VICTIM].process.kill('SIGKILL');
    for (const u of upstreams) await stopChild(u, 'SIGKILL');
  }
}

function describeRun(run: Run) {
  const e = run.wrk.errors;
  return `${run.wrk.rps.toFixed(0)} req/s, failed ${run.failed} (status ${
    e.status
  }, timeout ${e.timeout}, socket ${
    e.connect + e.read + e.write
  }), still waiting on the dead instance at the end ${
    run.unanswered
  }, victim: ${
    run.attemptsAfter
  } attempts after the signal, the last ${run.lastAttemptMs.toFixed(
    1,
  )} ms after it, ejected ${
    run.ejectedMs === undefined ? 'never' : `${run.ejectedMs.toFixed(1)} ms`
  } after it; answers/s ${run.rpsBefore} in the second before, ${
    run.rpsAfter
  } in the second after, longest gap ${run.longestGapMs.toFixed(
    0,
  )} ms; p99 ${run.wrk.p99Ms.toFixed(1)} ms, max ${run.wrk.maxMs.toFixed(
    0,
  )} ms`;
}

async function main() {
  const only = process.env.BENCH_VARIANTS?.split(',') as Variant[] | undefined;
  const variants = VARIANTS.filter(v => !only || only.includes(v));
  const loadBefore = os.loadavg()[0];
  const runs = new Map<Variant, Run[]>(variants.map(v => [v, []]));
  // Interleaved: one run of each variant per repeat.
  for (let repeat = 0; repeat < REPEATS; repeat++) {
    for (const variant of variants) {
      const run = await runOnce(variant);
      runs.get(variant)!.push(run);
      console.log(
        `${repeat + 1}/${REPEATS} ${variant.padEnd(12)} ${describeRun(run)}`,
      );
    }
  }
  const loadAfter = os.loadavg()[0];

  const each = (rs: Run[], pick: (r: Run) => number, digits = 0) =>
    `${median(rs.map(pick)).toFixed(digits)} (${rs
      .map(r => pick(r).toFixed(0))
      .join(', ')})`;
  const lines = [
    '| variant | runs | requests/s over the run | failed requests (wrk: status ≥ 400, socket errors, timeouts) | requests still waiting on the dead instance at the end | answers/s: second before the signal → second after | longest time without any answer after the signal (ms) | attempts on the dead instance after the signal | signal → last attempt on it (ms) | signal → ejected (ms) | p99 / max latency (ms) | target 0 failed | target < 1 s |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | :---: | :---: |',
  ];
  for (const variant of variants) {
    const rs = runs.get(variant)!;
    const failed = median(rs.map(r => r.failed + r.unanswered));
    const last = median(rs.map(r => r.lastAttemptMs));
    const gap = median(rs.map(r => r.longestGapMs));
    const notEjected = rs.filter(r => r.ejectedMs === undefined).length;
    let ejected = 'never';
    if (notEjected === 0) ejected = each(rs, r => r.ejectedMs!, 1);
    else if (notEjected < rs.length) {
      ejected = `never in ${notEjected} of ${rs.length} runs`;
    }
    lines.push(
      `| ${DESCRIPTIONS[variant]} | ${rs.length} | ${median(
        rs.map(r => r.wrk.rps),
      ).toFixed(0)} | ${each(rs, r => r.failed)} | ${each(
        rs,
        r => r.unanswered,
      )} | ${median(rs.map(r => r.rpsBefore)).toFixed(0)} → ${median(
        rs.map(r => r.rpsAfter),
      ).toFixed(0)} | ${each(rs, r => r.longestGapMs)} | ${each(
        rs,
        r => r.attemptsAfter,
      )} | ${each(rs, r => r.lastAttemptMs, 1)} | ${ejected} | ${median(
        rs.map(r => r.wrk.p99Ms),
      ).toFixed(1)} / ${median(rs.map(r => r.wrk.maxMs)).toFixed(0)} | ${
        failed <= TARGET_FAILED ? 'met' : 'MISSED'
      } | ${
        last < TARGET_SETTLE_MS && gap < TARGET_SETTLE_MS ? 'met' : 'MISSED'
      } |`,
    );
  }
  const table = lines.join('\n');
  console.log(`\n${table}`);

  const cpus = os.cpus();
  const body = [
    '## Failover: an instance killed under load (bench/failover)',
    '',
    'Three upstream instances (plain node:http, keep-alive, a process each) registered in discovery; our Node data plane (a',
    'process of its own: discovery on in-memory SQLite, round robin, the default 2 retries, each on another instance, for an',
    'idempotent request whose connection failed; the default passive outlier ejection: 5 consecutive failures eject for',
    `30 s) takes GET load from wrk (1 thread, ${CONNECTIONS} keep-alive connections, each sending its next request when the last is`,
    `answered, ${SECONDS} s, wrk timeout ${WRK_TIMEOUT_S} s). ${KILL_AFTER_SECONDS} s into the run one instance gets the signal. No active health check runs: only`,
    'what the proxy sees. Failed requests: what wrk counted (status ≥ 400, socket errors, timeouts); wrk does not count a',
    'request that never completes, so the proxy also reports how many requests were still waiting on the dead instance',
    '250 ms before the load stopped. Attempts on the dead instance: counted in the proxy as it opens each attempt, timed',
    'against the moment the signal was sent (wall clock, same machine). Answers/s and the longest time without any answer',
    `are from the proxy (upstream answers below 500). ${REPEATS} runs per variant, interleaved; medians, with each run’s figure in brackets.`,
    '',
    `Run on ${new Date().toISOString().slice(0, 10)}, Node ${
      process.version
    }, ${
      cpus.length
    } cores; the machine is shared: its 1-minute load average was ${loadBefore.toFixed(
      1,
    )} at the start and ${loadAfter.toFixed(1)} at the end.`,
    'Command (from plugins/plugin-lifecycle-backend, with the toolchain on PATH):',
    '',
    '    node --require @backstage/cli/config/nodeTransform.cjs ../../bench/failover/run.ts',
    '',
    table,
    '',
    'What happens:',
    '',
    '- SIGKILL: the kernel resets the instance’s connections and refuses new ones. Each request that hits it fails at',
    '  once (ECONNRESET, socket closed, ECONNREFUSED) and is retried on another instance, so no client sees a failure;',
    '  the fifth failure in a row ejects it, within tens of milliseconds at this load.',
    '- SIGSTOP with the proxy’s defaults: the instance keeps its port (the kernel still accepts connections) and its',
    '  connections, and answers nothing. A request sent to it waits for the headers timeout (60 s by default), and no',
    '  failure is reported before that, so nothing ejects it; with a closed-loop load every client connection soon waits',
    '  on it, and the service answers nothing at all until the timeouts. Passive ejection cannot help before the first',
    '  timeouts: an active health check (the health monitor marking it not ready) or a much shorter headersTimeoutMs is',
    '  what takes such an instance out.',
    `- SIGSTOP with headersTimeoutMs ${STOP_HEADERS_TIMEOUT_MS}: the waiting requests end with 504 (the proxy retries failed`,
    '  connections, not timeouts) and the fifth timeout ejects the instance, about 1 to 1.5 s after the signal',
    '  (undici checks its timeouts on a coarse timer), after which the load flows to the other two.',
    `- SIGSTOP with attemptTimeoutMs ${STOP_ATTEMPT_TIMEOUT_MS} (a per-attempt timeout for idempotent requests without a`,
    '  body, like Envoy’s per_try_timeout): an attempt on the stopped instance without response headers after',
    `  ${STOP_ATTEMPT_TIMEOUT_MS} ms is aborted, counted as a failure of that instance and retried on another one, so the`,
    '  client gets its answer late instead of an error. As with the other SIGSTOP variants, nearly every client connection',
    '  lands on the stopped instance within the first tens of milliseconds; their timeouts fire together, the fifth in a',
    '  row ejects the instance (just after the attempt timeout), and the retries are answered by the other two. The',
    '  cost: for about the attempt timeout the service answers nothing (the longest gap) and the requests that waited',
    '  on it carry that wait (the p99). The value is far above a normal answer’s time here (tens of milliseconds: see',
    '  the SIGKILL row’s p99), so a slow but healthy instance is not cut off, and short enough that three attempts (the',
    '  default 2 retries) end within wrk’s 2 s timeout and the 1 s target.',
    '- The nginx data plane (`dataPlane.engine: nginx`, same discovery and upstreams; nginx with one worker): nginx tries',
    '  another instance after a refused or broken connection, a timeout (here `proxy_read_timeout` set from attemptTimeout)',
    '  or a 502/503/504, and its own passive check (`max_fails` 5 within `fail_timeout` 30 s, from discovery’s ejection',
    '  settings) takes the instance out at once, without a reload. Its attempts and answers are read from its access log',
    '  (one line per request with every try; a try that timed out is dated the read timeout before its line). “Ejected” is',
    '  discovery’s own ejection, from the same log a few tens of milliseconds later: bookkeeping for the API, the metrics and',
    '  the Node data plane; nginx does not wait for it (a reload on every ejection would make the old workers close idle',
    '  client connections, and a client sending on one just then gets an error).',
  ].join('\n');
  if (process.env.BENCH_WRITE !== '0') writeBenchmarks('failover', body);
}

if (require.main === module) {
  const [role, config] = process.argv.slice(2);
  const run = role === 'proxy' ? roleProxy(JSON.parse(config)) : main();
  run.catch(error => {
    console.error(error);
    process.exit(1);
  });
}
