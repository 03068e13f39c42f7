import { ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import { LoggerService } from '@backstage/backend-plugin-api';
import {
  RuntimeReloadRequest,
  RuntimeStopResult,
} from '@internal/plugin-lifecycle-node';
import { InstanceOutput } from './InstanceOutput';
import { ProcessIdentity } from './processIdentity';
import { canConnect } from './freePort';
import { readProcStat, signalGroup, watchProcessEnd } from './procStat';

/** How often an adopted instance (not our child: no exit event) is looked at. */
const ADOPTED_POLL_MS = 200;

/** How an instance's process ended. */
export type Exit = { exitCode: number | null; signal: string | null };

/**
 * A running instance of the process runtime: its process group (spawned
 * here, or adopted from a gone backend), its port and files.
 */
export interface InstanceProcess {
  pluginId: string;
  host: string;
  port: number;
  configFile: string;
  logFile: string;
  pid: number;
  /** The instance's own session and group (setsid): pgid = pid. */
  processGroup: number;
  /** /proc/<pid>/stat field 22; undefined when it ended before it was read. */
  startTime?: string;
  /** Set for a process this backend spawned, not for an adopted one. */
  process?: ChildProcess;
  output: InstanceOutput;
  stopping: boolean;
  /** Let go at shutdown (left running): its end is no longer ours to report. */
  released: boolean;
  exited: Promise<Exit>;
  /** Resolves, with its last output, once its end was handled and reported. */
  reported?: Promise<string>;
  /** Stops looking for the exit of an adopted instance. */
  unwatch?: () => void;
}

/**
 * Spawns an instance's command in a session and process group of its own
 * (so that a stop reaches whatever it spawns), as the plugin's user when
 * there is one. Answers the spawn's error when it did not start.
 */
export async function spawnInstanceProcess(options: {
  command: string;
  args: string[];
  cwd?: string;
  env: NodeJS.ProcessEnv;
  identity?: ProcessIdentity;
  /** The backend's own directory (0700) that holds `logFile`. */
  logsDir: string;
  logFile: string;
}): Promise<
  | { process: ChildProcess; pid: number; exited: Promise<Exit> }
  | { error: Error }
> {
  const { identity } = options;
  // The output goes to a file the instance writes itself: a pipe would
  // end with the backend, and the instance with it (EPIPE, SIGPIPE).
  await fs.mkdir(options.logsDir, { recursive: true, mode: 0o700 });
  const log = await fs.open(options.logFile, 'a', 0o600);
  let child: ChildProcess;
  try {
    child = spawn(options.command, options.args, {
      cwd: options.cwd,
      env: options.env,
      detached: true, // its own session and group: see stopInstanceProcess
      ...(identity && { uid: identity.uid, gid: identity.gid }),
      stdio: ['ignore', log.fd, log.fd],
    });
  } finally {
    await log.close();
  }
  const spawnError = new Promise<Error>(resolve =>
    child.once('error', resolve),
  );
  if (child.pid === undefined) {
    return { error: await spawnError };
  }
  const exited = new Promise<Exit>(resolve => {
    child.once('exit', (exitCode, signal) => resolve({ exitCode, signal }));
  });
  return { process: child, pid: child.pid, exited };
}

/**
 * The instance a gone backend started, as this one follows it: only the
 * very process recorded (same pid and start time, in the recorded group)
 * and only while it accepts connections on its recorded port; else
 * undefined. Its end is watched by polling /proc, since it is no child of
 * this process, and its output followed from where it is now.
 */
export async function adoptInstanceProcess(
  instance: {
    pluginId: string;
    host: string;
    port: number;
    pid?: number;
    processGroup?: number;
    processStartTime?: string;
  },
  options: { configFile: string; logFile: string; logger: LoggerService },
): Promise<InstanceProcess | undefined> {
  const { pid, processStartTime } = instance;
  if (!pid || !processStartTime) return undefined;
  const stat = await readProcStat(pid);
  if (
    !stat ||
    stat.startTime !== processStartTime ||
    stat.state === 'Z' ||
    stat.processGroup !== (instance.processGroup ?? pid)
  ) {
    return undefined;
  }
  if (!(await canConnect(instance.host, instance.port, 1000))) return undefined;
  const watch = watchProcessEnd(pid, processStartTime, ADOPTED_POLL_MS);
  return {
    pluginId: instance.pluginId,
    host: instance.host,
    port: instance.port,
    configFile: options.configFile,
    logFile: options.logFile,
    pid,
    processGroup: stat.processGroup,
    startTime: processStartTime,
    output: await InstanceOutput.follow({
      file: options.logFile,
      logger: options.logger,
      from: 'end',
    }),
    stopping: false,
    released: false,
    exited: watch.ended,
    unwatch: watch.unwatch,
  };
}

/**
 * Stops an instance's process group: SIGTERM, SIGKILL once the grace
 * period passed, then SIGKILL for whatever it spawned and left behind.
 */
export async function stopInstanceProcess(
  instance: InstanceProcess,
  gracePeriodMs: number,
): Promise<RuntimeStopResult> {
  signalGroup(instance.processGroup, 'SIGTERM');
  let forced = false;
  const timer = setTimeout(() => {
    forced = true;
    signalGroup(instance.processGroup, 'SIGKILL');
  }, gracePeriodMs);
  const { exitCode, signal } = await instance.exited;
  clearTimeout(timer);
  // Whatever the instance spawned and left behind goes too.
  signalGroup(instance.processGroup, 'SIGKILL');
  return { exitCode, signal, forced };
}

/**
 * Tells a running instance that its configuration file changed: a signal
 * (it re-reads the file) or a POST of the configuration to its reload
 * endpoint.
 */
export async function sendReload(
  instance: InstanceProcess,
  request: RuntimeReloadRequest,
  document: string,
): Promise<void> {
  if (request.strategy === 'signal') {
    process.kill(instance.pid, request.signal ?? 'SIGHUP');
    return;
  }
  const endpoint = request.endpoint ?? '/-/reload';
  const response = await fetch(
    `http://${instance.host}:${instance.port}${endpoint}`,
    {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: document,
      signal: AbortSignal.timeout(request.timeoutMs ?? 10_000),
    },
  );
  await response.body?.cancel();
  if (!response.ok) {
    throw new Error(
      `the instance answered ${response.status} to POST ${endpoint}`,
    );
  }
}
