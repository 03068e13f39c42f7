/**
 * Upper bounds (ms) of the latency histogram's buckets; one more bucket
 * takes everything slower.
 *
 * @public
 */
export const LATENCY_BUCKETS_MS: readonly number[] = [
  1, 2, 5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 30_000,
];

/** Which data plane proxied a request: the Node proxy or nginx. @public */
export type DataPlaneKind = 'node' | 'nginx';

/**
 * One proxied request attempt, as {@link ProxyMetrics.observe} hands it to
 * its listeners (a metrics exporter).
 *
 * @public
 */
export interface ProxyObservation {
  serviceName: string;
  tenant?: string;
  version?: string;
  dataPlane: DataPlaneKind;
  /** Absent: no response (connection failure, timeout). */
  status?: number;
  /** Time to the response headers, ms; absent without a response. */
  latencyMs?: number;
}

/** The instance a proxied request went to. */
export interface MetricsTarget {
  serviceId: string;
  serviceName: string;
  tenant?: string;
  version?: string;
}

/**
 * Counts of one instance or one version of a service since the backend
 * started. Counters only grow (but `activeConnections`): a consumer such as
 * canary analysis takes two snapshots and compares the difference.
 *
 * @public
 */
export interface RequestStats {
  requests: number;
  /** Final statuses by class; `errors` are requests that got no response (connection failures, timeouts). */
  status: {
    '2xx': number;
    '3xx': number;
    '4xx': number;
    '5xx': number;
    errors: number;
  };
  /** `(5xx + errors) / requests`, 0 without requests. */
  errorRate: number;
  /** Time until the upstream's response headers, in ms. */
  latency: {
    count: number;
    sumMs: number;
    maxMs: number;
    /** Estimates from the histogram (linear within a bucket). */
    p50Ms: number;
    p90Ms: number;
    p99Ms: number;
    /** Per bucket (not cumulative); `leMs` Infinity is the overflow bucket. */
    buckets: Array<{ leMs: number; count: number }>;
  };
  /** Requests in flight now, through this backend replica. */
  activeConnections: number;
}

/** @public */
export interface InstanceRequestStats extends RequestStats {
  serviceId: string;
  serviceName: string;
  tenant?: string;
  version?: string;
}

/** @public */
export interface VersionRequestStats extends RequestStats {
  serviceName: string;
  tenant?: string;
  /** Missing for instances registered without a version. */
  version?: string;
}

// Status class slots.
const S2XX = 0;
const S3XX = 1;
const S4XX = 2;
const S5XX = 3;
const ERRORS = 4;

function statusSlot(status: number): number {
  if (status >= 500) return S5XX;
  if (status >= 400) return S4XX;
  if (status >= 300) return S3XX;
  return S2XX;
}

/** Mutable counters; typed arrays so recording allocates nothing. */
class Counters {
  requests = 0;
  readonly status = new Float64Array(5);
  readonly buckets: Float64Array;
  latencyCount = 0;
  latencySum = 0;
  latencyMax = 0;
  active = 0;

  constructor(bucketCount: number) {
    this.buckets = new Float64Array(bucketCount + 1);
  }
}

/**
 * The metrics of one instance, and of its version, bound together so that
 * recording a request is a couple of array increments. Get it from
 * {@link ProxyMetrics.target}.
 *
 * @public
 */
export interface TargetMetrics {
  readonly target: Readonly<MetricsTarget>;
}

interface BoundMetrics extends TargetMetrics {
  readonly instance: Counters;
  readonly version: Counters;
}

const versionKey = (target: MetricsTarget) =>
  `${target.tenant ?? ''}\u0000${target.serviceName}\u0000${
    target.version ?? ''
  }`;

/**
 * What the proxy saw, per instance and per (service, version): request
 * counts, status classes, a latency histogram and connections in flight.
 * These feed health-weighted balancing, outlier ejection and canary
 * analysis. Recording is O(number of buckets) at worst and allocates
 * nothing once an instance has been seen.
 *
 * @public
 */
export class ProxyMetrics {
  readonly #bounds: readonly number[];
  readonly #targets = new Map<string, BoundMetrics>();
  readonly #versions = new Map<
    string,
    { target: MetricsTarget; counters: Counters }
  >();
  readonly #observers = new Set<(observation: ProxyObservation) => void>();

