/*
 * What the shutdown test and bench/shutdown share: the demo backend
 * (src/index.ts, the real one) started as one child process on free ports
 * with throwaway data, upstreams that answer late or never finish, and
 * clients that leave proxied requests, long-polls and event streams in the
 * states an operator's load generator would. Everything talks to 127.0.0.1.
 */
import { ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';

const ROOT = path.resolve(__dirname, '../../../..');

/** Accepted by the demo backend as a static external access token (a service principal). */
export const SHUTDOWN_TOKEN = 'plugin-lifecycle-shutdown-test-token-0123456789';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export interface DemoBackend {
  /** Where its data (SQLite, dataDir, configuration file) is. */
  work: string;
  /** Backstage's listener. */
  port: number;
  /** The Node data plane listener (pluginLifecycle.discovery.dataPlane). */
  dataPlanePort: number;
  /** http://127.0.0.1:port/api/plugin-lifecycle */
  api: string;
  child: ChildProcess;
  output(): string;
  /** Resolves when the process exits, with the time (performance.now()) it did. */
  exited: Promise<{ code: number | null; signal: string | null; at: number }>;
  /** SIGKILLs what is left and removes the data (unless `keepData`). */
  dispose(options?: { keepData?: boolean }): Promise<void>;
}

/**
 * Stops what a test's backend left running under `dataDir`: the process
 * groups in its spawn journal (instances outlive a backend by default), the
 * very processes only (same start time).
 */
export function stopJournaledGroups(dataDir: string): void {
  const dir = path.join(dataDir, '.journal');
  let files: string[];
  try {
    files = fs.readdirSync(dir);
  } catch {
    return;
  }
  for (const file of files) {
    try {
      const entry = JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8'));
      const stat = fs.readFileSync(`/proc/${entry.pid}/stat`, 'utf8');
      const startTime = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
      if (startTime === entry.startTime) {
        process.kill(-entry.processGroup, 'SIGKILL');
      }
    } catch {
      // gone already, or not a journal entry
    }
  }
}

/**
 * Starts packages/backend/src/index.ts in a child process of its own, as
 * an operator runs one backend: one Node process, signals go to it.
 */
export async function startDemoBackend(options: {
  nodeEnv: 'development' | 'production';
  /** pluginLifecycle.shutdown, when given. */
  shutdown?: Record<string, unknown>;
  /** More pluginLifecycle configuration (merged at the top level). */
  pluginLifecycle?: Record<string, unknown>;
  /** pluginLifecycle.discovery.dataPlane besides its port (engine ...). */
  dataPlane?: Record<string, unknown>;
  /**
   * Starts the backend again on what an earlier one used: its data,
   * configuration and ports (a backend restart).
   */
  restartOf?: Pick<DemoBackend, 'work' | 'port' | 'dataPlanePort'>;
  /**
   * Loads src/instrumentation.js (the OpenTelemetry SDK with the
   * Prometheus exporter) as the start script does, its exporter on this
   * port.
   */
  metricsPort?: number;
}): Promise<DemoBackend> {
  const port = options.restartOf?.port ?? (await freePort());
  const dataPlanePort = options.restartOf?.dataPlanePort ?? (await freePort());
  const work =
    options.restartOf?.work ??
    fs.mkdtempSync(path.join(os.tmpdir(), 'pl-shutdown-'));
  // As root, plugins run as their own users, who pass through here to
  // their directories under the data directory (docs/security/isolation.md).
  fs.chmodSync(work, 0o711);
  const configFile = path.join(work, 'app-config.shutdown.json');
  if (!options.restartOf) writeConfig();
  function writeConfig() {
    fs.writeFileSync(
      configFile,
      JSON.stringify({
        app: { baseUrl: `http://127.0.0.1:${port}` },
        backend: {
          baseUrl: `http://127.0.0.1:${port}`,
          listen: { port, host: '127.0.0.1' },
          database: {
            client: 'better-sqlite3',
            connection: { directory: path.join(work, 'sqlite') },
          },
          auth: {
            externalAccess: [
              {
                type: 'static',
                options: { token: SHUTDOWN_TOKEN, subject: 'shutdown-test' },
              },
            ],
          },
        },
        catalog: { locations: [] },
        pluginLifecycle: {
          dataDir: path.join(work, 'plugin-lifecycle'),
          discovery: {
            dataPlane: { port: dataPlanePort, ...options.dataPlane },
          },
          ...(options.shutdown ? { shutdown: options.shutdown } : {}),
          ...options.pluginLifecycle,
        },
      }),
    );
  }
  const logFile = path.join(
    work,
    options.restartOf ? `backend.${Date.now()}.log` : 'backend.log',
  );
  const log = fs.openSync(logFile, 'w');
  const child = spawn(
    process.execPath,
    [
      ...(options.metricsPort
        ? [
            '--require',
            path.join(ROOT, 'packages/backend/src/instrumentation.js'),
          ]
        : []),
      '--require',
      require.resolve('@backstage/cli/config/nodeTransform.cjs'),
      path.join(ROOT, 'packages/backend/src/index.ts'),
      '--config',
      path.join(ROOT, 'app-config.yaml'),
      '--config',
      configFile,
    ],
    {
      cwd: path.join(ROOT, 'packages/backend'),
      env: {
        ...process.env,
        NODE_ENV: options.nodeEnv,
        LOG_LEVEL: 'info',
        ...(options.metricsPort
          ? { PLUGIN_LIFECYCLE_METRICS_PORT: String(options.metricsPort) }
          : {}),
      },
      stdio: ['ignore', log, log],
    },
  );
  fs.closeSync(log);
  const output = () => {
    try {
      return fs.readFileSync(logFile, 'utf8');
    } catch {
      return '';
    }
  };
  const exited = new Promise<{
    code: number | null;
    signal: string | null;
    at: number;
  }>(resolve =>
    child.once('exit', (code, signal) =>
      resolve({ code, signal, at: performance.now() }),
    ),
  );
  const dispose = async (disposeOptions: { keepData?: boolean } = {}) => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
    if (!disposeOptions.keepData) {
      stopJournaledGroups(path.join(work, 'plugin-lifecycle'));
      fs.rmSync(work, { recursive: true, force: true });
    }
  };
  const api = `http://127.0.0.1:${port}/api/plugin-lifecycle`;
  const deadline = Date.now() + 150_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      const text = output();
      await dispose({ keepData: !!options.restartOf });
      throw new Error(
        `the demo backend exited at start:\n${text.slice(-4000)}`,
      );
    }
    const ok = await fetch(`${api}/openapi.json`).then(
      r => r.ok,
      () => false,
    );
    if (ok) break;
    if (Date.now() > deadline) {
      const text = output();
      await dispose({ keepData: !!options.restartOf });
      throw new Error(`the demo backend did not start:\n${text.slice(-4000)}`);
    }
    await new Promise(r => setTimeout(r, 500));
  }
  return { work, port, dataPlanePort, api, child, output, exited, dispose };
}

