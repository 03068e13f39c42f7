import { z } from 'zod';

/**
 * What the proxy measured of one version of a plugin during one sampling
 * interval (the requests through the backend replica that answered).
 *
 * @public
 */
export interface VersionMetricsPoint {
  /** The end of the interval (ISO 8601). */
  at: string;
  /** The interval's length in ms (the sampler's period, give or take). */
  intervalMs: number;
  /** Requests that ended in the interval. */
  requests: number;
  /** Requests per second over the interval. */
  requestRate: number;
  /** Requests answered 5xx or with no answer at all (connection failed, timed out). */
  errors: number;
  /** `errors / requests`, 0 to 1; 0 without requests. */
  errorRate: number;
  /** Time to the response headers; absent without requests. */
  latencyMeanMs?: number;
  latencyP50Ms?: number;
  latencyP90Ms?: number;
  latencyP99Ms?: number;
}

/**
 * The recent history of one version of a plugin, oldest point first.
 *
 * @public
 */
export interface VersionMetricsSeries {
  /** Absent for instances registered without a version. */
  version?: string;
  points: VersionMetricsPoint[];
}

/**
 * What `GET /plugins/{pluginId}/metrics/versions` answers: request rate,
 * error rate and latency per version of the plugin over the last minutes.
 *
 * The history is kept in memory by the backend replica that answers, of
 * the traffic through its own data planes (the Node proxy and the nginx
 * access log): another replica answers with its own, and a restart
 * starts it afresh.
 *
 * @public
 */
export interface PluginVersionMetrics {
  pluginId: string;
  /** The sampler's period, ms. */
  sampleIntervalMs: number;
  /** How far back the history goes at most, ms. */
  retentionMs: number;
  /** When the answer was made (ISO 8601). */
  generatedAt: string;
  /** One series per version that served a request within the retention. */
  versions: VersionMetricsSeries[];
}

/**
 * The query of `GET /plugins/{pluginId}/metrics/versions`.
 *
 * @public
 */
export const versionMetricsQuerySchema = z
  .object({
    /** Only points after this time (ISO 8601), for a chart that appends. */
    since: z.iso.datetime({ offset: true }).optional(),
  })
  .strict();

/** @public */
export type PluginVersionMetricsQuery = z.input<
  typeof versionMetricsQuerySchema
>;
