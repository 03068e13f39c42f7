/*
 * Proxy data plane benchmark: our ServiceProxy's data plane against nginx
 * (one worker process) and an `http-proxy` server (what Backstage's
 * proxy-backend is built on), in one run, through the same two upstreams,
 * and the upstream reached directly as a baseline. Every party is a process
 * of its own: the two upstreams (plain node:http), the proxy under test and
 * the load generator (wrk, 1 thread). Rounds are interleaved (the order
 * rotates each round) and the medians over the rounds are reported. Prints a
 * table and writes it into BENCHMARKS.md (its own section only).
 *
 *   cd plugins/plugin-lifecycle-backend && node --require @backstage/cli/config/nodeTransform.cjs ../../bench/proxy/run.ts
 *
 * Needs wrk and nginx (`apt-get install -y wrk nginx`).
 *
 * Environment: BENCH_CONNECTIONS (wrk connections, default 64),
 * BENCH_SECONDS (per measured run, 10), BENCH_WARMUP_SECONDS (per proxy,
 * before the rounds, 3), BENCH_ROUNDS (5), BENCH_BODY_BYTES (upstream
 * response body, 64), BENCH_ONLY (comma-separated subset of
 * direct,nginx,http-proxy,minimal,ours,baseline), BENCH_PROFILE=1 (our
 * proxy's process runs with --cpu-prof; the profile lands in a temp
 * directory that is printed), BENCH_BASELINE_SRC (a copy of the backend's
 * src/, run as a further contender for before/after comparisons; its
 * node_modules must resolve, e.g. a symlink to the repository's) with
 * BENCH_BASELINE_LABEL (its name in the table), BENCH_WRITE=0 to only print.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import http from 'node:http';
import net from 'node:net';
import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import httpProxy from 'http-proxy';
import { Dispatcher, Pool } from 'undici';
import knexFactory from 'knex';
import { LoggerService } from '@backstage/backend-plugin-api';
import { applyDatabaseMigrations } from '../../plugins/plugin-lifecycle-backend/src/database/migrations';
import {
  ServiceDiscovery,
  ServiceDiscoveryOptions,
} from '../../plugins/plugin-lifecycle-backend/src/engines/discovery/ServiceDiscovery';
import {
  ServiceProxy,
  ServiceProxyOptions,
} from '../../plugins/plugin-lifecycle-backend/src/engines/discovery/ServiceProxy';
import { ProxyMetrics } from '../../plugins/plugin-lifecycle-backend/src/engines/discovery/ProxyMetrics';
import {
  NginxDataPlane,
  NginxDataPlaneOptions,
} from '../../plugins/plugin-lifecycle-backend/src/engines/discovery/nginx/NginxDataPlane';
import { writeBenchmarks } from '../lib/benchmarksFile';
import { ALL_TENANTS } from '../../plugins/plugin-lifecycle-backend/src/domain/tenancy';

export const SERVICE_NAME = 'bench';
/** The path every client takes through a proxy; upstreams see `/hello`. */
export const PROXY_PATH = `/proxy/${SERVICE_NAME}/hello`;

// ---------------------------------------------------------------------------
// Shared with bench/failover.

/**
 * An upstream: plain node:http with keep-alive, in a process of its own,
 * answering every request with a small body and its name in `x-upstream`.
 * Prints `{"port":N}` once listening; exits when its stdin closes.
 */
export const UPSTREAM_SCRIPT = `
const http = require('node:http');
const [name, bytes] = [process.argv[1], Number(process.argv[2])];
const body = Buffer.alloc(bytes, 'x');
const server = http.createServer((req, res) => {
  res.writeHead(200, {
    'content-type': 'text/plain',
    'content-length': body.length,
    'x-upstream': name,
  });
  res.end(body);
});
server.keepAliveTimeout = 60000;
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(JSON.stringify({ port: server.address().port }) + '\\n');
});
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
`;

export interface Child {
  process: ChildProcess;
  /** The JSON line the child printed when ready. */
  ready: any;
}

