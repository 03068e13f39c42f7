import { spawn } from 'node:child_process';
import { signalGroup } from './procStat';

/**
 * Told of each install step's process group as it starts; the function it
 * returns is called once the step has ended. The process runtime journals
 * the group (see SpawnJournal), so a backend that dies mid-install does not
 * leave an `npm install` going on by itself.
 */
export type StepTracker = (step: {
  pid: number;
  description: string;
}) => Promise<() => Promise<void>>;

/** The error of a step that failed, with what it wrote. */
export interface StepError extends Error {
  stdout: string;
  stderr: string;
  code: number | null;
  /** Stopped because it took longer than `timeoutMs`. */
  timedOut?: boolean;
}

/**
 * Runs one install step (`npm pack`, `npm install` ...) in a process group
 * of its own, as execFile would otherwise: the abort signal and the timeout
 * stop the whole group, not only npm while its children go on.
 */
export async function runDetachedStep(
  command: string,
  args: string[],
  options: {
    cwd?: string;
    env?: NodeJS.ProcessEnv;
    /** The user the step runs as (a plugin's, see processIdentity). */
    uid?: number;
    gid?: number;
    signal?: AbortSignal;
    timeoutMs?: number;
    track?: StepTracker;
  },
): Promise<{ stdout: string; stderr: string }> {
  options.signal?.throwIfAborted();
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: options.env,
    uid: options.uid,
    gid: options.gid,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', chunk => {
    stdout += chunk;
  });
  child.stderr!.on('data', chunk => {
    stderr += chunk;
  });
  const ended = new Promise<{
    code: number | null;
    signal: string | null;
    error?: Error;
  }>(resolve => {
    child.once('error', error => resolve({ code: null, signal: null, error }));
    child.once('close', (code, signal) => resolve({ code, signal }));
  });
  const pid = child.pid;
  const untrack =
    pid && options.track
      ? await options.track({ pid, description: `${command} ${args[0]}` })
      : undefined;
  let why: string | undefined;
  const stop = (reason: string) => {
    why ??= reason;
    if (pid) signalGroup(pid, 'SIGKILL');
  };
  const onAbort = () => stop('aborted');
  options.signal?.addEventListener('abort', onAbort, { once: true });
  const timer = options.timeoutMs
    ? setTimeout(() => stop('timed out'), options.timeoutMs)
    : undefined;
  try {
    const result = await ended;
    // Whatever the step left in its group goes with it.
    if (pid) signalGroup(pid, 'SIGKILL');
    if (result.error) throw result.error;
    if (result.code !== 0) {
      const error = new Error(
        `${command} ${args.join(' ')} ${
          why ?? `failed (code ${result.code}, signal ${result.signal})`
        }: ${stderr.trim().slice(-1000)}`,
      ) as StepError;
      error.stdout = stdout;
      error.stderr = stderr;
      error.code = result.code;
      error.timedOut = why === 'timed out';
      throw error;
    }
    return { stdout, stderr };
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener('abort', onAbort);
    await untrack?.();
  }
}
