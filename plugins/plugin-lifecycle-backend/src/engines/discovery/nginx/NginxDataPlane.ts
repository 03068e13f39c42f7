import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LoggerService } from '@backstage/backend-plugin-api';
import { ALL_TENANTS } from '../../../domain/tenancy';
import { canConnect, findFreePort } from '../../runtime/freePort';
import { ProxyMetrics } from '../ProxyMetrics';
import { ServiceDiscovery } from '../ServiceDiscovery';
import type { CloseOptions, DataPlane } from '../ServiceProxy';
import { AccessLogReader } from './AccessLogReader';
import { NginxProcess, findNginx } from './NginxProcess';
import { NginxReloader } from './NginxReloader';
import { NginxRouting } from './NginxRouting';
import { NginxDataPlaneOptions } from './nginxDataPlaneOptions';

export { findNginx } from './NginxProcess';
export type { NginxDataPlaneOptions } from './nginxDataPlaneOptions';

/**
 * The native data plane: nginx, configured from service discovery, serving
 * `/proxy/{serviceName}/...` on a port of its own. For deployments where the
 * Node data plane's cost per request matters (see BENCHMARKS.md).
 *
 * The backend renders nginx.conf from {@link ServiceDiscovery.routingTable}
 * whenever routing changes (instances, readiness, weights, limits) and
 * reloads nginx gracefully (SIGHUP: new workers take new connections, the
 * old ones finish what they serve). nginx picks the instance (its round
 * robin, smooth weighted round robin, least_conn, consistent hash), enforces
 * `maxConnections` (max_conns, shared by the workers), retries a request on
 * another instance after a failed connection, a timeout or a 502/503/504
 * (never a non-idempotent one once sent), passes WebSocket upgrades through,
 * and ejects failing instances itself (max_fails/fail_timeout, from
 * discovery's ejection settings): at once and without a reload. Its
 * buffered access log, read every `logIntervalMs`, feeds the same
 * {@link ProxyMetrics} and outlier ejection state as the Node data plane.
 *
 * Differences from the Node data plane: nginx forwards the request URI as
 * sent (nothing decoded); it drops the standard hop-by-hop headers but not
 * further ones that a `Connection` header names; it answers its own errors
 * in Backstage's JSON shape without the request's method and URL; it
 * retries a request whose connection failed whatever its method (the
 * request was never sent), one with a body, and gateway errors; a strategy
 * cannot be chosen per request; its read timeout also bounds the silence
 * inside a response or WebSocket; and its live connection counts are not in
 * discovery's `activeConnections`. A reload lets the old workers finish
 * what they serve but close their idle keep-alive connections: a client
 * that sends on one just then gets an error, as with any nginx reload.
 * If the backend is killed, nginx keeps running; a backend started again
 * with the same `directory` stops it first.
 *
 * The coordinator over its parts: {@link NginxProcess} (spawn, adoption,
 * stop), {@link NginxRouting} (routing table to nginx.conf),
 * {@link NginxReloader} (check, reload, generations) and
 * {@link AccessLogReader} (metrics and outlier ejection from the log).
 *
 * @public
 */
export class NginxDataPlane implements DataPlane {
  readonly port: number;
  readonly #options: NginxDataPlaneOptions;
  readonly #logger: LoggerService;
  readonly #binary: string;
  readonly #directory: string;
  readonly #ownsDirectory: boolean;
  readonly #host: string;
  readonly #process: NginxProcess;
  readonly #routing: NginxRouting;
  readonly #reloader: NginxReloader;
  readonly #log: AccessLogReader;
  #unsubscribe: (() => void) | undefined;
  #closed = false;

  static async start(options: NginxDataPlaneOptions): Promise<NginxDataPlane> {
    const binary = options.binary ?? findNginx();
    if (!binary) {
      throw new Error(
        'nginx was not found: install it (Debian: apt-get install nginx) or set pluginLifecycle.discovery.dataPlane.nginx.binary',
      );
    }
    const host = options.host ?? '127.0.0.1';
    const port = options.port || (await findFreePort(host));
    // Absolute: nginx reads the paths in its configuration from its prefix.
    const directory = options.directory
      ? path.resolve(options.directory)
      : fs.mkdtempSync(path.join(os.tmpdir(), 'plugin-lifecycle-nginx-'));
    const plane = new NginxDataPlane(options, {
      binary,
      host,
      port,
      directory,
      ownsDirectory: options.directory === undefined,
    });
    try {
      await plane.#start();
    } catch (error) {
      await plane.close();
      throw error;
    }
    return plane;
  }