/** Spawns a child and waits for the first line on its stdout (JSON). */
export async function spawnReady(
  command: string,
  args: string[],
  options: { env?: NodeJS.ProcessEnv; ipc?: boolean } = {},
): Promise<Child> {
  const child = spawn(command, args, {
    stdio: [
      'pipe',
      'pipe',
      'inherit',
      ...(options.ipc ? ['ipc' as const] : []),
    ],
    env: options.env ?? process.env,
    cwd: process.cwd(),
  });
  let out = '';
  const ready = await new Promise<any>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      out += chunk;
      const newline = out.indexOf('\n');
      if (newline >= 0) {
        child.stdout!.off('data', onData);
        try {
          resolve(JSON.parse(out.slice(0, newline)));
        } catch (error) {
          reject(new Error(`${command} printed ${out}`));
        }
      }
    };
    child.stdout!.on('data', onData);
    child.once('exit', code =>
      reject(new Error(`${command} ${args[0]} exited (${code}) before ready`)),
    );
  });
  // Keep draining, so a chatty child never blocks on a full pipe.
  child.stdout!.resume();
  return { process: child, ready };
}

export function startUpstream(name: string, bytes: number): Promise<Child> {
  return spawnReady(process.execPath, [
    '-e',
    UPSTREAM_SCRIPT,
    name,
    String(bytes),
  ]);
}

/** Ends a child: closes its stdin and, if it lingers, kills it. */
export async function stopChild(child: Child | undefined, signal = 'SIGTERM') {
  if (!child || child.process.exitCode !== null || child.process.signalCode) {
    return;
  }
  const exited = new Promise(r => child.process.once('exit', r));
  child.process.stdin?.end();
  const timer = setTimeout(
    () => child.process.kill(signal as NodeJS.Signals),
    2000,
  );
  await exited;
  clearTimeout(timer);
}

/** This script in a child process, in a role (with the same TS loader). */
export function spawnRole(
  script: string,
  role: string,
  config: unknown,
  options: { nodeArgs?: string[]; ipc?: boolean } = {},
) {
  return spawnReady(
    process.execPath,
    [
      ...process.execArgv.filter(a => !a.startsWith('--cpu-prof')),
      ...(options.nodeArgs ?? []),
      script,
      role,
      JSON.stringify(config),
    ],
    { ipc: options.ipc },
  );
}

export const quietLogger: LoggerService = {
  error: (message: string) => console.error(message),
  warn: (message: string) => console.warn(message),
  info: () => {},
  debug: () => {},
  child() {
    return quietLogger;
  },
};

/**
 * Our proxy as a backend replica runs it: discovery over an in-memory
 * SQLite database (with its change-log polling and TTL timers on their
 * defaults), the instances registered through the API, and the data plane.
 */
export async function startOurProxy(config: {
  ports: number[];
  logger?: LoggerService;
  discovery?: Partial<ServiceDiscoveryOptions>;
  proxy?: Partial<ServiceProxyOptions>;
  /** Another copy of the backend's src/ (a before/after comparison). */
  src?: string;
  /** Default node: the ServiceProxy data plane; nginx: the native one, configured from discovery. */
  dataPlane?: 'node' | 'nginx';
  nginx?: Partial<NginxDataPlaneOptions>;
}) {
  const engine = engines(config.src);
  const knex = knexFactory({
    client: 'better-sqlite3',
    connection: { filename: ':memory:' },
    useNullAsDefault: true,
  });
  await engine.applyDatabaseMigrations({ getClient: async () => knex });
  const logger = config.logger ?? quietLogger;
  const discovery = engine.ServiceDiscovery.create({
    db: knex,
    logger,
    ...config.discovery,
  });
  await discovery.start();
  for (const [i, port] of config.ports.entries()) {
    await discovery.registerService(
      {
        serviceId: `upstream-${i}`,
        serviceName: SERVICE_NAME,
        host: '127.0.0.1',
        port,
      },
      { scope: ALL_TENANTS },
    );
  }
  const metrics = engine.ProxyMetrics.create();
  const proxy = engine.ServiceProxy.create({
    discovery,
    metrics,
    logger,
    ...config.proxy,
  });
  const plane =
    config.dataPlane === 'nginx'
      ? await NginxDataPlane.start({
          discovery,
          metrics,
          logger,
          ...config.nginx,
        })
      : await proxy.startDataPlane({ port: 0, host: '127.0.0.1' });
  return { knex, discovery, metrics, proxy, plane };
}

