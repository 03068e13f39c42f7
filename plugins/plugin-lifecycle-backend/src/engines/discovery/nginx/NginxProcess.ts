import { ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { LoggerService } from '@backstage/backend-plugin-api';
import { canConnect } from '../../runtime/freePort';
import { ERROR_LOG_FILE, PID_FILE } from './nginxConfig';

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
export function isMasterAlive(pid: number, directory: string): boolean {
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

/**
 * The nginx master process of a data plane: spawned (in a session of its
 * own when it is to outlive the backend) and started again when it dies,
 * or adopted from a gone backend and watched through /proc; stopped
 * gracefully, then fast, then killed. Also what /proc says of its workers.
 */
export class NginxProcess {
  readonly #binary: string;
  readonly #directory: string;
  readonly #host: string;
  readonly #port: number;
  readonly #outliveBackend: boolean;
  readonly #logger: LoggerService;
  #process: ChildProcess | undefined;
  /** An nginx master a gone backend started, adopted at start. */
  #adoptedPid: number | undefined;
  #adoptedTimer: NodeJS.Timeout | undefined;
  #respawnTimer: NodeJS.Timeout | undefined;
  #respawnDelayMs = 0;
  #stopped = false;

  constructor(options: {
    binary: string;
    directory: string;
    host: string;
    port: number;
    outliveBackend: boolean;
    logger: LoggerService;
  }) {
    this.#binary = options.binary;
    this.#directory = options.directory;
    this.#host = options.host;
    this.#port = options.port;
    this.#outliveBackend = options.outliveBackend;
    this.#logger = options.logger;
  }

  /** The pid of the nginx master (spawned or adopted). */
  get masterPid(): number | undefined {
    return this.#process?.pid ?? this.#adoptedPid;
  }

  /** Takes over a master a gone backend left here. */
  adopt(pid: number): void {
    this.#adoptedPid = pid;
  }

  /** Watches the adopted master: not our child, its end shows in /proc only. */
  watchAdopted(): void {
    const pid = this.#adoptedPid;
    if (pid === undefined) return;
    this.#adoptedTimer = setInterval(() => {
      if (this.#stopped || isMasterAlive(pid, this.#directory)) return;
      clearInterval(this.#adoptedTimer);
      this.#adoptedPid = undefined;
      this.#logger.error(
        `the adopted nginx data plane (pid ${pid}) exited: ${this.errorLog()}`,
      );
      this.#respawn(1_000);
    }, ADOPTED_POLL_MS);
    this.#adoptedTimer.unref();
  }

  /** Stops watching and restarting (before {@link NginxProcess.stop} or leaving it running). */
  release(): void {
    this.#stopped = true;
    clearTimeout(this.#respawnTimer);
    clearInterval(this.#adoptedTimer);
  }

  /** Lets the master run on after the backend: our child no more. */
  leaveRunning(): void {
    this.release();
    this.#process?.unref();
  }

  /**
   * Stops nginx: gracefully (requests under way finish), then after
   * `graceMs` (default 5000) fast (open connections are closed), then,
   * 5 s later or 1 s with `graceMs`, SIGKILL.
   */
  async stop(graceMs: number | undefined): Promise<void> {
    this.release();
    if (this.#adoptedPid !== undefined) {
      await this.stopAdopted(this.#adoptedPid, graceMs ?? 5_000);
    }
    const child = this.#process;
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise(resolve => child.once('exit', resolve));
      // Graceful: requests under way finish; then fast (long-lived
      // connections such as WebSockets are closed); SIGKILL would leave
      // the workers running.
      child.kill('SIGQUIT');
      const fastMs = graceMs ?? 5_000;
      const fast = setTimeout(() => child.kill('SIGTERM'), fastMs);
      const kill = setTimeout(
        () => child.kill('SIGKILL'),
        fastMs + (graceMs === undefined ? 5_000 : 1_000),
      );
      await exited;
      clearTimeout(fast);
      clearTimeout(kill);
    }
  }

  async stopAdopted(pid: number, graceMs: number) {
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
  async spawn(): Promise<void> {
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
          this.configPath(),
          '-e',
          path.join(this.#directory, ERROR_LOG_FILE),
        ],
        {
          stdio: ['ignore', 'ignore', stderrFd],
          // A session of its own: it outlives the backend when asked to.
          detached: !!this.#outliveBackend,
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
      if (this.#stopped || this.#process !== child) return;
      this.#logger.error(
        `nginx data plane exited (${signal ?? code}): ${this.errorLog()}`,
      );
      this.#respawn(1_000);
    });
    await this.#waitUntilListening(child, stderr);
    this.#respawnDelayMs = 0;
  }

  /** nginx died under us: start it again, waiting longer after each failure. */
  #respawn(delayMs: number) {
    if (this.#stopped) return;
    this.#respawnDelayMs = Math.min(
      Math.max(delayMs, this.#respawnDelayMs * 2),
      30_000,
    );
    this.#respawnTimer = setTimeout(async () => {
      if (this.#stopped) return;
      try {
        await this.spawn();
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
  leftover(): number | undefined {
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
  async stopLeftover(pid: number): Promise<void> {
    this.#logger.warn(
      `Stopping the nginx data plane (pid ${pid}) that an earlier backend left running in ${
        this.#directory
      }`,
    );
    await this.stopAdopted(pid, 4_000);
  }

  configPath(): string {
    return path.join(this.#directory, 'nginx.conf');
  }

  errorLog(): string {
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
            stderr().trim() || this.errorLog()
          }`,
        );
      }
      if (await canConnect(this.#host, this.#port)) return;
      if (Date.now() > deadline) {
        throw new Error(
          `nginx data plane is not listening on ${this.#host}:${
            this.#port
          } after 10 s`,
        );
      }
      await new Promise(resolve => setTimeout(resolve, 25));
    }
  }

  /** nginx's worker processes (Linux /proc; empty elsewhere). */
  workers(): number[] {
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
  accepting(pid: number): boolean {
    try {
      const title = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      return !title.includes('shutting down') && title.includes('worker');
    } catch {
      return false; // gone
    }
  }
}