  private constructor(
    options: NginxDataPlaneOptions,
    resolved: {
      binary: string;
      host: string;
      port: number;
      directory: string;
      ownsDirectory: boolean;
    },
  ) {
    this.#options = options;
    this.#logger = options.logger;
    this.#binary = resolved.binary;
    this.#host = resolved.host;
    this.port = resolved.port;
    this.#directory = resolved.directory;
    this.#ownsDirectory = resolved.ownsDirectory;
    const where = {
      host: this.#host,
      port: this.port,
      directory: this.#directory,
    };
    this.#process = new NginxProcess({
      ...where,
      binary: this.#binary,
      outliveBackend: !!options.outliveBackend,
      logger: this.#logger,
    });
    this.#routing = new NginxRouting({
      ...where,
      options,
      scope: options.scope ?? ALL_TENANTS,
    });
    this.#reloader = new NginxReloader({
      ...where,
      binary: this.#binary,
      token: options.token,
      debounceMs: options.reloadDebounceMs,
      logger: this.#logger,
      process: this.#process,
      render: () => this.#routing.render(),
    });
    this.#log = new AccessLogReader({
      directory: this.#directory,
      metrics: options.metrics,
      discovery: options.discovery,
      logger: this.#logger,
      maxLogBytes: options.maxLogBytes,
      addresses: pool => this.#routing.addresses(pool),
    });
  }

  get directory(): string {
    return this.#directory;
  }

  /** The pid of the nginx master this data plane runs (spawned or adopted). */
  get masterPid(): number | undefined {
    return this.#process.masterPid;
  }

  /** Reloads done; for tests and diagnostics. */
  get reloads(): number {
    return this.#reloader.reloads;
  }

  /** Waits for routing changes made so far to reach nginx (tests). */
  settle(): Promise<void> {
    return this.#reloader.settle();
  }

  /**
   * Stops nginx: gracefully (requests under way finish), then after
   * `graceMs` (default 5000) fast (open connections are closed), then,
   * 5 s later or 1 s with `graceMs`, SIGKILL. With `leaveRunning` (and
   * `outliveBackend`), nginx runs on for the next backend to adopt.
   */
  async close(
    options: CloseOptions & { leaveRunning?: boolean } = {},
  ): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#unsubscribe?.();
    this.#process.release();
    await this.#reloader.close();
    if (options.leaveRunning && this.#options.outliveBackend) {
      this.#process.leaveRunning();
      this.#log.close({ readLast: true });
      this.#logger.info(
        `nginx data plane (pid ${this.masterPid}) left running for the next backend`,
      );
      return;
    }
    await this.#process.stop(options.graceMs);
    this.#log.close({ readLast: true });
    if (this.#ownsDirectory) {
      fs.rmSync(this.#directory, { recursive: true, force: true });
    }
  }

  async #start() {
    fs.mkdirSync(this.#directory, { recursive: true, mode: 0o700 });
    const leftover = this.#process.leftover();
    if (
      leftover !== undefined &&
      this.#options.outliveBackend &&
      this.#options.port &&
      (await canConnect(this.#host, this.port))
    ) {
      // Adopted: the new configuration reaches it by a graceful reload
      // (SIGHUP), as any routing change does, so the connections it serves
      // are not cut.
      this.#process.adopt(leftover);
      await this.#reloader.prepare(true);
      this.#process.watchAdopted();
      // The access log from here on: what came before was measured already.
      this.#log.skipToEnd();
      this.#logger.info(
        `adopted the nginx data plane (pid ${leftover}) an earlier backend left running in ${
          this.#directory
        }`,
      );
    } else {
      if (leftover !== undefined) await this.#process.stopLeftover(leftover);
      await this.#reloader.prepare(false);
      await this.#process.spawn();
    }
    this.#unsubscribe = this.#options.discovery.onRoutingChange(() =>
      this.#reloader.schedule(),
    );
    this.#log.follow(this.#options.logIntervalMs ?? 50);
    this.#logger.info(
      `nginx data plane (${this.#binary}, ${
        this.#options.workers ?? 1
      } worker(s)) listening on ${this.#host}:${this.port}${
        this.#options.token ? ' (token required)' : ''
      }`,
    );
  }
}