function engines(src?: string) {
  if (!src) {
    return {
      applyDatabaseMigrations,
      ServiceDiscovery,
      ServiceProxy,
      ProxyMetrics,
    };
  }
  /* eslint-disable @typescript-eslint/no-require-imports */
  return {
    applyDatabaseMigrations: require(path.join(src, 'database/migrations'))
      .applyDatabaseMigrations as typeof applyDatabaseMigrations,
    ServiceDiscovery: require(path.join(
      src,
      'engines/discovery/ServiceDiscovery',
    )).ServiceDiscovery as typeof ServiceDiscovery,
    ServiceProxy: require(path.join(src, 'engines/discovery/ServiceProxy'))
      .ServiceProxy as typeof ServiceProxy,
    ProxyMetrics: require(path.join(src, 'engines/discovery/ProxyMetrics'))
      .ProxyMetrics as typeof ProxyMetrics,
  };
  /* eslint-enable @typescript-eslint/no-require-imports */
}

/** What wrk reports, from the Lua `done` hook (latencies in µs). */
export interface WrkResult {
  requests: number;
  durationS: number;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  errors: {
    connect: number;
    read: number;
    write: number;
    /** Responses with a status of 400 or more. */
    status: number;
    timeout: number;
  };
}

const WRK_LUA = `
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests":%d,"duration":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,"p50":%d,"p99":%d,"max":%d}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status,
    e.timeout, latency:percentile(50), latency:percentile(99), latency.max))
end
`;

let wrkScript: string | undefined;

