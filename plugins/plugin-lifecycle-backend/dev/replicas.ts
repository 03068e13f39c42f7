import { ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createServer } from 'node:net';

/** A token the replicas accept from tests and benchmarks (static external access). */
export const REPLICA_TOKEN = 'plugin-lifecycle-replica-test-token-0123456789';

export interface Replica {
  name: string;
  /** Its directory: configuration, data directory, SQLite files by default. */
  dir: string;
  port: number;
  url: string;
  process: ChildProcess;
  output: () => string;
  kill: (signal: NodeJS.Signals) => Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/**
 * Starts a real backend replica (dev/replica.ts) on PostgreSQL in a child
 * process. Replicas given the same `databasePrefix` share one database.
 */
export async function startReplica(options: {
  name: string;
  /** PostgreSQL base URL; without it the replica uses SQLite files in `sqliteDir`. */
  postgresUrl?: string;
  sqliteDir?: string;
  databasePrefix: string;
  orchestrator?: Record<string, unknown>;
  installMs?: number;
  /** Extra Node.js options for the replica process (e.g. `--cpu-prof`). */
  execArgv?: string[];
  /** Extra environment of the replica process (see replica.ts). */
  env?: Record<string, string>;
  /** Merged into the replica's pluginLifecycle configuration. */
  pluginLifecycle?: Record<string, unknown>;
  /**
   * Starts the replica again on what an earlier (stopped or killed) one
   * used: its directory (data, SQLite files) and port (a restart).
   */
  restartOf?: Pick<Replica, 'dir' | 'port'>;
  /** Characters of the replica's output kept for `output()` (default 20 000). */
  outputLimit?: number;
  /**
   * The replica leads its own process group, and `kill` signals the whole
   * group (as a supervisor killing a backend's container would).
   */
  processGroup?: boolean;
}): Promise<Replica> {
  const port = options.restartOf?.port ?? (await freePort());
  const dir =
    options.restartOf?.dir ??
    fs.mkdtempSync(path.join(os.tmpdir(), `replica-${options.name}-`));
  // Plugin users (when run as root) pass through to the data directory.
  fs.chmodSync(dir, 0o711);
  const configFile = path.join(dir, 'app-config.json');
  fs.writeFileSync(
    configFile,
    JSON.stringify({
      backend: {
        baseUrl: `http://127.0.0.1:${port}`,
        listen: { port, host: '127.0.0.1' },
        database: options.postgresUrl
          ? {
              client: 'pg',
              connection: options.postgresUrl,
              prefix: options.databasePrefix,
            }
          : {
              client: 'better-sqlite3',
              connection: {
                directory: options.sqliteDir ?? path.join(dir, 'sqlite'),
              },
            },
        auth: {
          externalAccess: [
            {
              type: 'static',
              options: { token: REPLICA_TOKEN, subject: 'replica-test' },
            },
          ],
        },
      },
      // These replicas have no events backend: Backstage's events service
      // would try to reach one for every event until its first 404 came
      // back (hundreds of token signings, HTTP calls and warnings when a
      // batch is enqueued); events stay on each replica's local bus.
      events: { useEventBus: 'never' },
      pluginLifecycle: {
        dataDir: path.join(dir, 'data'),
        defaultRuntime: 'recording',
        orchestrator: { pollInterval: 50, ...options.orchestrator },
        ...options.pluginLifecycle,
      },
    }),
  );
  const child = spawn(
    process.execPath,
    [
      ...(options.execArgv ?? []),
      '--require',
      require.resolve('@backstage/cli/config/nodeTransform.cjs'),
      path.join(__dirname, 'replica.ts'),
      '--config',
      configFile,
    ],
    {
      cwd: path.resolve(__dirname, '..'),
      env: {
        ...process.env,
        RECORDING_INSTALL_MS: String(options.installMs ?? 0),
        NODE_ENV: 'development',
        LOG_LEVEL: 'warn',
        ...options.env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: options.processGroup ?? false,
    },
  );
  const signalReplica = (signal: NodeJS.Signals) => {
    if (options.processGroup && child.pid) {
      try {
        process.kill(-child.pid, signal);
      } catch {
        // the group is gone
      }
    } else {
      child.kill(signal);
    }
  };
  let output = '';
  const limit = options.outputLimit ?? 20_000;
  child.stdout!.on('data', d => (output = (output + d).slice(-limit)));
  child.stderr!.on('data', d => (output = (output + d).slice(-limit)));
  const exited = new Promise<void>(resolve =>
    child.once('exit', () => resolve()),
  );
  const url = `http://127.0.0.1:${port}/api/plugin-lifecycle`;
  const deadline = Date.now() + 90_000;
  for (;;) {
    if (child.exitCode !== null || output.includes('Backend startup failed')) {
      signalReplica('SIGKILL');
      throw new Error(`replica ${options.name} exited at start:\n${output}`);
    }
    try {
      const res = await fetch(`${url}/openapi.json`);
      if (res.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      signalReplica('SIGKILL');
      throw new Error(
        `replica ${options.name} did not start within 90 s:\n${output}`,
      );
    }
    await new Promise(r => setTimeout(r, 200));
  }
  return {
    name: options.name,
    dir,
    port,
    url,
    process: child,
    output: () => output,
    kill: async signal => {
      if (child.exitCode === null && child.signalCode === null)
        signalReplica(signal);
      // A replica that does not stop within 15 s is killed.
      const timer = setTimeout(() => signalReplica('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Calls a replica's API with the replicas' token. */
export async function callReplica(
  replica: Replica,
  method: string,
  urlPath: string,
  body?: unknown,
) {
  const res = await fetch(`${replica.url}${urlPath}`, {
    method,
    headers: {
      Authorization: `Bearer ${REPLICA_TOKEN}`,
      'Content-Type': 'application/json',
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}
