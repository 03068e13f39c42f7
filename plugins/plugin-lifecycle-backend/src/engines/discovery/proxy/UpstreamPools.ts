import { isIP } from 'node:net';
import { ResolvedService } from '@internal/plugin-lifecycle-common';
import { Pool } from 'undici';
import { TargetPolicy } from '../TargetPolicy';

/**
 * The Node data plane's keep-alive connection pools, one per upstream
 * origin (undici), closed when unused for `idlePoolMs`; and whether an
 * upstream may be one at all (`allowedTargets`).
 */
export class UpstreamPools {
  readonly #connectTimeoutMs: number;
  readonly #headersTimeoutMs: number;
  readonly #bodyTimeoutMs: number;
  readonly #keepAliveTimeoutMs: number;
  readonly #idlePoolMs: number;
  readonly #targets: TargetPolicy | undefined;
  /** Upstream origin → why it may not be one (cached: the policy is fixed). */
  readonly #refusals = new Map<string, string | undefined>();
  readonly #pools = new Map<string, { pool: Pool; lastUsed: number }>();
  #sweeper?: NodeJS.Timeout;

  constructor(options: {
    connectTimeoutMs: number;
    headersTimeoutMs: number;
    bodyTimeoutMs: number;
    keepAliveTimeoutMs: number;
    idlePoolMs: number;
    targets: TargetPolicy | undefined;
  }) {
    this.#connectTimeoutMs = options.connectTimeoutMs;
    this.#headersTimeoutMs = options.headersTimeoutMs;
    this.#bodyTimeoutMs = options.bodyTimeoutMs;
    this.#keepAliveTimeoutMs = options.keepAliveTimeoutMs;
    this.#idlePoolMs = options.idlePoolMs;
    this.#targets = options.targets;
  }

  /** Why an upstream may not be one, for an address; a host name is checked when connecting. */
  refusal(picked: ResolvedService): string | undefined {
    const targets = this.#targets;
    // Runtimes' instances are where the operator's configuration put them
    // (external endpoints are checked when installed and started).
    if (!targets || picked.source !== 'registered') return undefined;
    if (this.#refusals.has(picked.url)) return this.#refusals.get(picked.url);
    const host = picked.host.replace(/^\[|\]$/g, '');
    const why = isIP(host) ? targets.refusal(host, picked.port) : undefined;
    if (this.#refusals.size > 10_000) this.#refusals.clear();
    this.#refusals.set(picked.url, why);
    return why;
  }

  /** The pool of an origin, made on first use. */
  pool(origin: string, port: number): Pool {
    const now = Date.now();
    let entry = this.#pools.get(origin);
    if (!entry) {
      entry = {
        pool: new Pool(origin, {
          connect: {
            timeout: this.#connectTimeoutMs,
            // A host name is resolved and checked at each connection.
            ...(this.#targets ? { lookup: this.#targets.lookupFor(port) } : {}),
          },
          keepAliveTimeout: this.#keepAliveTimeoutMs,
          headersTimeout: this.#headersTimeoutMs,
          bodyTimeout: this.#bodyTimeoutMs,
        }),
        lastUsed: now,
      };
      this.#pools.set(origin, entry);
      this.#startSweeper();
    }
    entry.lastUsed = now;
    return entry.pool;
  }

  /** Stops the sweeper (no pool is closed for being idle any more). */
  stopSweeping(): void {
    clearInterval(this.#sweeper);
    this.#sweeper = undefined;
  }

  /**
   * Destroys every pool with `reason`: destroy, not close, since close
   * waits for requests an upstream may never answer.
   */
  async destroyAll(reason: Error): Promise<void> {
    const pools = [...this.#pools.values()];
    this.#pools.clear();
    await Promise.all(
      pools.map(p => p.pool.destroy(reason).catch(() => undefined)),
    );
  }

  /** Closes the pools of upstreams nobody asked for in a while. */
  #startSweeper() {
    if (this.#sweeper) return;
    this.#sweeper = setInterval(() => {
      const cutoff = Date.now() - this.#idlePoolMs;
      for (const [origin, entry] of this.#pools) {
        if (entry.lastUsed < cutoff) {
          this.#pools.delete(origin);
          entry.pool.close().catch(() => undefined);
        }
      }
    }, Math.min(this.#idlePoolMs, 60_000));
    this.#sweeper.unref();
  }
}