/** Runs wrk (1 thread) in its own process. */
export async function runWrk(
  url: string,
  options: { connections: number; seconds: number; timeoutS?: number },
): Promise<WrkResult> {
  if (!wrkScript) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'plt-wrk-'));
    wrkScript = path.join(dir, 'report.lua');
    fs.writeFileSync(wrkScript, WRK_LUA);
  }
  const args = [
    '-t1',
    `-c${options.connections}`,
    `-d${options.seconds}s`,
    `--timeout`,
    `${options.timeoutS ?? 5}s`,
    '-s',
    wrkScript,
    url,
  ];
  const child = spawn('wrk', args, { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', d => (out += d));
  const code = await new Promise(r => child.once('exit', r));
  const line = out.split('\n').find(l => l.startsWith('WRK_JSON '));
  if (!line) throw new Error(`wrk exited (${code}) without a report:\n${out}`);
  const j = JSON.parse(line.slice('WRK_JSON '.length));
  const durationS = j.duration / 1e6;
  return {
    requests: j.requests,
    durationS,
    rps: j.requests / durationS,
    p50Ms: j.p50 / 1000,
    p99Ms: j.p99 / 1000,
    maxMs: j.max / 1000,
    errors: {
      connect: j.connect,
      read: j.read,
      write: j.write,
      status: j.status,
      timeout: j.timeout,
    },
  };
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** CPU time (user + system) of a process and its descendants, in ms, from /proc. */
export function treeCpuMs(pid: number): number {
  let total = 0;
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    total += ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
    const children = fs
      .readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
      .trim();
    for (const child of children ? children.split(' ') : []) {
      total += treeCpuMs(Number(child));
    }
  } catch {
    // gone
  }
  return total;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export async function waitForPort(port: number, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>(resolve => {
      const socket = net.connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`port ${port} never opened`);
    await new Promise(r => setTimeout(r, 50));
  }
}

// ---------------------------------------------------------------------------
// The roles of this script's child processes.

/** Our data plane, in a process of its own. */
async function roleOurs(config: {
  ports: number[];
  src?: string;
  dataPlane?: 'node' | 'nginx';
}) {
  const { plane } = await startOurProxy(config);
  process.stdout.write(`${JSON.stringify({ port: plane.port })}\n`);
  // process.exit runs the exit hooks (--cpu-prof writes its profile);
  // nginx is stopped first, it is not ours to orphan.
  process.stdin.on('end', () => plane.close().finally(() => process.exit(0)));
  process.stdin.resume();
}

/**
 * A proxy as Backstage's proxy-backend builds one (http-proxy, through
 * http-proxy-middleware there): a keep-alive agent, X-Forwarded-* headers,
 * round robin over the upstreams, the same path prefix stripped.
 */
async function roleHttpProxy(config: { ports: number[] }) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
  const proxy = httpProxy.createProxyServer({ agent, xfwd: true });
  proxy.on('error', (_error, _req, res) => {
    const out = res as http.ServerResponse;
    if (!out.headersSent) out.writeHead(502);
    out.end();
  });
  const targets = config.ports.map(p => `http://127.0.0.1:${p}`);
  const prefix = `/proxy/${SERVICE_NAME}`;
  let next = 0;
  const server = http.createServer((req, res) => {
    if (!req.url?.startsWith(`${prefix}/`)) {
      res.writeHead(404).end();
      return;
    }
    req.url = req.url.slice(prefix.length);
    const target = targets[next];
    next = (next + 1) % targets.length;
    proxy.web(req, res, { target });
  });
  server.keepAliveTimeout = 60_000;
  server.listen(0, '127.0.0.1', () => {
    const { port } = server.address() as net.AddressInfo;
    process.stdout.write(`${JSON.stringify({ port })}\n`);
  });
  process.stdin.on('end', () => process.exit(0));
  process.stdin.resume();
}

/**
 * The floor of a Node proxy on undici: node:http in front of one undici Pool
 * per upstream, round robin, the response written straight to the client.
 * None of our proxy's work: no discovery, metrics, retries, limits,
 * hop-by-hop filtering or X-Forwarded-* headers.
 */
async function roleMinimal(config: { ports: number[] }) {
  const pools = config.ports.map(p => new Pool(`http://127.0.0.1:${p}`));
  const prefixLength = `/proxy/${SERVICE_NAME}`.length;
  let next = 0;
  const server = http.createServer((req, res) => {
    const pool = pools[next];
    next = (next + 1) % pools.length;
    const headers: Record<string, string | string[] | undefined> = {};
    for (const name in req.headers) {
      if (name !== 'host' && name !== 'connection') {
        headers[name] = req.headers[name];
      }
    }
    pool.dispatch(
      {
        path: req.url!.slice(prefixLength),
        method: req.method as Dispatcher.HttpMethod,
        headers,
      },
      {
        onRequestStart() {},
        onResponseStart(_controller, status, responseHeaders) {
          res.writeHead(status, responseHeaders);
        },
        onResponseData(_controller, chunk) {
          res.write(chunk);
        },
        onResponseEnd() {
          res.end();
        },
        onResponseError() {
          res.destroy();
        },
      },
    );
  });
  server.keepAliveTimeout = 60_000;
  server.listen(0, '127.0.0.1', () => {
    const { port } = server.address() as net.AddressInfo;
    process.stdout.write(`${JSON.stringify({ port })}\n`);
  });
  process.stdin.on('end', () => process.exit(0));
  process.stdin.resume();
}

// ---------------------------------------------------------------------------
// The benchmark.

const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 64);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const WARMUP_SECONDS = Number(process.env.BENCH_WARMUP_SECONDS ?? 3);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const BODY_BYTES = Number(process.env.BENCH_BODY_BYTES ?? 64);
const TARGET_RPS_VS_NGINX = 0.75;
const TARGET_P99_VS_NGINX = 1.5;
const TARGET_RPS_VS_HTTP_PROXY = 3;

type Contender =
  | 'direct'
  | 'nginx'
  | 'http-proxy'
  | 'minimal'
  | 'ours'
  | 'ours-nginx'
  | 'baseline';
const CONTENDERS: Contender[] = [
  'direct',
  'nginx',
  'http-proxy',
  'minimal',
  'ours',
  'ours-nginx',
];
/** A copy of the backend's src/ to run as a further contender ('baseline'), for before/after comparisons. */
const BASELINE_SRC = process.env.BENCH_BASELINE_SRC;

