import { ChildProcess, execFile, spawn } from 'node:child_process';
import { lookup } from 'node:dns/promises';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import net from 'node:net';
import { promisify } from 'node:util';
import { LoggerService } from '@backstage/backend-plugin-api';
import { ResolvedService } from '@internal/plugin-lifecycle-common';
import { ALL_TENANTS, TenantScope } from '../../../domain/tenancy';
import { canConnect, findFreePort } from '../../runtime/freePort';
import { ProxyMetrics } from '../ProxyMetrics';
import { RoutingPool, ServiceDiscovery } from '../ServiceDiscovery';
import type { CloseOptions, DataPlane } from '../ServiceProxy';
import { LineSplitter, LoggedRequest, parseAccessLogLine } from './accessLog';
import {
  ACCESS_LOG_FILE,
  ERROR_LOG_FILE,
  GENERATION_PATH,
  NginxPool,
  PID_FILE,
  isSafeNginxValue,
  renderNginxConfig,
} from './nginxConfig';

const execFileAsync = promisify(execFile);

/** @public */
export interface NginxDataPlaneOptions {
  discovery: ServiceDiscovery;
  metrics: ProxyMetrics;
  logger: LoggerService;
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 0: a free port. */
  port?: number;
  token?: string;
  scope?: TenantScope;
  /** A request that names no tenant gets this tenant's pool of a name served in several. */
  defaultTenant?: string;
  /** Service names whose upstreams get Cookie and may answer Set-Cookie. Default none. */
  passCookies?: Iterable<string>;
  /** The nginx executable. Default: /usr/sbin/nginx, /usr/bin/nginx or nginx on the PATH. */
  binary?: string;
  /** nginx worker processes. Default 1. */
  workers?: number;
  /** Holds the configuration, logs and temporary files. Default: a new temporary directory. */
  directory?: string;
  /** Default 2. */
  maxRetries?: number;
  /** Default 5000. */
  connectTimeoutMs?: number;
  /** Between two reads from an upstream, the response headers included. Default 60000. */
  readTimeoutMs?: number;
  /**
   * nginx's own passive outlier ejection: this many failed tries (refused or
   * broken connections, timeouts, 502/503/504 answers) within
   * `failTimeoutMs` take an instance out for `failTimeoutMs`. Default 5, as
   * discovery's `consecutiveFailures`.
   */
  maxFails?: number;
  /** Default 30000, as discovery's `baseEjectionMs`. */
  failTimeoutMs?: number;
  /** Routing changes closer together than this make one reload. Default 100. */
  reloadDebounceMs?: number;
  /**
   * How often the access log is read into the metrics. Default 50: small
   * reads, so the backend's share of the CPU comes in small slices.
   */
  logIntervalMs?: number;
  /** nginx writes its buffered access log at least this often. Default 250. */
  logFlushMs?: number;
  /** The access log is rotated past this size. Default 16 MiB. */
  maxLogBytes?: number;
  /** Idle connections to an upstream close after this. Default 4000, below Node's 5 s. */
  upstreamKeepAliveTimeoutMs?: number;
  /**
   * nginx outlives the backend, as the managed instances do: it runs in a
   * session of its own, and a backend that starts on the same directory
   * and port adopts the nginx it finds there (pid file, command line) and
   * reloads it with its configuration, so traffic keeps flowing through a
   * backend restart. `close({ leaveRunning: true })` then lets it run on.
   * Default false: a leftover nginx is stopped at start.
   */
  outliveBackend?: boolean;
}

/** How often an adopted nginx master (not our child) is looked at. */
const ADOPTED_POLL_MS = 500;
const STDERR_FILE = 'nginx.stderr';