  static create(options: { bucketsMs?: readonly number[] } = {}): ProxyMetrics {
    const bounds = options.bucketsMs ?? LATENCY_BUCKETS_MS;
    if (
      bounds.length === 0 ||
      bounds.some((b, i) => !(b > 0) || (i > 0 && b <= bounds[i - 1]))
    ) {
      throw new TypeError('bucketsMs must be increasing positive numbers');
    }
    return new ProxyMetrics(bounds);
  }

  private constructor(bounds: readonly number[]) {
    this.#bounds = bounds;
  }

  /**
   * The metrics handle of an instance, created on first use. A changed
   * version (the same id re-registered) starts counting under the new one.
   */
  target(target: MetricsTarget): TargetMetrics {
    const current = this.#targets.get(target.serviceId);
    if (
      current &&
      current.target.version === target.version &&
      current.target.serviceName === target.serviceName &&
      current.target.tenant === target.tenant
    ) {
      return current;
    }
    const key = versionKey(target);
    let version = this.#versions.get(key);
    if (!version) {
      version = {
        target: {
          serviceId: '',
          serviceName: target.serviceName,
          tenant: target.tenant,
          version: target.version,
        },
        counters: new Counters(this.#bounds.length),
      };
      this.#versions.set(key, version);
    }
    const created: BoundMetrics = {
      // Just these fields: callers may pass a larger object (the proxy
      // passes the picked instance, to allocate nothing per request).
      target: Object.freeze({
        serviceId: target.serviceId,
        serviceName: target.serviceName,
        tenant: target.tenant,
        version: target.version,
      }),
      instance: current?.instance ?? new Counters(this.#bounds.length),
      version: version.counters,
    };
    this.#targets.set(target.serviceId, created);
    return created;
  }

  /** A request to the instance started. */
  started(handle: TargetMetrics): void {
    const metrics = handle as BoundMetrics;
    metrics.instance.active++;
    metrics.version.active++;
  }

  /**
   * Calls `listener` with every request attempt recorded from now on (by
   * either data plane); returns the function that stops it.
   */
  observe(listener: (observation: ProxyObservation) => void): () => void {
    this.#observers.add(listener);
    return () => {
      this.#observers.delete(listener);
    };
  }

  /** The instance answered with `status` after `latencyMs` (to the headers). */
  responded(
    handle: TargetMetrics,
    status: number,
    latencyMs: number,
    dataPlane: DataPlaneKind = 'node',
  ): void {
    const metrics = handle as BoundMetrics;
    const slot = statusSlot(status);
    const bucket = this.#bucket(latencyMs);
    this.#count(metrics.instance, slot, bucket, latencyMs);
    this.#count(metrics.version, slot, bucket, latencyMs);
    // Allocates only when someone listens.
    if (this.#observers.size > 0) {
      this.#notify(metrics.target, dataPlane, status, latencyMs);
    }
  }

  /** The request got no response: the connection failed or timed out. */
  failed(handle: TargetMetrics, dataPlane: DataPlaneKind = 'node'): void {
    const metrics = handle as BoundMetrics;
    metrics.instance.requests++;
    metrics.instance.status[ERRORS]++;
    metrics.version.requests++;
    metrics.version.status[ERRORS]++;
    if (this.#observers.size > 0) {
      this.#notify(metrics.target, dataPlane);
    }
  }

  /**
   * The proxy answered a request of an existing service itself (503: no
   * instance could take it; 504: none answered in time): counted for the
   * service without a version, so a service with no instance left shows its
   * errors. Not in the per-instance or per-version stats.
   */
  unrouted(
    serviceName: string,
    status: number,
    options: { tenant?: string; dataPlane?: DataPlaneKind } = {},
  ): void {
    if (this.#observers.size === 0) return;
    this.#notify(
      { serviceId: '', serviceName, tenant: options.tenant },
      options.dataPlane ?? 'node',
      status,
    );
  }

  #notify(
    target: Readonly<MetricsTarget>,
    dataPlane: DataPlaneKind,
    status?: number,
    latencyMs?: number,
  ) {
    const observation: ProxyObservation = {
      serviceName: target.serviceName,
      tenant: target.tenant,
      version: target.version,
      dataPlane,
      status,
      latencyMs,
    };
    for (const listener of this.#observers) {
      try {
        listener(observation);
      } catch {
        // A listener's failure is not the request's.
      }
    }
  }

  /** The request ended (response sent, failed or aborted). */
  finished(handle: TargetMetrics): void {
    const metrics = handle as BoundMetrics;
    metrics.instance.active = Math.max(0, metrics.instance.active - 1);
    metrics.version.active = Math.max(0, metrics.version.active - 1);
  }

  /** Stats of one instance, or undefined if it never got a request. */
  instance(serviceId: string): InstanceRequestStats | undefined {
    const metrics = this.#targets.get(serviceId);
    return metrics && this.#instanceStats(metrics);
  }

  /** Stats of one version of a service, summed over its instances. */
  version(
    serviceName: string,
    version?: string,
    tenant?: string,
  ): VersionRequestStats | undefined {
    const entry = this.#versions.get(
      versionKey({ serviceId: '', serviceName, version, tenant }),
    );
    return entry && this.#versionStats(entry.target, entry.counters);
  }