const LABELS: Record<Contender, string> = {
  direct: 'direct to one upstream (baseline, no proxy)',
  nginx: 'nginx, 1 worker process',
  'http-proxy': 'http-proxy (node, keep-alive agent)',
  minimal:
    'floor: bare node:http + undici Pool, round robin, no proxy logic (not a contender)',
  ours: 'ours: Node data plane (ServiceProxy)',
  'ours-nginx':
    'ours: nginx data plane, configured from discovery (1 worker; with the backend process that feeds it)',
  baseline: process.env.BENCH_BASELINE_LABEL ?? `ours, from ${BASELINE_SRC}`,
};

interface Running {
  url: string;
  /** The process whose (tree's) CPU time is the proxy's; none for direct. */
  pid?: number;
  stop(): Promise<void>;
}

function nginxConfig(dir: string, port: number, upstreams: number[]) {
  return `worker_processes 1;
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/client_body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  keepalive_timeout 60s;
  keepalive_requests 1000000;
  upstream ${SERVICE_NAME} {
${upstreams.map(p => `    server 127.0.0.1:${p};`).join('\n')}
    keepalive 128;
    keepalive_requests 1000000;
    keepalive_timeout 60s;
  }
  server {
    listen 127.0.0.1:${port};
    location /proxy/${SERVICE_NAME}/ {
      proxy_pass http://${SERVICE_NAME}/;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Host $host;
      proxy_set_header X-Forwarded-Proto $scheme;
    }
  }
}
`;
}

