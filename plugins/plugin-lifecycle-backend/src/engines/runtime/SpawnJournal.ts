import fs from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import type { StepTracker } from './detachedStep';
import { readProcStat } from './procStat';

const entrySchema = z.object({
  key: z.string().min(1),
  kind: z.enum(['instance', 'install']),
  pid: z.number().int().positive(),
  processGroup: z.number().int().positive(),
  startTime: z.string().min(1),
  /** The backend replica that spawned (or adopted) it. */
  owner: z.string(),
  pluginId: z.string(),
  instanceId: z.string().optional(),
  /** For an install step: what it runs (`npm pack`, `npm install` ...). */
  step: z.string().optional(),
});

/** One process group a runtime started and has not seen end. */
export type SpawnJournalEntry = z.infer<typeof entrySchema>;

/**
 * The process groups this host's runtime started, one small file each in
 * `<dataDir>/.journal`, written right after the spawn and removed once the
 * group is seen to end. A backend killed between a spawn and its database
 * write (or during an install step) leaves an entry, so the next one finds
 * what it must stop by process group and start time, whatever the process
 * calls itself by then.
 */
export class SpawnJournal {
  readonly #dir: string;

  private constructor(dir: string) {
    this.#dir = dir;
  }

  static create(options: { dataDir: string }): SpawnJournal {
    return new SpawnJournal(path.join(options.dataDir, '.journal'));
  }

  #file(key: string) {
    return path.join(this.#dir, `${encodeURIComponent(key)}.json`);
  }

  async record(entry: SpawnJournalEntry): Promise<void> {
    await fs.mkdir(this.#dir, { recursive: true, mode: 0o700 });
    const file = this.#file(entry.key);
    // Written whole then renamed: a backend killed mid-write leaves the old
    // entry or the new one, never half of one.
    const tmp = `${file}.${process.pid}.tmp`;
    await fs.writeFile(tmp, JSON.stringify(entry), { mode: 0o600 });
    await fs.rename(tmp, file);
  }

  /**
   * Journals each install step of a plugin's version (its process group)
   * while it runs, for `owner` (this replica).
   */
  installStepTracker(options: {
    owner: string;
    pluginId: string;
    version: string;
  }): StepTracker {
    const { owner, pluginId, version } = options;
    return async ({ pid, description }) => {
      const stat = await readProcStat(pid);
      if (!stat) return async () => {};
      const key = `install-${pluginId}-${version}-${pid}`;
      await this.record({
        key,
        kind: 'install',
        pid,
        processGroup: stat.processGroup,
        startTime: stat.startTime,
        owner,
        pluginId,
        step: description,
      });
      return () => this.remove(key);
    };
  }

  async remove(key: string): Promise<void> {
    await fs.rm(this.#file(key), { force: true });
  }

  async get(key: string): Promise<SpawnJournalEntry | undefined> {
    return this.#read(this.#file(key));
  }

  async list(): Promise<SpawnJournalEntry[]> {
    let names: string[];
    try {
      names = await fs.readdir(this.#dir);
    } catch {
      return [];
    }
    const entries = await Promise.all(
      names
        .filter(n => n.endsWith('.json'))
        .map(n => this.#read(path.join(this.#dir, n))),
    );
    return entries.filter((e): e is SpawnJournalEntry => e !== undefined);
  }

  async #read(file: string): Promise<SpawnJournalEntry | undefined> {
    try {
      const parsed = entrySchema.safeParse(
        JSON.parse(await fs.readFile(file, 'utf8')),
      );
      return parsed.success ? parsed.data : undefined;
    } catch {
      return undefined;
    }
  }
}
