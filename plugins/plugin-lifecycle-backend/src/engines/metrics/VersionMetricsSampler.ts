import { LoggerService } from '@backstage/backend-plugin-api';
import {
  VersionMetricsPoint,
  VersionMetricsSeries,
} from '@internal/plugin-lifecycle-common';
import { statsDelta } from '../../domain/deployments';
import type {
  RequestStats,
  VersionRequestStats,
} from '../discovery/ProxyMetrics';
import { RingBuffer } from './RingBuffer';

/** Options of {@link VersionMetricsSampler.create}. */
export interface VersionMetricsSamplerOptions {
  /**
   * The cumulative counters per (tenant, service, version) to sample: the
   * proxy's (`ProxyMetrics.snapshot().versions`), which the Node proxy and
   * the nginx access log both feed.
   */
  source: () => VersionRequestStats[];
  /** Time between samples, ms. */
  intervalMs: number;
  /** How long a point is kept, ms; with the interval, the size of each ring buffer. */
  retentionMs: number;
  /** Most series (versions) kept at once; the longest idle goes first. */
  maxSeries: number;
  clock?: () => number;
  logger?: LoggerService;
}

/** One interval of one version, as kept (times as numbers). */
interface StoredPoint {
  atMs: number;
  intervalMs: number;
  requests: number;
  errors: number;
  latencyCount: number;
  latencySumMs: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
}

interface Series {
  tenant?: string;
  serviceName: string;
  version?: string;
  /** When the version last served a request. */
  lastActiveMs: number;
  points: RingBuffer<StoredPoint>;
}

const keyOf = (s: { tenant?: string; serviceName: string; version?: string }) =>
  `${s.tenant ?? ''}\u0000${s.serviceName}\u0000${s.version ?? ''}`;

/**
 * The recent history of the proxy's counters per version: every
 * `intervalMs` it takes the difference of each version's cumulative
 * counters since the previous sample (requests, errors, a latency
 * histogram) and keeps it in a ring buffer per version, `retentionMs`
 * long. A version is sampled from its first request on, and dropped once
 * it served none for `retentionMs`; at most `maxSeries` are kept.
 *
 * The history is this backend replica's only (what its own data planes
 * proxied) and lives in memory: a restart starts it afresh.
 */
export class VersionMetricsSampler {
  readonly intervalMs: number;
  readonly retentionMs: number;
  readonly #source: () => VersionRequestStats[];
  readonly #maxSeries: number;
  readonly #capacity: number;
  readonly #clock: () => number;
  readonly #logger?: LoggerService;
  /** Each version's counters at the previous sample. */
  readonly #baseline = new Map<string, RequestStats>();
  readonly #series = new Map<string, Series>();
  #lastSampleMs?: number;
  #timer?: ReturnType<typeof setInterval>;

  static create(options: VersionMetricsSamplerOptions): VersionMetricsSampler {
    for (const key of ['intervalMs', 'retentionMs', 'maxSeries'] as const) {
      if (!(options[key] > 0)) {
        throw new RangeError(`${key} must be positive: ${options[key]}`);
      }
    }
    return new VersionMetricsSampler(options);
  }

