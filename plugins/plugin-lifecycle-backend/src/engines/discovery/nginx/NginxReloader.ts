import { execFile } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { promisify } from 'node:util';
import { LoggerService } from '@backstage/backend-plugin-api';
import { DATA_PLANE_TOKEN_HEADER } from '@internal/plugin-lifecycle-common';
import { ERROR_LOG_FILE, GENERATION_PATH } from './nginxConfig';
import { NginxProcess } from './NginxProcess';

const execFileAsync = promisify(execFile);

/**
 * Brings routing changes to nginx: renders (debounced, one at a time),
 * checks a changed configuration with `nginx -t`, makes it current,
 * reloads with SIGHUP and waits until a new connection reaches a worker
 * that serves it (its generation), so a change is not reported as applied
 * before nginx applies it. An unchanged configuration reloads nothing: a
 * reload makes the old workers close idle client connections.
 */
export class NginxReloader {
  readonly #binary: string;
  readonly #directory: string;
  readonly #host: string;
  readonly #port: number;
  readonly #token: string | undefined;
  readonly #debounceMs: number;
  readonly #logger: LoggerService;
  readonly #process: NginxProcess;
  readonly #render: () => Promise<(generation: number) => string>;
  /** What was rendered last, with generation 0 (to compare). */
  #config = '';
  #generation = 0;
  #renderTimer: NodeJS.Timeout | undefined;
  #rendering: Promise<void> | undefined;
  #renderAgain = false;
  #closed = false;
  /** Reloads done; for tests and diagnostics. */
  reloads = 0;

  constructor(options: {
    binary: string;
    directory: string;
    host: string;
    port: number;
    token?: string;
    debounceMs?: number;
    logger: LoggerService;
    process: NginxProcess;
    render: () => Promise<(generation: number) => string>;
  }) {
    this.#binary = options.binary;
    this.#directory = options.directory;
    this.#host = options.host;
    this.#port = options.port;
    this.#token = options.token;
    this.#debounceMs = options.debounceMs ?? 100;
    this.#logger = options.logger;
    this.#process = options.process;
    this.#render = options.render;
  }

  /** The configuration generation nginx was last given. */
  get generation(): number {
    return this.#generation;
  }

  /**
   * Writes the first configuration (for a new nginx) or, for an adopted
   * one, goes on from its generation and reloads it only when its
   * routing differs, so that its idle connections stay.
   */
  async prepare(adopted: boolean): Promise<void> {
    // Generations go on from the adopted nginx's, so that a reload is only
    // taken for applied once nginx serves the new one.
    if (adopted) this.#generation = (await this.askGeneration()) ?? 0;
    const config = await this.#render();
    this.#config = config(0);
    if (!adopted) {
      await this.write(config(this.#generation));
      return;
    }
    let running = '';
    try {
      running = fs.readFileSync(this.#process.configPath(), 'utf8');
    } catch {
      // none: reloaded below
    }
    // The same routing as the nginx serves: no reload, which would make its
    // old workers close idle client connections.
    if (config(this.#generation) === running) return;
    const generation = this.#generation + 1;
    await this.write(config(generation));
    this.#generation = generation;
    const before = this.#process.workers();
    const master = this.#process.masterPid;
    if (master !== undefined) process.kill(master, 'SIGHUP');
    this.reloads++;
    await this.waitForGeneration(generation, before);
  }

  /** Stops rendering; waits for a render under way. */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#renderTimer);
    await this.#rendering?.catch(() => undefined);
  }

  /** Checks a configuration with `nginx -t`, then makes it the one nginx reads. */
  async write(config: string): Promise<void> {
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
    fs.renameSync(next, this.#process.configPath());
  }

  schedule(): void {
    if (this.#closed || this.#renderTimer) return;
    this.#renderTimer = setTimeout(() => {
      this.#renderTimer = undefined;
      this.#reload();
    }, this.#debounceMs);
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
        await this.write(config(generation));
        this.#config = comparable;
        this.#generation = generation;
        const before = this.#process.workers();
        const master = this.#process.masterPid;
        if (master !== undefined) process.kill(master, 'SIGHUP');
        this.reloads++;
        await this.waitForGeneration(generation, before);
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
  async waitForGeneration(generation: number, oldWorkers: number[]) {
    const deadline = Date.now() + 10_000;
    while (!this.#closed && Date.now() < deadline) {
      // The old workers accept connections until they see the signal.
      if (oldWorkers.some(pid => this.#process.accepting(pid))) {
        await new Promise(resolve => setTimeout(resolve, 5));
        continue;
      }
      const answer = await this.askGeneration();
      if (answer !== undefined && answer >= generation) return;
      await new Promise(resolve => setTimeout(resolve, 10));
    }
    this.#logger.warn(
      `nginx data plane: reload ${generation} did not take effect within 10 s: ${this.#process.errorLog()}`,
    );
  }

  /** The configuration generation nginx serves now (undefined: no answer). */
  askGeneration(): Promise<number | undefined> {
    return new Promise<number | undefined>(resolve => {
      const headers: Record<string, string> = { connection: 'close' };
      if (this.#token) {
        headers[DATA_PLANE_TOKEN_HEADER] = this.#token;
      }
      const req = http.get(
        {
          host: this.#host,
          port: this.#port,
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
}
