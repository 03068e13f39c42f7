import fs from 'node:fs/promises';
import { LoggerService } from '@backstage/backend-plugin-api';
import { isSameProcessAlive, readProcStat, stopProcessGroup } from './procStat';
import { SpawnJournal, SpawnJournalEntry } from './SpawnJournal';

const ORPHAN_GRACE_MS = 5000;

/**
 * Stops a recorded instance a killed backend left running. The process is
 * recognised by pid and start time, whatever its command line says (a
 * server may rename itself); a row from before start times were recorded
 * falls back to a command line that runs from `versionDir`. A reused pid is
 * never signalled. Whether it was stopped.
 */
export async function stopRecordedOrphan(
  instance: { pid: number; processGroup?: number; processStartTime?: string },
  versionDir: string,
): Promise<boolean> {
  const { pid } = instance;
  if (instance.processStartTime) {
    if (!(await isSameProcessAlive(pid, instance.processStartTime))) {
      return false;
    }
    await stopProcessGroup({
      pid,
      processGroup: instance.processGroup ?? pid,
      startTime: instance.processStartTime,
      graceMs: ORPHAN_GRACE_MS,
    });
    return true;
  }
  let commandLine: string;
  try {
    commandLine = (await fs.readFile(`/proc/${pid}/cmdline`, 'utf8'))
      .split('\0')
      .join(' ');
  } catch {
    return false; // gone already (or not Linux)
  }
  if (!commandLine.includes(versionDir)) return false;
  const stat = await readProcStat(pid);
  if (!stat) return false;
  await stopProcessGroup({
    pid,
    processGroup: pid,
    startTime: stat.startTime,
    graceMs: ORPHAN_GRACE_MS,
  });
  return true;
}

/**
 * Stops the process groups in the spawn journal that a gone backend
 * started and nobody adopted: an instance it never recorded, one that
 * renamed itself, an install step left running. Matched by pid, group and
 * start time; an entry whose process ended is only forgotten. Returns what
 * was stopped.
 */
export async function stopJournaledOrphans(options: {
  journal: SpawnJournal;
  logger: LoggerService;
  /** Whether an entry is one this runtime (now) runs, or a live replica's. */
  isKept: (entry: SpawnJournalEntry) => boolean;
  /** Forgets an entry (and an instance's files). */
  forget: (entry: SpawnJournalEntry) => Promise<void>;
}): Promise<SpawnJournalEntry[]> {
  const stopped: SpawnJournalEntry[] = [];
  for (const entry of await options.journal.list()) {
    if (options.isKept(entry)) continue;
    const stat = await readProcStat(entry.pid);
    if (
      stat &&
      stat.startTime === entry.startTime &&
      stat.processGroup === entry.processGroup &&
      stat.state !== 'Z'
    ) {
      options.logger.warn(
        `stopping an orphaned ${
          entry.kind === 'install' ? `install step (${entry.step})` : 'instance'
        } of plugin ${entry.pluginId}, pid ${entry.pid}, left by ${
          entry.owner
        }`,
      );
      await stopProcessGroup({
        pid: entry.pid,
        processGroup: entry.processGroup,
        startTime: entry.startTime,
        graceMs: ORPHAN_GRACE_MS,
      });
      stopped.push(entry);
    }
    await options.forget(entry);
  }
  return stopped;
}