  private constructor(options: VersionMetricsSamplerOptions) {
    this.intervalMs = options.intervalMs;
    this.retentionMs = options.retentionMs;
    this.#source = options.source;
    this.#maxSeries = options.maxSeries;
    this.#capacity = Math.max(
      1,
      Math.ceil(options.retentionMs / options.intervalMs),
    );
    this.#clock = options.clock ?? Date.now;
    this.#logger = options.logger;
  }

  /** Points each version keeps at most. */
  get capacity(): number {
    return this.#capacity;
  }

  /** Samples now (to set the baseline) and then every `intervalMs`. */
  start(): void {
    if (this.#timer) return;
    this.#sampleSafely();
    this.#timer = setInterval(() => this.#sampleSafely(), this.intervalMs);
    // History is a convenience: it never keeps the process alive.
    this.#timer.unref?.();
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /**
   * Takes one sample. The first only records where the counters stand; a
   * version first seen later counts from zero (it got its first requests
   * since the previous sample).
   */
  sample(): void {
    const now = this.#clock();
    const stats = this.#source();
    const previousMs = this.#lastSampleMs;
    this.#lastSampleMs = now;
    if (previousMs === undefined) {
      for (const s of stats) this.#baseline.set(keyOf(s), s);
      return;
    }
    const elapsedMs = Math.max(1, now - previousMs);
    for (const s of stats) {
      const key = keyOf(s);
      const delta = statsDelta(this.#baseline.get(key), s);
      this.#baseline.set(key, s);
      let series = this.#series.get(key);
      if (!series) {
        if (delta.requests === 0) continue;
        series = this.#add(key, s, now);
      }
      if (delta.requests > 0) series.lastActiveMs = now;
      series.points.push({
        atMs: now,
        intervalMs: elapsedMs,
        requests: delta.requests,
        errors: delta.status['5xx'] + delta.status.errors,
        latencyCount: delta.latency.count,
        latencySumMs: delta.latency.sumMs,
        p50Ms: delta.latency.p50Ms,
        p90Ms: delta.latency.p90Ms,
        p99Ms: delta.latency.p99Ms,
      });
    }
    for (const [key, series] of this.#series) {
      if (now - series.lastActiveMs > this.retentionMs) {
        this.#series.delete(key);
      }
    }
  }

  /**
   * The history of each version of a service in a tenant, oldest point
   * first, versions in version order; only points after `sinceMs` when
   * given, and never older than the retention.
   */
  series(options: {
    serviceName: string;
    tenant?: string;
    sinceMs?: number;
  }): VersionMetricsSeries[] {
    const from = Math.max(
      this.#clock() - this.retentionMs,
      options.sinceMs ?? -Infinity,
    );
    return [...this.#series.values()]
      .filter(
        s =>
          s.serviceName === options.serviceName && s.tenant === options.tenant,
      )
      .sort((a, b) =>
        (a.version ?? '').localeCompare(b.version ?? '', undefined, {
          numeric: true,
        }),
      )
      .map(s => ({
        ...(s.version !== undefined ? { version: s.version } : {}),
        points: s.points
          .toArray()
          .filter(p => p.atMs > from)
          .map(toPoint),
      }));
  }

  #add(key: string, stats: VersionRequestStats, now: number): Series {
    if (this.#series.size >= this.#maxSeries) {
      // Room for the new one: the longest idle series goes.
      let idlest: [string, Series] | undefined;
      for (const entry of this.#series) {
        if (!idlest || entry[1].lastActiveMs < idlest[1].lastActiveMs) {
          idlest = entry;
        }
      }
      if (idlest) this.#series.delete(idlest[0]);
    }
    const series: Series = {
      tenant: stats.tenant,
      serviceName: stats.serviceName,
      version: stats.version,
      lastActiveMs: now,
      points: new RingBuffer(this.#capacity),
    };
    this.#series.set(key, series);
    return series;
  }

  #sampleSafely() {
    try {
      this.sample();
    } catch (error) {
      this.#logger?.warn(`Sampling version metrics failed: ${error}`);
    }
  }
}

function toPoint(p: StoredPoint): VersionMetricsPoint {
  const seconds = p.intervalMs / 1000;
  const latency =
    p.latencyCount > 0
      ? {
          latencyMeanMs: p.latencySumMs / p.latencyCount,
          latencyP50Ms: p.p50Ms,
          latencyP90Ms: p.p90Ms,
          latencyP99Ms: p.p99Ms,
        }
      : {};
  return {
    at: new Date(p.atMs).toISOString(),
    intervalMs: p.intervalMs,
    requests: p.requests,
    requestRate: p.requests / seconds,
    errors: p.errors,
    errorRate: p.requests === 0 ? 0 : p.errors / p.requests,
    ...latency,
  };
}
