import fs from 'node:fs/promises';

/** What /proc/<pid>/stat says about a process (Linux). */
export interface ProcStat {
  pid: number;
  /** One letter: R, S, D, Z (zombie), X (dead), ... */
  state: string;
  processGroup: number;
  session: number;
  /**
   * Field 22, in clock ticks since boot: with the pid, it names one process
   * for good, as a pid alone does not (pids are reused).
   */
  startTime: string;
}

/**
 * Reads /proc/<pid>/stat; undefined when the process is gone (or this is
 * not Linux).
 */
export async function readProcStat(pid: number): Promise<ProcStat | undefined> {
  let text: string;
  try {
    text = await fs.readFile(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) is in parentheses and may hold anything,
  // parentheses too: the fields that follow start after the last ')'.
  const rest = text
    .slice(text.lastIndexOf(')') + 2)
    .trim()
    .split(' ');
  if (rest.length < 20) return undefined;
  return {
    pid,
    state: rest[0],
    processGroup: Number(rest[2]),
    session: Number(rest[3]),
    startTime: rest[19],
  };
}

/**
 * Whether the process that had `pid` and started at `startTime` still runs:
 * the same pid, the same start time, and not a zombie waiting to be reaped.
 */
export async function isSameProcessAlive(
  pid: number,
  startTime: string,
): Promise<boolean> {
  const stat = await readProcStat(pid);
  return (
    stat !== undefined &&
    stat.startTime === startTime &&
    stat.state !== 'Z' &&
    stat.state !== 'X'
  );
}

/** Sends a signal to a process group; false when none is left. */
export function signalGroup(pgid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch {
    return false;
  }
}

/**
 * Stops a process group that is not our child: SIGTERM, then SIGKILL once
 * `graceMs` passed with its leader (pid, start time) still running, then
 * SIGKILL for whatever else is left in the group.
 */
export async function stopProcessGroup(options: {
  pid: number;
  processGroup: number;
  startTime: string;
  graceMs: number;
  pollMs?: number;
}): Promise<{ forced: boolean }> {
  const { pid, processGroup, startTime, graceMs } = options;
  const pollMs = options.pollMs ?? 100;
  signalGroup(processGroup, 'SIGTERM');
  let forced = false;
  for (let waited = 0; await isSameProcessAlive(pid, startTime); ) {
    if (waited >= graceMs) {
      forced = true;
      signalGroup(processGroup, 'SIGKILL');
    }
    await new Promise(r => setTimeout(r, pollMs));
    waited += pollMs;
  }
  signalGroup(processGroup, 'SIGKILL');
  return { forced };
}

/**
 * Resolves once a process that is not this one's child (an adopted
 * instance: no exit event) is gone, looked at every `pollMs`. Its exit code
 * went to whoever reaped it, so none is known.
 */
export function watchProcessEnd(
  pid: number,
  startTime: string,
  pollMs: number,
): {
  ended: Promise<{ exitCode: null; signal: null }>;
  unwatch: () => void;
} {
  let timer: NodeJS.Timeout | undefined;
  const ended = new Promise<{ exitCode: null; signal: null }>(resolve => {
    timer = setInterval(async () => {
      if (!(await isSameProcessAlive(pid, startTime))) {
        clearInterval(timer);
        resolve({ exitCode: null, signal: null });
      }
    }, pollMs);
    timer.unref();
  });
  return { ended, unwatch: () => clearInterval(timer) };
}
