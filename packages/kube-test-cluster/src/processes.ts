import { ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

/**
 * Runs the real binary under a small bash watchdog that ends it when this
 * Node process is gone, so a jest worker killed mid-test (timeout, SIGKILL)
 * leaves no etcd or kube-apiserver behind. `sleep & wait` keeps the TERM trap
 * immediate.
 */
const WATCHDOG = `
parent="$1"; pidfile="$2"; shift 2
"$@" &
child=$!
echo "$child" >"$pidfile"
trap 'kill -TERM "$child" 2>/dev/null; wait "$child"; exit $?' TERM INT
while kill -0 "$parent" 2>/dev/null && kill -0 "$child" 2>/dev/null; do
  sleep 1 & wait $!
done
kill -TERM "$child" 2>/dev/null
wait "$child"
`;

const running = new Set<ComponentProcess>();
let exitHookInstalled = false;

/** Last resort when the process exits without stop(): SIGKILL what is left. */
function installExitHook() {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const component of running) component.killNow();
  });
}

/** One control-plane binary running under the watchdog, its output in a log file. */
export class ComponentProcess {
  readonly logFile: string;
  private readonly child: ChildProcess;
  private readonly pidFile: string;
  private exit: { code: number | null; signal: string | null } | undefined;
  private readonly exited: Promise<void>;

  private constructor(
    readonly name: string,
    dir: string,
    binary: string,
    args: string[],
  ) {
    this.logFile = path.join(dir, `${name}.log`);
    this.pidFile = path.join(dir, `${name}.pid`);
    const log = fs.openSync(this.logFile, 'a');
    try {
      this.child = spawn(
        'bash',
        [
          '-c',
          WATCHDOG,
          'kube-watchdog',
          String(process.pid),
          this.pidFile,
          binary,
          ...args,
        ],
        { stdio: ['ignore', log, log], cwd: dir },
      );
    } finally {
      fs.closeSync(log);
    }
    this.exited = new Promise(resolve => {
      this.child.once('exit', (code, signal) => {
        this.exit = { code, signal };
        running.delete(this);
        resolve();
      });
      this.child.once('error', error => {
        fs.appendFileSync(this.logFile, `\nspawn failed: ${error.message}\n`);
        this.exit = { code: null, signal: null };
        running.delete(this);
        resolve();
      });
    });
    running.add(this);
    installExitHook();
  }

  /** Starts `binary args...`; its output goes to `<dir>/<name>.log`. */
  static start(
    name: string,
    dir: string,
    binary: string,
    args: string[],
  ): ComponentProcess {
    return new ComponentProcess(name, dir, binary, args);
  }

  /** Why it is not running, or undefined while it runs. */
  get exitDescription(): string | undefined {
    if (!this.exit) return undefined;
    return this.exit.signal
      ? `was killed by ${this.exit.signal}`
      : `exited with code ${this.exit.code}`;
  }

  /** The last lines of its log, for error messages. */
  logTail(lines = 25): string {
    try {
      return fs
        .readFileSync(this.logFile, 'utf8')
        .split('\n')
        .slice(-lines)
        .join('\n');
    } catch {
      return '(no log)';
    }
  }

  /** The binary's process id (not the watchdog's), once it started. */
  childPid(): number | undefined {
    try {
      const pid = Number(fs.readFileSync(this.pidFile, 'utf8').trim());
      return Number.isInteger(pid) && pid > 0 ? pid : undefined;
    } catch {
      return undefined;
    }
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves once the binary is gone. */
  async stop(graceMs = 10_000): Promise<void> {
    if (this.exit) return;
    this.child.kill('SIGTERM');
    const timer = new Promise<'timeout'>(resolve => {
      const t = setTimeout(() => resolve('timeout'), graceMs);
      t.unref();
    });
    if ((await Promise.race([this.exited, timer])) === 'timeout') {
      this.killNow();
      await this.exited;
    }
  }

  /** Synchronous SIGKILL of the binary and its watchdog. */
  killNow(): void {
    const pid = this.childPid();
    if (pid !== undefined) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    try {
      this.child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** `count` distinct free ports. */
export async function freePorts(count: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < count) ports.add(await freePort());
  return [...ports];
}