/** Where nginx is, when the configuration does not say. */
export function findNginx(): string | undefined {
  const candidates = ['/usr/sbin/nginx', '/usr/bin/nginx'];
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir) candidates.push(path.join(dir, 'nginx'));
  }
  return candidates.find(candidate => {
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/** Whether `pid` is an nginx master running on `directory` (not a zombie). */
function isMasterAlive(pid: number, directory: string): boolean {
  try {
    const title = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(
      stat.lastIndexOf(')') + 2,
      stat.lastIndexOf(')') + 3,
    );
    return (
      title.includes('nginx: master') &&
      title.includes(directory) &&
      state !== 'Z'
    );
  } catch {
    return false;
  }
}

function addressOf(ip: string, port: number) {
  return net.isIPv6(ip) ? `[${ip}]:${port}` : `${ip}:${port}`;
}

type Resolved = Omit<ResolvedService, 'strategy' | 'panic'>;

/**
 * The native data plane: nginx, configured from service discovery, serving
 * `/proxy/{serviceName}/...` on a port of its own. For deployments where the
 * Node data plane's cost per request matters (see BENCHMARKS.md).
 *
 * The backend renders nginx.conf from {@link ServiceDiscovery.routingTable}
 * whenever routing changes (instances, readiness, weights, limits) and
 * reloads nginx gracefully (SIGHUP: new workers take new connections, the
 * old ones finish what they serve). nginx picks the instance (its round
 * robin, smooth weighted round robin, least_conn, consistent hash), enforces
 * `maxConnections` (max_conns, shared by the workers), retries a request on
 * another instance after a failed connection, a timeout or a 502/503/504
 * (never a non-idempotent one once sent), passes WebSocket upgrades through,
 * and ejects failing instances itself (max_fails/fail_timeout, from
 * discovery's ejection settings): at once and without a reload. Its
 * buffered access log, read every `logIntervalMs`, feeds the same
 * {@link ProxyMetrics} and outlier ejection state as the Node data plane.
 *
 * Differences from the Node data plane: nginx forwards the request URI as
 * sent (nothing decoded); it drops the standard hop-by-hop headers but not
 * further ones that a `Connection` header names; it answers its own errors
 * in Backstage's JSON shape without the request's method and URL; it
 * retries a request whose connection failed whatever its method (the
 * request was never sent), one with a body, and gateway errors; a strategy
 * cannot be chosen per request; its read timeout also bounds the silence
 * inside a response or WebSocket; and its live connection counts are not in
 * discovery's `activeConnections`. A reload lets the old workers finish
 * what they serve but close their idle keep-alive connections: a client
 * that sends on one just then gets an error, as with any nginx reload.
 * If the backend is killed, nginx keeps running; a backend started again
 * with the same `directory` stops it first.
 *
 * @public
 */
export class NginxDataPlane implements DataPlane {
  readonly port: number;
  readonly #options: NginxDataPlaneOptions;
  readonly #logger: LoggerService;
  readonly #binary: string;
  readonly #directory: string;
  readonly #ownsDirectory: boolean;
  readonly #host: string;
  readonly #scope: TenantScope;
  /** Pool key → index, for the pool's life in this data plane. */
  readonly #indexes = new Map<string, number>();
  /** Pool index → upstream address → instance, for reading the log. */
  #addresses = new Map<number, Map<string, Resolved>>();
  #nextIndex = 0;
  #process: ChildProcess | undefined;
  /** An nginx master a gone backend started, adopted at start. */
  #adoptedPid: number | undefined;
  #adoptedTimer: NodeJS.Timeout | undefined;
  /** What was rendered last, with generation 0 (to compare). */
  #config = '';
  #generation = 0;
  #unsubscribe: (() => void) | undefined;
  #renderTimer: NodeJS.Timeout | undefined;
  #rendering: Promise<void> | undefined;
  #renderAgain = false;
  #logTimer: NodeJS.Timeout | undefined;
  #logFd: number | undefined;
  #logOffset = 0;
  readonly #lines = new LineSplitter();
  /** Reused for every read of the access log. */
  readonly #logBuffer = Buffer.allocUnsafe(1 << 20);
  readonly #parsed = new Map<string, LoggedRequest | null>();
  /** Instances whose last reported outcome was good. */
  readonly #reportedOk = new Set<string>();
  #closed = false;
  #respawnTimer: NodeJS.Timeout | undefined;
  #respawnDelayMs = 0;
  readonly #warned = new Set<string>();
  /** Reloads done; for tests and diagnostics. */
  reloads = 0;

  static async start(options: NginxDataPlaneOptions): Promise<NginxDataPlane> {
    const binary = options.binary ?? findNginx();
    if (!binary) {
      throw new Error(
        'nginx was not found: install it (Debian: apt-get install nginx) or set pluginLifecycle.discovery.dataPlane.nginx.binary',
      );
    }
    const host = options.host ?? '127.0.0.1';
    const port = options.port || (await findFreePort(host));
    // Absolute: nginx reads the paths in its configuration from its prefix.
    const directory = options.directory
      ? path.resolve(options.directory)
      : fs.mkdtempSync(path.join(os.tmpdir(), 'plugin-lifecycle-nginx-'));
    const plane = new NginxDataPlane(options, {
      binary,
      host,
      port,
      directory,
      ownsDirectory: options.directory === undefined,
    });
    try {
      await plane.#start();
    } catch (error) {
      await plane.close();
      throw error;
    }
    return plane;
  }

  private constructor(
    options: NginxDataPlaneOptions,
    resolved: {
      binary: string;
      host: string;
      port: number;
      directory: string;
      ownsDirectory: boolean;
    },
  ) {
    this.#options = options;
    this.#logger = options.logger;
    this.#binary = resolved.binary;
    this.#host = resolved.host;
    this.port = resolved.port;
    this.#directory = resolved.directory;
    this.#ownsDirectory = resolved.ownsDirectory;
    this.#scope = options.scope ?? ALL_TENANTS;
  }

  get directory(): string {
    return this.#directory;
  }

  /** The pid of the nginx master this data plane runs (spawned or adopted). */
  get masterPid(): number | undefined {
    return this.#process?.pid ?? this.#adoptedPid;
  }

  /**
   * Stops nginx: gracefully (requests under way finish), then after
   * `graceMs` (default 5000) fast (open connections are closed), then,
   * 5 s later or 1 s with `graceMs`, SIGKILL. With `leaveRunning` (and
   * `outliveBackend`), nginx runs on for the next backend to adopt.
   */
  async close(
    options: CloseOptions & { leaveRunning?: boolean } = {},
  ): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#unsubscribe?.();
    clearTimeout(this.#renderTimer);
    clearInterval(this.#logTimer);
    clearTimeout(this.#respawnTimer);
    clearInterval(this.#adoptedTimer);
    await this.#rendering?.catch(() => undefined);
    const child = this.#process;
    if (options.leaveRunning && this.#options.outliveBackend) {
      child?.unref();
      this.#readLog();
      if (this.#logFd !== undefined) fs.closeSync(this.#logFd);
      this.#logFd = undefined;
      this.#logger.info(
        `nginx data plane (pid ${this.masterPid}) left running for the next backend`,
      );
      return;
    }
    if (this.#adoptedPid !== undefined) {
      await this.#stopAdopted(this.#adoptedPid, options.graceMs ?? 5_000);
    }
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise(resolve => child.once('exit', resolve));
      // Graceful: requests under way finish; then fast (long-lived
      // connections such as WebSockets are closed); SIGKILL would leave
      // the workers running.
      child.kill('SIGQUIT');
      const fastMs = options.graceMs ?? 5_000;
      const fast = setTimeout(() => child.kill('SIGTERM'), fastMs);
      const kill = setTimeout(
        () => child.kill('SIGKILL'),
        fastMs + (options.graceMs === undefined ? 5_000 : 1_000),
      );
      await exited;
      clearTimeout(fast);
      clearTimeout(kill);
    }
    this.#readLog();
    if (this.#logFd !== undefined) fs.closeSync(this.#logFd);
    this.#logFd = undefined;
    if (this.#ownsDirectory) {
      fs.rmSync(this.#directory, { recursive: true, force: true });
    }
  }

  async #start() {
    fs.mkdirSync(this.#directory, { recursive: true, mode: 0o700 });
    const leftover = this.#leftover();
    if (
      leftover !== undefined &&
      this.#options.outliveBackend &&
      this.#options.port &&
      (await canConnect(this.#host, this.port))
    ) {
      await this.#adopt(leftover);
    } else {
      if (leftover !== undefined) await this.#stopLeftover(leftover);
      const config = await this.#render();
      await this.#write(config(this.#generation));
      await this.#spawn();
      this.#config = config(0);
    }
    this.#unsubscribe = this.#options.discovery.onRoutingChange(() =>
      this.#scheduleRender(),
    );
    this.#logTimer = setInterval(
      () => this.#readLog(),
      this.#options.logIntervalMs ?? 50,
    );
    this.#logTimer.unref();
    this.#logger.info(
      `nginx data plane (${this.#binary}, ${
        this.#options.workers ?? 1
      } worker(s)) listening on ${this.#host}:${this.port}${
        this.#options.token ? ' (token required)' : ''
      }`,
    );
  }

  /**
   * Takes over the nginx a gone backend left running here: the new
   * configuration reaches it by a graceful reload (SIGHUP), as any routing
   * change does, so the connections it serves are not cut.
   */
  async #adopt(pid: number) {
    this.#adoptedPid = pid;
    // Generations go on from the adopted nginx's, so that a reload is only
    // taken for applied once nginx serves the new one.
    this.#generation = (await this.#askGeneration()) ?? 0;
    const config = await this.#render();
    this.#config = config(0);
    let running = '';
    try {
      running = fs.readFileSync(this.#configPath(), 'utf8');
    } catch {
      // none: reloaded below
    }
    // The same routing as the nginx serves: no reload, which would make its
    // old workers close idle client connections.
    if (config(this.#generation) !== running) {
      const generation = this.#generation + 1;
      await this.#write(config(generation));
      this.#generation = generation;
      const before = this.#workers();
      process.kill(pid, 'SIGHUP');
      this.reloads++;
      await this.#waitForGeneration(generation, before);
    }
    // Not our child: its end shows in /proc only.
    this.#adoptedTimer = setInterval(() => {
      if (this.#closed || isMasterAlive(pid, this.#directory)) return;
      clearInterval(this.#adoptedTimer);
      this.#adoptedPid = undefined;
      this.#logger.error(
        `the adopted nginx data plane (pid ${pid}) exited: ${this.#errorLog()}`,
      );
      this.#respawn(1_000);
    }, ADOPTED_POLL_MS);
    this.#adoptedTimer.unref();
    // The access log from here on: what came before was measured already.
    const file = path.join(this.#directory, ACCESS_LOG_FILE);
    if (fs.existsSync(file)) {
      this.#logFd = fs.openSync(file, 'r');
      this.#logOffset = fs.fstatSync(this.#logFd).size;
    }
    this.#logger.info(
      `adopted the nginx data plane (pid ${pid}) an earlier backend left running in ${
        this.#directory
      }`,
    );
  }

  async #stopAdopted(pid: number, graceMs: number) {
    const signal = (name: NodeJS.Signals) => {
      try {
        process.kill(pid, name);
      } catch {
        // gone
      }
    };
    signal('SIGQUIT');
    const deadline = Date.now() + graceMs + 1_000;
    while (isMasterAlive(pid, this.#directory)) {
      if (Date.now() > deadline) {
        signal('SIGKILL');
        break;
      }
      await new Promise(resolve => setTimeout(resolve, 50));
    }
    this.#adoptedPid = undefined;
  }

  /** Starts nginx on the current configuration and waits until it listens. */
  async #spawn() {
    // Its stderr goes to a file, not a pipe that would end with the backend.
    const stderrFile = path.join(this.#directory, STDERR_FILE);
    const stderrFd = fs.openSync(stderrFile, 'w', 0o600);
    let child: ChildProcess;
    try {
      child = spawn(
        this.#binary,
        [
          '-p',
          `${this.#directory}/`,
          '-c',
          this.#configPath(),
          '-e',
          path.join(this.#directory, ERROR_LOG_FILE),
        ],
        {
          stdio: ['ignore', 'ignore', stderrFd],
          // A session of its own: it outlives the backend when asked to.
          detached: !!this.#options.outliveBackend,
        },
      );
    } finally {
      fs.closeSync(stderrFd);
    }
    this.#process = child;
    const stderr = () => {
      try {
        return fs.readFileSync(stderrFile, 'utf8');
      } catch {
        return '';
      }
    };
    child.once('exit', (code, signal) => {
      if (this.#closed || this.#process !== child) return;
      this.#logger.error(
        `nginx data plane exited (${signal ?? code}): ${this.#errorLog()}`,
      );
      this.#respawn(1_000);
    });
    await this.#waitUntilListening(child, stderr);
    this.#respawnDelayMs = 0;
  }

  /** nginx died under us: start it again, waiting longer after each failure. */
  #respawn(delayMs: number) {
    if (this.#closed) return;
    this.#respawnDelayMs = Math.min(
      Math.max(delayMs, this.#respawnDelayMs * 2),
      30_000,
    );
    this.#respawnTimer = setTimeout(async () => {
      if (this.#closed) return;
      try {
        await this.#spawn();
        this.#logger.info('nginx data plane started again');
      } catch (error) {
        this.#logger.error(`nginx data plane did not start again: ${error}`);
        this.#respawn(this.#respawnDelayMs);
      }
    }, this.#respawnDelayMs);
    this.#respawnTimer.unref();
  }

  /**
   * The nginx master an earlier backend left running in this directory, by
   * its pid file and its command line (a reused pid is not nginx's).
   */
  #leftover(): number | undefined {
    let pid: number;
    try {
      pid = Number(
        fs.readFileSync(path.join(this.#directory, PID_FILE), 'utf8').trim(),
      );
    } catch {
      return undefined; // no pid file
    }
    return isMasterAlive(pid, this.#directory) ? pid : undefined;
  }

  /**
   * An nginx that a backend which died without closing it left running in
   * this directory (it would hold the port), not to be adopted: stopped
   * gracefully.
   */
  async #stopLeftover(pid: number) {
    this.#logger.warn(
      `Stopping the nginx data plane (pid ${pid}) that an earlier backend left running in ${
        this.#directory
      }`,
    );
    await this.#stopAdopted(pid, 4_000);
  }

  #configPath() {
    return path.join(this.#directory, 'nginx.conf');
  }

  #errorLog(): string {
    try {
      return fs
        .readFileSync(path.join(this.#directory, ERROR_LOG_FILE), 'utf8')
        .trim()
        .split('\n')
        .slice(-5)
        .join('\n');
    } catch {
      return '(no error log)';
    }
  }

  async #waitUntilListening(child: ChildProcess, stderr: () => string) {
    const deadline = Date.now() + 10_000;
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(
          `nginx data plane did not start: ${
            stderr().trim() || this.#errorLog()
          }`,
        );
      }
      if (await canConnect(this.#host, this.port)) return;
      if (Date.now() > deadline) {
        throw new Error(
          `nginx data plane is not listening on ${this.#host}:${
            this.port
          } after 10 s`,
        );
      }
      await new Promise(resolve => setTimeout(resolve, 25));
    }
  }

  /** Checks a configuration with `nginx -t`, then makes it the one nginx reads. */
  async #write(config: string) {
    const next = path.join(this.#directory, 'nginx.conf.next');
    fs.writeFileSync(next, config, { mode: 0o600 });
    try {
      await execFileAsync(this.#binary, [
        '-t',
        '-q',
        '-p',
        `${this.#directory}/`,
        '-c',
        next,
        '-e',
        path.join(this.#directory, ERROR_LOG_FILE),
      ]);
    } catch (error) {
      const e = error as { stderr?: string };
      throw new Error(
        `nginx rejected the generated configuration: ${(
          e.stderr ?? String(error)
        ).trim()}`,
      );
    }
    fs.renameSync(next, this.#configPath());
  }

  #scheduleRender() {
    if (this.#closed || this.#renderTimer) return;
    this.#renderTimer = setTimeout(() => {
      this.#renderTimer = undefined;
      this.#reload();
    }, this.#options.reloadDebounceMs ?? 100);
  }

  /** Renders, and reloads nginx when the configuration changed; one at a time. */
  #reload() {
    if (this.#rendering) {
      this.#renderAgain = true;
      return;
    }
    this.#rendering = (async () => {
      try {
        const config = await this.#render();
        const comparable = config(0);
        if (comparable === this.#config || this.#closed) return;
        const generation = this.#generation + 1;
        await this.#write(config(generation));
        this.#config = comparable;
        this.#generation = generation;
        const before = this.#workers();
        const master = this.masterPid;
        if (master !== undefined) process.kill(master, 'SIGHUP');
        this.reloads++;
        await this.#waitForGeneration(generation, before);
      } catch (error) {
        this.#logger.error(
          `nginx data plane kept its previous routing: ${error}`,
        );
      }
    })().finally(() => {
      this.#rendering = undefined;
      if (this.#renderAgain && !this.#closed) {
        this.#renderAgain = false;
        this.#reload();
      }
    });
  }

  /** Waits for routing changes made so far to reach nginx (tests). */
  async settle(): Promise<void> {
    while (this.#renderTimer || this.#rendering) {
      if (this.#renderTimer) {
        clearTimeout(this.#renderTimer);
        this.#renderTimer = undefined;
        this.#reload();
      }
      await this.#rendering;
    }
  }

  /**
   * Until a new connection reaches a worker with this configuration: a
   * reload is asynchronous, and routing changes should not be reported
   * as applied before nginx applies them.
   */
  async #waitForGeneration(generation: number, oldWorkers: number[]) {
    const deadline = Date.now() + 10_000;
    while (!this.#closed && Date.now() < deadline) {
      // The old workers accept connections until they see the signal.
      if (oldWorkers.some(pid => this.#accepting(pid))) {
        await new Promise(resolve => setTimeout(resolve, 5));
        continue;
      }
      const answer = await this.#askGeneration();
      if (answer !== undefined && answer >= generation) return;
      await new Promise(resolve => setTimeout(resolve, 10));
    }
    this.#logger.warn(
      `nginx data plane: reload ${generation} did not take effect within 10 s: ${this.#errorLog()}`,
    );
  }

  /** The configuration generation nginx serves now (undefined: no answer). */
  #askGeneration(): Promise<number | undefined> {
    return new Promise<number | undefined>(resolve => {
      const headers: Record<string, string> = { connection: 'close' };
      if (this.#options.token) {
        headers['x-plugin-lifecycle-proxy-token'] = this.#options.token;
      }
      const req = http.get(
        {
          host: this.#host,
          port: this.port,
          path: GENERATION_PATH,
          headers,
          agent: false,
        },
        res => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', chunk => {
            body += chunk;
          });
          res.on('end', () => {
            const generation = Number(body);
            resolve(Number.isFinite(generation) ? generation : undefined);
          });
        },
      );
      req.on('error', () => resolve(undefined));
    });
  }

  /** nginx's worker processes (Linux /proc; empty elsewhere). */
  #workers(): number[] {
    const master = this.masterPid;
    if (!master) return [];
    try {
      return fs
        .readFileSync(`/proc/${master}/task/${master}/children`, 'utf8')
        .trim()
        .split(/\s+/)
        .filter(Boolean)
        .map(Number);
    } catch {
      return [];
    }
  }

  /** Whether a worker still takes new connections: alive and not shutting down. */
  #accepting(pid: number): boolean {
    try {
      const title = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      return !title.includes('shutting down') && title.includes('worker');
    } catch {
      return false; // gone
    }
  }

  /** The configuration for a generation; routing is read once. */
  async #render(): Promise<(generation: number) => string> {
    // nginx ejects failing instances itself (max_fails), at once and
    // without a reload: a reload makes the old workers close their idle
    // client connections, and a client that sends on one just then gets
    // an error. So ejections change nothing here; writes (instances,
    // readiness, weights, limits) do.
    const table = this.#options.discovery.routingTable(this.#scope);
    const pools: NginxPool[] = [];
    const addresses = new Map<number, Map<string, Resolved>>();
    for (const pool of table.pools) {
      if (!isSafeNginxValue(pool.tenant)) {
        this.#warnOnce(
          `tenant:${pool.tenant}`,
          `Service '${pool.serviceName}' of tenant '${pool.tenant}' is not on the nginx data plane: the tenant name has characters nginx's configuration cannot hold`,
        );
        continue;
      }
      const index = this.#indexOf(pool);
      const rendered = await this.#poolOf(pool, index);
      pools.push(rendered.pool);
      addresses.set(index, rendered.addresses);
    }
    // Lines of requests served before this reload still name old addresses.
    for (const [index, known] of this.#addresses) {
      const now = addresses.get(index);
      if (!now) continue;
      for (const [address, resolved] of known) {
        if (!now.has(address)) now.set(address, resolved);
      }
    }
    this.#addresses = addresses;
    const o = this.#options;
    return generation =>
      renderNginxConfig({
        generation,
        host: this.#host,
        port: this.port,
        directory: this.#directory,
        workers: o.workers ?? 1,
        token: o.token,
        maxRetries: o.maxRetries ?? 2,
        connectTimeoutMs: o.connectTimeoutMs ?? 5_000,
        readTimeoutMs: o.readTimeoutMs ?? 60_000,
        maxFails: o.maxFails ?? 5,
        failTimeoutMs: o.failTimeoutMs ?? 30_000,
        keepAlive: 128,
        keepAliveTimeoutMs: o.upstreamKeepAliveTimeoutMs ?? 4_000,
        logFlushMs: o.logFlushMs ?? 250,
        pools,
        defaultTenant: o.defaultTenant,
      });
  }

  #indexOf(pool: RoutingPool): number {
    const key = `${pool.tenant}\u0000${pool.serviceName}`;
    let index = this.#indexes.get(key);
    if (index === undefined) {
      index = this.#nextIndex++;
      this.#indexes.set(key, index);
    }
    return index;
  }

  async #poolOf(
    pool: RoutingPool,
    index: number,
  ): Promise<{ pool: NginxPool; addresses: Map<string, Resolved> }> {
    const addresses = new Map<string, Resolved>();
    const httpInstances = pool.instances.filter(
      i => i.resolved.protocol === 'http' || i.resolved.protocol === 'https',
    );
    const protocol = httpInstances.some(i => i.resolved.protocol === 'http')
      ? 'http'
      : 'https';
    const chosen = httpInstances.filter(i => i.resolved.protocol === protocol);
    const servers: NginxPool['servers'] = [];
    for (const instance of chosen) {
      const { host, port } = instance.resolved;
      let ip = host.replace(/^\[|\]$/g, '');
      if (!net.isIP(ip)) {
        try {
          ip = (await lookup(host)).address;
        } catch (error) {
          this.#warnOnce(
            `host:${host}`,
            `Instance '${instance.resolved.serviceId}' of '${pool.serviceName}' is not on the nginx data plane: ${host} does not resolve (${error})`,
          );
          continue;
        }
      }
      const address = addressOf(ip, port);
      if (addresses.has(address)) continue;
      addresses.set(address, instance.resolved);
      servers.push({
        address,
        weight:
          pool.strategy === 'health-weighted'
            ? instance.weight * instance.healthScore
            : instance.weight,
        ...(instance.maxConnections !== undefined
          ? { maxConnections: instance.maxConnections }
          : {}),
      });
    }
    const hosts = new Set(chosen.map(i => i.resolved.host));
    const ports = new Set(chosen.map(i => i.resolved.port));
    let hostHeader = pool.serviceName;
    if (hosts.size === 1) {
      const [host] = hosts;
      hostHeader = ports.size === 1 ? `${host}:${[...ports][0]}` : host;
    }
    if (!isSafeNginxValue(hostHeader)) hostHeader = pool.serviceName;
    let unavailable = pool.unavailable;
    if (servers.length === 0 && !unavailable) {
      unavailable =
        pool.instances.length > httpInstances.length
          ? `Service '${pool.serviceName}' speaks ${pool.instances[0].resolved.protocol}; the proxy forwards HTTP only: resolve it and connect directly`
          : `Service '${pool.serviceName}' is unavailable: no instance address resolves`;
    }
    return {
      pool: {
        index,
        tenant: pool.tenant,
        serviceName: pool.serviceName,
        strategy: pool.strategy,
        protocol,
        hostHeader,
        // Only instances a runtime started: a registration's pluginId is the registrant's word.
        forwardAuthorization:
          chosen.length > 0 &&
          chosen.every(
            i =>
              i.resolved.source === 'instance' &&
              this.#options.discovery.forwardsAuthorization(
                i.resolved.serviceId,
              ),
          ),
        passCookies: new Set(this.#options.passCookies ?? []).has(
          pool.serviceName,
        ),
        servers,
        ...(servers.length === 0 ? { unavailable } : {}),
      },
      addresses,
    };
  }

  #warnOnce(key: string, message: string) {
    if (this.#warned.has(key)) return;
    this.#warned.add(key);
    this.#logger.warn(message);
  }

  // --- the access log --------------------------------------------------------

  /** Reads what nginx appended since the last look; rotates a large log. */
  #readLog() {
    const file = path.join(this.#directory, ACCESS_LOG_FILE);
    try {
      if (this.#logFd === undefined) {
        if (!fs.existsSync(file)) return;
        this.#logFd = fs.openSync(file, 'r');
        this.#logOffset = 0;
      }
      const buffer = this.#logBuffer;
      for (;;) {
        const read = fs.readSync(
          this.#logFd,
          buffer,
          0,
          buffer.length,
          this.#logOffset,
        );
        if (read === 0) break;
        this.#logOffset += read;
        const text = buffer.toString('latin1', 0, read);
        for (const line of this.#lines.push(text)) this.#recordLine(line);
      }
      if (this.#logOffset > (this.#options.maxLogBytes ?? 16 << 20)) {
        this.#rotate(file);
      }
    } catch (error) {
      this.#warnOnce('log', `Reading nginx's access log failed: ${error}`);
    }
  }

  /**
   * Starts a new log: truncates the one read to the end. nginx writes with
   * O_APPEND, so its next lines start the file again; at most the lines
   * written between the last read and the truncation are lost (metrics only).
   */
  #rotate(file: string) {
    fs.truncateSync(file, 0);
    this.#logOffset = 0;
  }

  /**
   * Most lines repeat (same instance, status and millisecond), so each
   * distinct line is parsed once; the cache is dropped when it grows.
   */
  #recordLine(line: string) {
    let request = this.#parsed.get(line);
    if (request === undefined) {
      request = parseAccessLogLine(line) ?? null;
      if (this.#parsed.size >= 4096) this.#parsed.clear();
      this.#parsed.set(line, request);
    }
    if (request) this.#record(request);
  }

  #record(request: LoggedRequest) {
    const known = this.#addresses.get(request.pool);
    if (!known) return;
    const { metrics, discovery } = this.#options;
    for (const attempt of request.attempts) {
      const resolved = known.get(attempt.address);
      if (!resolved) continue;
      // As in the Node data plane, a client that left is nobody's failure.
      if (attempt.outcome === 'aborted') continue;
      const handle = metrics.target(resolved);
      const id = resolved.serviceId;
      if (
        attempt.outcome === 'responded' &&
        attempt.headerMs !== undefined &&
        attempt.status !== undefined
      ) {
        metrics.responded(handle, attempt.status, attempt.headerMs);
        const ok = attempt.status < 500;
        // A run of good answers is one report: all a good one does is
        // reset the instance's count of failures in a row.
        if (!ok || !this.#reportedOk.has(id)) {
          discovery.reportOutcome(id, {
            ok,
            status: attempt.status,
            latencyMs: attempt.headerMs,
          });
        }
        if (ok) this.#reportedOk.add(id);
        else this.#reportedOk.delete(id);
      } else {
        metrics.failed(handle);
        discovery.reportOutcome(id, { ok: false });
        this.#reportedOk.delete(id);
      }
    }
  }
}