  /** Everything, for an endpoint or a metrics exporter. */
  snapshot(): {
    instances: InstanceRequestStats[];
    versions: VersionRequestStats[];
  } {
    return {
      instances: [...this.#targets.values()].map(m => this.#instanceStats(m)),
      versions: [...this.#versions.values()].map(v =>
        this.#versionStats(v.target, v.counters),
      ),
    };
  }

  /** Drops an instance that is gone (its version's counts stay). */
  forget(serviceId: string): void {
    this.#targets.delete(serviceId);
  }

  #bucket(latencyMs: number): number {
    const bounds = this.#bounds;
    // Linear: a dozen comparisons beat a binary search's branches here.
    for (let i = 0; i < bounds.length; i++) {
      if (latencyMs <= bounds[i]) return i;
    }
    return bounds.length;
  }

  #count(counters: Counters, slot: number, bucket: number, latencyMs: number) {
    counters.requests++;
    counters.status[slot]++;
    counters.buckets[bucket]++;
    counters.latencyCount++;
    counters.latencySum += latencyMs;
    if (latencyMs > counters.latencyMax) counters.latencyMax = latencyMs;
  }

  #instanceStats(metrics: BoundMetrics): InstanceRequestStats {
    const { serviceId, serviceName, tenant, version } = metrics.target;
    return {
      serviceId,
      serviceName,
      ...(tenant !== undefined ? { tenant } : {}),
      ...(version !== undefined ? { version } : {}),
      ...this.#stats(metrics.instance),
    };
  }

  #versionStats(
    target: MetricsTarget,
    counters: Counters,
  ): VersionRequestStats {
    return {
      serviceName: target.serviceName,
      ...(target.tenant !== undefined ? { tenant: target.tenant } : {}),
      ...(target.version !== undefined ? { version: target.version } : {}),
      ...this.#stats(counters),
    };
  }

  #stats(counters: Counters): RequestStats {
    const { status, requests } = counters;
    return {
      requests,
      status: {
        '2xx': status[S2XX],
        '3xx': status[S3XX],
        '4xx': status[S4XX],
        '5xx': status[S5XX],
        errors: status[ERRORS],
      },
      errorRate:
        requests === 0 ? 0 : (status[S5XX] + status[ERRORS]) / requests,
      latency: {
        count: counters.latencyCount,
        sumMs: counters.latencySum,
        maxMs: counters.latencyMax,
        p50Ms: this.#quantile(counters, 0.5),
        p90Ms: this.#quantile(counters, 0.9),
        p99Ms: this.#quantile(counters, 0.99),
        buckets: Array.from(counters.buckets, (count, i) => ({
          leMs: i < this.#bounds.length ? this.#bounds[i] : Infinity,
          count,
        })),
      },
      activeConnections: counters.active,
    };
  }

  /** Prometheus-style estimate: linear within the bucket the rank falls in. */
  #quantile(counters: Counters, q: number): number {
    const total = counters.latencyCount;
    if (total === 0) return 0;
    const rank = q * total;
    let seen = 0;
    for (let i = 0; i < counters.buckets.length; i++) {
      const count = counters.buckets[i];
      if (count > 0 && seen + count >= rank) {
        const lower = i === 0 ? 0 : this.#bounds[i - 1];
        const upper =
          i < this.#bounds.length ? this.#bounds[i] : counters.latencyMax;
        const estimate = lower + ((upper - lower) * (rank - seen)) / count;
        return Math.min(estimate, counters.latencyMax);
      }
      seen += count;
    }
    return counters.latencyMax;
  }
}
