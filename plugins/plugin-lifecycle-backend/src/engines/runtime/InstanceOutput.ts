import { FSWatcher, watch } from 'node:fs';
import fs from 'node:fs/promises';
import { LoggerService } from '@backstage/backend-plugin-api';

/** How much of its output an ended instance reports (why it ended). */
export const OUTPUT_TAIL_BYTES = 4096;
/** A log past this size is emptied once followed, so it never fills the disk. */
const MAX_LOG_BYTES = 8 * 1024 * 1024;

/**
 * An instance's stdout and stderr, written by the instance itself to a file
 * (not a pipe to the backend, which would end with the backend), and
 * followed by the backend while it runs: each new line goes to its logger.
 */
export class InstanceOutput {
  readonly #file: string;
  readonly #logger: LoggerService;
  readonly #intervalMs: number;
  #offset = 0;
  #partial = '';
  #timer: NodeJS.Timeout | undefined;
  #watcher: FSWatcher | undefined;
  #reading: Promise<void> = Promise.resolve();
  #queued = false;

  private constructor(options: {
    file: string;
    logger: LoggerService;
    intervalMs?: number;
  }) {
    this.#file = options.file;
    this.#logger = options.logger;
    this.#intervalMs = options.intervalMs ?? 1000;
  }

  /**
   * Follows the file from `from`: 'start' for a process just spawned,
   * 'end' for one adopted (its earlier lines were logged by the backend
   * that started it).
   */
  static async follow(options: {
    file: string;
    logger: LoggerService;
    from: 'start' | 'end';
    intervalMs?: number;
  }): Promise<InstanceOutput> {
    const output = new InstanceOutput(options);
    if (options.from === 'end') {
      output.#offset = await fs
        .stat(options.file)
        .then(s => s.size)
        .catch(() => 0);
    }
    // Read when the file changes (inotify), and now and then regardless:
    // a watch can be refused (too many) or miss a change.
    try {
      output.#watcher = watch(options.file, { persistent: false }, () => {
        output.#poll();
      });
      output.#watcher.on('error', () => output.#watcher?.close());
    } catch {
      // polled only
    }
    output.#timer = setInterval(() => output.#poll(), output.#intervalMs);
    output.#timer.unref();
    return output;
  }

  #poll() {
    // A read already queued will see this change too.
    if (this.#queued) return this.#reading;
    this.#queued = true;
    this.#reading = this.#reading
      .then(() => {
        this.#queued = false;
        return this.#read();
      })
      .catch(() => {});
    return this.#reading;
  }

  async #read() {
    const handle = await fs.open(this.#file, 'r').catch(() => undefined);
    if (!handle) return;
    try {
      const { size } = await handle.stat();
      // Emptied (see below) or replaced: start over.
      if (size < this.#offset) this.#offset = 0;
      while (this.#offset < size) {
        const buffer = Buffer.alloc(Math.min(64 * 1024, size - this.#offset));
        const { bytesRead } = await handle.read(
          buffer,
          0,
          buffer.length,
          this.#offset,
        );
        if (bytesRead === 0) break;
        this.#offset += bytesRead;
        const lines = (
          this.#partial + buffer.subarray(0, bytesRead).toString('utf8')
        ).split('\n');
        this.#partial = lines.pop() ?? '';
        for (const line of lines.filter(Boolean)) this.#logger.info(line);
      }
      if (size > MAX_LOG_BYTES) {
        // The instance writes with O_APPEND, so its next write lands at the
        // new end. What it wrote meanwhile is lost, not misplaced.
        await fs.truncate(this.#file, 0).catch(() => {});
        this.#offset = 0;
      }
    } finally {
      await handle.close();
    }
  }

  /** Logs what is left, then stops following. */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#watcher?.close();
    await this.#poll();
    if (this.#partial) this.#logger.info(this.#partial);
    this.#partial = '';
  }

  /** The last bytes the instance wrote. */
  async tail(bytes = OUTPUT_TAIL_BYTES): Promise<string> {
    return readTail(this.#file, bytes);
  }
}

/** The last `bytes` of a file ('' when there is none). */
export async function readTail(file: string, bytes: number): Promise<string> {
  const handle = await fs.open(file, 'r').catch(() => undefined);
  if (!handle) return '';
  try {
    const { size } = await handle.stat();
    const length = Math.min(bytes, size);
    const buffer = Buffer.alloc(length);
    await handle.read(buffer, 0, length, size - length);
    return buffer.toString('utf8');
  } finally {
    await handle.close();
  }
}
