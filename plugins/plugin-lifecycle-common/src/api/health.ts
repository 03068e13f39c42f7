import { z } from 'zod';
import {
  ProbeDefinition,
  decimalIntegerParam,
  probeListSchema,
} from './schemas';

/**
 * What the health monitor makes of an instance, in one word.
 *
 * - `starting`: a startup probe has not passed yet.
 * - `healthy`: started, ready and live, with nothing worrying in the trends.
 * - `degrading`: still ready and live, but latency is anomalous, the success
 *   rate is slipping or the proxy sees errors: it is likely to fail soon.
 * - `flapping`: its probes keep changing status; not to be trusted.
 * - `unhealthy`: not live, not ready, or failing most requests.
 *
 * @public
 */
export type HealthVerdict =
  | 'starting'
  | 'healthy'
  | 'degrading'
  | 'flapping'
  | 'unhealthy';

/**
 * What the thresholds make of a probe's results so far: `unknown` until
 * enough consecutive results agree, then `passing` or `failing`.
 *
 * @public
 */
export type ProbeStatus = 'unknown' | 'passing' | 'failing';

/**
 * The state of a probe's circuit breaker, for probes that have one.
 *
 * @public
 */
export type ProbeCircuitStatus = 'closed' | 'open' | 'half-open';

/**
 * What the trends of one probe say (its success rate is reported apart,
 * in {@link ProbeHealth.successRate}).
 *
 * @public
 */
export interface ProbeTrendSummary {
  /** The moving mean latency of successful runs, in ms. */
  latencyMs?: number;
  latencyStdDevMs?: number;
  /** The last z-score of the latency detector. */
  zScore?: number;
  degrading: boolean;
  flapping: boolean;
  /** Why `degrading` or `flapping`; empty otherwise. */
  reasons: string[];
}

/**
 * One sampled result of a probe.
 *
 * @public
 */
export interface ProbeResultSample {
  ok: boolean;
  latencyMs: number;
  message?: string;
  /** ISO 8601. */
  checkedAt: string;
}

/**
 * The health of one probe of one instance.
 *
 * @public
 */
export interface ProbeHealth {
  name: string;
  type: ProbeDefinition['type'];
  method?: ProbeDefinition['method'];
  status: ProbeStatus;
  lastOk?: boolean;
  lastMessage?: string;
  lastLatencyMs?: number;
  /** Share of successes among the recent results, 0 to 1. */
  successRate?: number;
  trend: ProbeTrendSummary;
  circuit?: ProbeCircuitStatus;
  consecutiveSuccesses: number;
  consecutiveFailures: number;
  /** Not run while a startup probe is pending. */
  held: boolean;
  /** ISO 8601. */
  lastCheckedAt?: string;
  /** ISO 8601. */
  lastTransitionAt?: string;
  /** The backend replica that ran it. */
  checkedBy?: string;
  /** Sampled recent results, newest first. */
  recent: ProbeResultSample[];
}

/**
 * The health of one instance of a plugin.
 *
 * @public
 */
export interface InstanceHealth {
  targetId: string;
  instanceId: string;
  host?: string;
  port?: number;
  /** `unknown`: the instance has no probes, so nothing checks it. */
  verdict: HealthVerdict | 'unknown';
  /** 0 to 1: the weight factor for health-weighted load balancing. */
  healthScore: number;
  ready: boolean;
  live: boolean;
  reasons: string[];
  /** The backend replica that probes it. */
  reportedBy?: string;
  /** ISO 8601. */
  updatedAt?: string;
  probes: ProbeHealth[];
}

/**
 * What `GET /plugins/{id}/health` answers.
 *
 * @public
 */
export interface PluginHealth {
  pluginId: string;
  /**
   * All checked instances agree: that verdict; some healthy and some not:
   * `degrading`; a plugin that should be running with no instance serving
   * (none ready, none starting): `down`; otherwise, and when nothing checks
   * its instances (no probes): `unknown`.
   */
  verdict: HealthVerdict | 'unknown' | 'down';
  counts: Partial<Record<HealthVerdict, number>>;
  probes: ProbeDefinition[];
  instances: InstanceHealth[];
  /** ISO 8601. */
  generatedAt: string;
}

/**
 * The query of `GET /plugins/{id}/health`.
 *
 * @public
 */
export interface PluginHealthQuery {
  /**
   * Sampled results per probe to include, newest first: 0 to 100; the
   * backend's default is 10.
   */
  recent?: number;
}

/** The body of `PUT /plugins/{id}/probes`. @public */
export const setProbesRequestSchema = z
  .object({ probes: probeListSchema })
  .strict();

/** The query of `GET /plugins/{id}/health`. @public */
export const healthQuerySchema = z
  .object({
    /** Sampled results per probe to include, newest first. */
    recent: decimalIntegerParam({ min: 0, max: 100 }).optional(),
  })
  .strict();
