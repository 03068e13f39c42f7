import fs from 'node:fs';
import path from 'node:path';
import { LoggerService } from '@backstage/backend-plugin-api';
import { ResolvedService } from '@internal/plugin-lifecycle-common';
import { ProxyMetrics } from '../ProxyMetrics';
import { ServiceDiscovery } from '../ServiceDiscovery';
import { LineSplitter, LoggedRequest, parseAccessLogLine } from './accessLog';
import { ACCESS_LOG_FILE } from './nginxConfig';

type Resolved = Omit<ResolvedService, 'strategy' | 'panic'>;

/**
 * Follows nginx's buffered access log into the same {@link ProxyMetrics}
 * and outlier ejection state as the Node data plane: each try of each
 * request (its upstream address, status and time to headers) is counted
 * for the instance at that address, a fraction of a second later.
 */
export class AccessLogReader {
  readonly #file: string;
  readonly #metrics: ProxyMetrics;
  readonly #discovery: ServiceDiscovery;
  readonly #logger: LoggerService;
  readonly #maxLogBytes: number;
  /** The instances at each address of a pool (by its index). */
  readonly #addresses: (
    pool: number,
  ) => ReadonlyMap<string, Resolved> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #logFd: number | undefined;
  #logOffset = 0;
  #warned = false;
  readonly #lines = new LineSplitter();
  /** Reused for every read of the access log. */
  readonly #logBuffer = Buffer.allocUnsafe(1 << 20);
  readonly #parsed = new Map<string, LoggedRequest | null>();
  /** Instances whose last reported outcome was good. */
  readonly #reportedOk = new Set<string>();

  constructor(options: {
    directory: string;
    metrics: ProxyMetrics;
    discovery: ServiceDiscovery;
    logger: LoggerService;
    maxLogBytes?: number;
    addresses: (pool: number) => ReadonlyMap<string, Resolved> | undefined;
  }) {
    this.#file = path.join(options.directory, ACCESS_LOG_FILE);
    this.#metrics = options.metrics;
    this.#discovery = options.discovery;
    this.#logger = options.logger;
    this.#maxLogBytes = options.maxLogBytes ?? 16 << 20;
    this.#addresses = options.addresses;
  }

  /** Reads the log every `intervalMs` until closed. */
  follow(intervalMs: number): void {
    this.#timer = setInterval(() => this.read(), intervalMs);
    this.#timer.unref();
  }

  /** Reads from the end of the log as it is now: what came before was measured already. */
  skipToEnd(): void {
    if (fs.existsSync(this.#file)) {
      this.#logFd = fs.openSync(this.#file, 'r');
      this.#logOffset = fs.fstatSync(this.#logFd).size;
    }
  }

  /** Stops following; with `readLast`, reads what is left first. */
  close(options: { readLast?: boolean } = {}): void {
    clearInterval(this.#timer);
    if (options.readLast) this.read();
    if (this.#logFd !== undefined) fs.closeSync(this.#logFd);
    this.#logFd = undefined;
  }

  #warnOnce(message: string) {
    if (this.#warned) return;
    this.#warned = true;
    this.#logger.warn(message);
  }

  /** Reads what nginx appended since the last look; rotates a large log. */
  read(): void {
    const file = this.#file;
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
      if (this.#logOffset > this.#maxLogBytes) {
        this.#rotate(file);
      }
    } catch (error) {
      this.#warnOnce(`Reading nginx's access log failed: ${error}`);
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
    const known = this.#addresses(request.pool);
    if (!known) return;
    const metrics = this.#metrics;
    const discovery = this.#discovery;
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
        metrics.responded(handle, attempt.status, attempt.headerMs, 'nginx');
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
        metrics.failed(handle, 'nginx');
        discovery.reportOutcome(id, { ok: false });
        this.#reportedOk.delete(id);
      }
    }
  }
}