async function startNginx(upstreams: number[]): Promise<Running> {
  const nginx = ['/usr/sbin/nginx', '/usr/bin/nginx'].find(p =>
    fs.existsSync(p),
  );
  if (!nginx) throw new Error('nginx not found: apt-get install -y nginx');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'plt-nginx-'));
  const port = await freePort();
  fs.writeFileSync(
    path.join(dir, 'nginx.conf'),
    nginxConfig(dir, port, upstreams),
  );
  const child = spawn(
    nginx,
    ['-p', dir, '-c', path.join(dir, 'nginx.conf'), '-e', `${dir}/error.log`],
    { stdio: ['ignore', 'inherit', 'inherit'] },
  );
  await waitForPort(port);
  return {
    url: `http://127.0.0.1:${port}${PROXY_PATH}`,
    pid: child.pid,
    stop: async () => {
      const exited = new Promise(r => child.once('exit', r));
      child.kill('SIGQUIT');
      await exited;
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function startContender(
  contender: Contender,
  upstreams: number[],
  profileDir: string | undefined,
): Promise<Running> {
  if (contender === 'direct') {
    return {
      url: `http://127.0.0.1:${upstreams[0]}/hello`,
      stop: async () => {},
    };
  }
  if (contender === 'nginx') return startNginx(upstreams);
  const child = await spawnRole(
    __filename,
    contender === 'baseline' || contender === 'ours-nginx' ? 'ours' : contender,
    {
      ports: upstreams,
      src: contender === 'baseline' ? BASELINE_SRC : undefined,
      dataPlane: contender === 'ours-nginx' ? 'nginx' : 'node',
    },
    {
      nodeArgs:
        contender === 'ours' && profileDir
          ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`]
          : [],
    },
  );
  return {
    url: `http://127.0.0.1:${child.ready.port}${PROXY_PATH}`,
    pid: child.process.pid,
    stop: () => stopChild(child),
  };
}

interface Sample {
  rps: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  /** CPU of the proxy's process(es) per request, µs. */
  cpuUsPerRequest?: number;
  /** CPU of the two upstream processes together per request, µs. */
  upstreamCpuUsPerRequest: number;
}

async function main() {
  const only = process.env.BENCH_ONLY?.split(',') as Contender[] | undefined;
  const contenders = [
    ...CONTENDERS,
    ...(BASELINE_SRC ? ['baseline' as const] : []),
  ].filter(c => !only || only.includes(c));
  const profileDir =
    process.env.BENCH_PROFILE === '1'
      ? fs.mkdtempSync(path.join(os.tmpdir(), 'plt-proxy-prof-'))
      : undefined;
  const loadBefore = os.loadavg()[0];
  const upstreams = [
    await startUpstream('a', BODY_BYTES),
    await startUpstream('b', BODY_BYTES),
  ];
  const ports = upstreams.map(u => u.ready.port as number);
  // Every proxy runs the whole time; only the one under load does work.
  const running = new Map<Contender, Running>();
  for (const c of contenders)
    running.set(c, await startContender(c, ports, profileDir));

  // Check each answers, then warm up (JIT, keep-alive pools).
  for (const c of contenders) {
    const r = running.get(c)!;
    const check = await runWrk(r.url, { connections: 2, seconds: 1 });
    const errors = Object.values(check.errors).reduce((a, b) => a + b, 0);
    if (check.requests === 0 || errors > 0) {
      throw new Error(`${c} does not answer: ${JSON.stringify(check)}`);
    }
    process.stdout.write(`warm-up ${c} ... `);
    const warm = await runWrk(r.url, {
      connections: CONNECTIONS,
      seconds: WARMUP_SECONDS,
    });
    console.log(`${warm.rps.toFixed(0)} req/s`);
  }

  const samples = new Map<Contender, Sample[]>(contenders.map(c => [c, []]));
  for (let round = 0; round < ROUNDS; round++) {
    // Rotate the order, so no contender always runs first or last.
    const order = contenders.map(
      (_, i) => contenders[(i + round) % contenders.length],
    );
    for (const c of order) {
      const r = running.get(c)!;
      const upstreamCpu = () =>
        upstreams.reduce((sum, u) => sum + treeCpuMs(u.process.pid!), 0);
      const cpuBefore = r.pid ? treeCpuMs(r.pid) : 0;
      const upstreamCpuBefore = upstreamCpu();
      const result = await runWrk(r.url, {
        connections: CONNECTIONS,
        seconds: SECONDS,
      });
      const cpu = r.pid ? treeCpuMs(r.pid) - cpuBefore : undefined;
      const upstreamCpuMs = upstreamCpu() - upstreamCpuBefore;
      const errors = Object.values(result.errors).reduce((a, b) => a + b, 0);
      const sample: Sample = {
        rps: result.rps,
        p50Ms: result.p50Ms,
        p99Ms: result.p99Ms,
        errors,
        cpuUsPerRequest:
          cpu === undefined ? undefined : (cpu * 1000) / result.requests,
        upstreamCpuUsPerRequest: (upstreamCpuMs * 1000) / result.requests,
      };
      samples.get(c)!.push(sample);
      console.log(
        `round ${round + 1}/${ROUNDS} ${c.padEnd(10)} ${sample.rps.toFixed(
          0,
        )} req/s, p50 ${sample.p50Ms.toFixed(2)} ms, p99 ${sample.p99Ms.toFixed(
          2,
        )} ms, errors ${errors}${
          sample.cpuUsPerRequest === undefined
            ? ''
            : `, proxy CPU ${sample.cpuUsPerRequest.toFixed(1)} µs/req`
        }, upstreams CPU ${sample.upstreamCpuUsPerRequest.toFixed(1)} µs/req`,
      );
    }
  }

  for (const r of running.values()) await r.stop();
  for (const u of upstreams) await stopChild(u);
  if (profileDir) console.log(`CPU profile of our proxy in ${profileDir}`);

  const loadAfter = os.loadavg()[0];
  const med = (c: Contender, key: keyof Sample) =>
    median(samples.get(c)!.map(s => s[key] as number));
  const rows = contenders.map(c => {
    const s = samples.get(c)!;
    const rps = s.map(x => x.rps);
    return `| ${LABELS[c]} | ${med(c, 'rps').toFixed(0)} (${Math.min(
      ...rps,
    ).toFixed(0)} to ${Math.max(...rps).toFixed(0)}) | ${med(
      c,
      'p50Ms',
    ).toFixed(2)} | ${med(c, 'p99Ms').toFixed(2)} | ${
      c === 'direct' ? '-' : med(c, 'cpuUsPerRequest').toFixed(1)
    } | ${med(c, 'upstreamCpuUsPerRequest').toFixed(1)} | ${s.reduce(
      (a, x) => a + x.errors,
      0,
    )} |`;
  });
  const table = [
    '| target | requests/s, median (range) | p50 latency (ms), median | p99 latency (ms), median | proxy CPU µs/request, median | upstreams’ CPU µs/request, median | errors |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...rows,
  ].join('\n');

  const verdict = (ok: boolean) => (ok ? 'met' : 'MISSED');
  const NAMES: Partial<Record<Contender, string>> = {
    ours: 'ours (Node)',
    'ours-nginx': 'ours (nginx)',
    minimal: 'floor',
    baseline: process.env.BENCH_BASELINE_LABEL ? 'before' : 'baseline',
  };
  const nameOf = (c: Contender) => NAMES[c] ?? c;
  /** One row of the ratio table: a against b, with the targets if any. */
  const ratio = (
    a: Contender,
    b: Contender,
    targets: { rps?: number; p99?: number } = {},
  ): string[] => {
    if (!samples.has(a) || !samples.has(b)) return [];
    const rps = med(a, 'rps') / med(b, 'rps');
    const p99 = med(a, 'p99Ms') / med(b, 'p99Ms');
    const cpu =
      a === 'direct' || b === 'direct'
        ? '-'
        : `${(med(a, 'cpuUsPerRequest') / med(b, 'cpuUsPerRequest')).toFixed(
            2,
          )}×`;
    const rpsTarget =
      targets.rps === undefined
        ? '- | -'
        : `≥ ${targets.rps}× | ${verdict(rps >= targets.rps)}`;
    const p99Target =
      targets.p99 === undefined
        ? '- | -'
        : `≤ ${targets.p99}× | ${verdict(p99 <= targets.p99)}`;
    return [
      `| ${nameOf(a)} / ${nameOf(b)} | ${rps.toFixed(
        2,
      )}× | ${rpsTarget} | ${p99.toFixed(2)}× | ${p99Target} | ${cpu} |`,
    ];
  };
  const vsNginx = { rps: TARGET_RPS_VS_NGINX, p99: TARGET_P99_VS_NGINX };
  const vsHttpProxy = { rps: TARGET_RPS_VS_HTTP_PROXY };
  const ratios = [
    ...ratio('ours-nginx', 'nginx', vsNginx),
    ...ratio('ours-nginx', 'http-proxy', vsHttpProxy),
    ...ratio('ours', 'nginx', vsNginx),
    ...ratio('ours', 'http-proxy', vsHttpProxy),
    ...ratio('ours', 'direct'),
    ...ratio('ours', 'minimal'),
    ...ratio('minimal', 'nginx'),
    ...ratio('ours', 'baseline'),
  ];
  const ratioTable = ratios.length
    ? [
        '| ratio of medians | requests/s | target | | p99 latency | target | | proxy CPU per request |',
        '| --- | ---: | :---: | :---: | ---: | :---: | :---: | ---: |',
        ...ratios,
      ].join('\n')
    : '';

  /** What the floor says about the Node data plane, when it ran with the others. */
  const reading = (): string[] => {
    if (
      !['nginx', 'http-proxy', 'minimal', 'ours'].every(c =>
        samples.has(c as Contender),
      )
    ) {
      return [];
    }
    const x = (a: Contender, b: Contender, key: keyof Sample) =>
      (med(a, key) / med(b, key)).toFixed(2);
    return [
      '',
      `Reading: the floor, a Node proxy doing none of our work, reached ${x(
        'minimal',
        'nginx',
        'rps',
      )}× nginx’s requests/s at ${x(
        'minimal',
        'nginx',
        'cpuUsPerRequest',
      )}× its CPU per request. Our Node data plane cost ${x(
        'ours',
        'minimal',
        'cpuUsPerRequest',
      )}× the floor’s CPU per request: its cost is Node’s HTTP server and undici’s client,`,
      'so no tuning of a node:http data plane reaches nginx’s figures on this machine. The nginx data plane is the answer',
      'for traffic where that matters: nginx does the forwarding, the backend only renders its configuration from discovery',
      '(reloading it on changes) and reads its buffered access log into the same metrics and outlier ejection.',
    ];
  };

  const cpus = os.cpus();
  const body = [
    '## Proxy data plane (bench/proxy)',
    '',
    `Our two data planes for \`/proxy/${SERVICE_NAME}/...\`, each fed by service discovery on an in-memory SQLite database`,
    '(change-log polling and TTL timers on, round robin, metrics and outlier tracking on every request): the Node one',
    '(`ServiceProxy` on its own listener) and the nginx one (`NginxDataPlane`: nginx configured from discovery, its access',
    'log read back into the metrics every 50 ms). Against them: nginx configured by hand and an `http-proxy` server (what',
    'Backstage’s proxy-backend is built on: keep-alive agent, `xfwd`, round robin in the handler), all in front of the same',
    'two upstreams: plain node:http servers, keep-alive, answering GET `/hello` with',
    `${BODY_BYTES} bytes, each in a process of its own. Each proxy has one core’s worth of processes: nginx runs with`,
    '`worker_processes 1` (plus its idle master), both by hand and in our nginx data plane, whose figures include the Node',
    'process that renders its configuration and reads its log. Upstream block of the two servers with `keepalive 128`,',
    'HTTP/1.1 to the upstreams and the same X-Forwarded-* headers. The baseline is wrk straight to one upstream. The floor',
    'is not a contender: the least a Node proxy on undici does (node:http in front of an undici Pool per upstream, round',
    'robin, the response written straight back; no discovery, metrics, retries, limits or header filtering), to show what',
    'Node and undici cost by themselves on this machine.',
    ...(BASELINE_SRC && process.env.BENCH_BASELINE_LABEL
      ? [
          `“${process.env.BENCH_BASELINE_LABEL}” is the same data plane from a copy of the backend’s src/ taken before the change, run`,
          'alongside in the same rounds (`BENCH_BASELINE_SRC`).',
        ]
      : []),
    `Load: wrk (1 thread, its own process), ${CONNECTIONS} keep-alive connections, ${SECONDS} s per run, ${ROUNDS} rounds`,
    `interleaved (the order rotates each round) after ${WARMUP_SECONDS} s of warm-up each; figures are medians over the rounds.`,
    'Proxy CPU per request: user + system CPU time of the proxy’s processes (nginx: master and worker; ours with nginx:',
    'also the backend process) over the run, from',
    '/proc, divided by the requests served; it depends less than requests/s on what else the machine is running, but',
    'contention inflates it too. Upstreams’ CPU per request: the same for the two upstream processes together.',
    '',
    `Run on ${new Date().toISOString().slice(0, 10)}, Node ${
      process.version
    }, ${cpus.length} cores (${cpus[0]?.model.trim() ?? 'unknown CPU'}), ${
      spawnSyncVersion('wrk') ?? 'wrk'
    }, ${spawnSyncVersion('nginx') ?? 'nginx'}. On 2 cores, wrk, the two`,
    'upstreams and the proxy under test share the machine: the requests/s are what the whole set-up reaches, not a proxy’s',
    `ceiling. The machine is shared: its 1-minute load average was ${loadBefore.toFixed(
      1,
    )} at the start and ${loadAfter.toFixed(1)} at the end.`,
    'Command (from plugins/plugin-lifecycle-backend, with the toolchain on PATH):',
    '',
    '    node --require @backstage/cli/config/nodeTransform.cjs ../../bench/proxy/run.ts',
    '',
    table,
    '',
    ratioTable,
    ...reading(),
  ].join('\n');
  console.log(`\n${table}\n\n${ratioTable}`);
  if (process.env.BENCH_WRITE !== '0') writeBenchmarks('proxy', body);
}

function spawnSyncVersion(tool: 'wrk' | 'nginx'): string | undefined {
  const result =
    tool === 'wrk'
      ? spawnSync('wrk', ['-v'], { encoding: 'utf8' })
      : spawnSync('/usr/sbin/nginx', ['-v'], { encoding: 'utf8' });
  const text = `${result.stdout ?? ''}${result.stderr ?? ''}`;
  const match =
    tool === 'wrk'
      ? /wrk (\d[\w.-]*)/.exec(text)
      : /nginx\/(\d[\w.-]*)/.exec(text);
  return match ? `${tool} ${match[1]}` : undefined;
}

if (require.main === module) {
  const [role, config] = process.argv.slice(2);
  const roles: Record<string, (c: any) => Promise<void>> = {
    ours: roleOurs,
    minimal: roleMinimal,
    'http-proxy': roleHttpProxy,
  };
  const run = role ? roles[role](JSON.parse(config)) : main();
  run.catch(error => {
    console.error(error);
    process.exit(1);
  });
}