/** Calls the plugin's API with the test token. */
export async function callApi(
  backend: DemoBackend,
  method: string,
  urlPath: string,
  body?: unknown,
): Promise<{ status: number; body: any }> {
  const res = await fetch(`${backend.api}${urlPath}`, {
    method,
    headers: {
      Authorization: `Bearer ${SHUTDOWN_TOKEN}`,
      'Content-Type': 'application/json',
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

export interface Upstreams {
  /** Answers at once. */
  fast: number;
  /** Answers after `slowMs`. */
  slow: number;
  /** Sends headers, then a chunk every 200 ms, never ending. */
  drip: number;
  close(): Promise<void>;
}

/** Three upstreams in this process; a request body is read and ignored. */
export async function startUpstreams(slowMs = 20_000): Promise<Upstreams> {
  const servers: http.Server[] = [];
  const timers = new Set<NodeJS.Timeout>();
  const listen = async (handler: http.RequestListener) => {
    const server = http.createServer(handler);
    servers.push(server);
    await new Promise<void>(r => server.listen(0, '127.0.0.1', r));
    return (server.address() as net.AddressInfo).port;
  };
  const fast = await listen((req, res) => {
    req.resume();
    res.end('ok');
  });
  const slow = await listen((req, res) => {
    req.resume();
    const timer = setTimeout(() => {
      timers.delete(timer);
      res.end('late');
    }, slowMs);
    timers.add(timer);
    res.once('close', () => clearTimeout(timer));
  });
  const drip = await listen((req, res) => {
    req.resume();
    res.writeHead(200, { 'content-type': 'text/plain' });
    const timer = setInterval(() => res.write('.'), 200);
    timers.add(timer);
    res.once('close', () => {
      clearInterval(timer);
      timers.delete(timer);
    });
  });
  return {
    fast,
    slow,
    drip,
    close: async () => {
      for (const t of timers) clearTimeout(t);
      await Promise.all(
        servers.map(
          s =>
            new Promise<void>(r => {
              s.close(() => r());
              s.closeAllConnections();
            }),
        ),
      );
    },
  };
}

/** Registers the upstreams as services `fast`, `slow` and `drip`. */
export async function registerUpstreams(
  backend: DemoBackend,
  upstreams: Upstreams,
) {
  for (const name of ['fast', 'slow', 'drip'] as const) {
    const res = await callApi(backend, 'POST', '/services', {
      serviceId: `${name}-1`,
      serviceName: name,
      host: '127.0.0.1',
      port: upstreams[name],
      ttlMs: 600_000,
    });
    if (res.status >= 300) {
      throw new Error(
        `registering ${name} failed: ${res.status} ${JSON.stringify(res.body)}`,
      );
    }
  }
}

/** Installs an external plugin, so its configuration can be watched. */
export async function installWatchedPlugin(
  backend: DemoBackend,
  pluginId: string,
) {
  const install = await callApi(
    backend,
    'POST',
    `/plugins/${pluginId}/install`,
    {
      version: '1.0.0',
      artifact: {
        type: 'external',
        endpoints: [{ host: '127.0.0.1', port: 9, protocol: 'http' }],
      },
    },
  );
  if (install.status !== 202) {
    throw new Error(
      `install refused: ${install.status} ${JSON.stringify(install.body)}`,
    );
  }
  const op = await callApi(
    backend,
    'GET',
    `/operations/${install.body.operationId}?waitSeconds=60`,
  );
  if (op.body?.status !== 'succeeded') {
    throw new Error(`install did not succeed: ${JSON.stringify(op.body)}`);
  }
}

/** Where a proxied request goes in: Backstage's route or the data plane listener. */
export type Plane = 'backstage' | 'dataPlane';

export interface OpenRequest {
  /** Settles when the response ended, failed or was cut off; never rejects. */
  done: Promise<string>;
  /** The client goes away: its socket is destroyed. */
  abort(): void;
}

/**
 * One request over a connection of its own; `body: 'endless'` streams a
 * request body that never ends (a chunk every 200 ms).
 */
export function openRequest(
  backend: DemoBackend,
  options: {
    plane?: Plane;
    path: string;
    method?: string;
    body?: 'endless';
    headers?: Record<string, string>;
  },
): OpenRequest {
  const plane = options.plane ?? 'backstage';
  const target =
    plane === 'backstage'
      ? { port: backend.port, path: `/api/plugin-lifecycle${options.path}` }
      : { port: backend.dataPlanePort, path: options.path };
  let timer: NodeJS.Timeout | undefined;
  const req = http.request({
    host: '127.0.0.1',
    port: target.port,
    path: target.path,
    method: options.method ?? 'GET',
    agent: false,
    headers: {
      ...(plane === 'backstage'
        ? { authorization: `Bearer ${SHUTDOWN_TOKEN}` }
        : {}),
      ...(options.body === 'endless'
        ? { 'content-type': 'application/octet-stream' }
        : {}),
      ...options.headers,
    },
  });
  const done = new Promise<string>(resolve => {
    req.once('response', res => {
      res.resume();
      res.once('end', () => resolve(`status ${res.statusCode}`));
      res.once('error', e => resolve(`cut off: ${e.message}`));
      res.once('close', () => resolve(`closed (${res.statusCode})`));
    });
    req.once('error', e => resolve(`error: ${e.message}`));
    req.once('close', () => resolve('closed'));
  }).finally(() => clearInterval(timer));
  if (options.body === 'endless') {
    req.flushHeaders();
    timer = setInterval(() => req.write('x'.repeat(64)), 200);
  } else {
    req.end();
  }
  return { done, abort: () => req.destroy() };
}

/** Sends `signal` and waits for the exit, at most `capMs`; the time from signal to exit, or undefined. */
export async function timeToExit(
  backend: DemoBackend,
  signal: NodeJS.Signals,
  capMs: number,
  afterSignal?: () => void,
): Promise<{
  ms: number | undefined;
  code: number | null;
  signal: string | null;
}> {
  const sentAt = performance.now();
  backend.child.kill(signal);
  afterSignal?.();
  let timer: NodeJS.Timeout | undefined;
  const result = await Promise.race([
    backend.exited,
    new Promise<undefined>(r => {
      timer = setTimeout(() => r(undefined), capMs);
    }),
  ]);
  clearTimeout(timer);
  if (!result) return { ms: undefined, code: null, signal: null };
  return { ms: result.at - sentAt, code: result.code, signal: result.signal };
}
