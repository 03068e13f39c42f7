import { z } from 'zod';
import { durationMs } from './durationMs';

/**
 * `pluginLifecycle.health`: the health monitor's probes, their limits,
 * retention and remediation; see config.d.ts.
 */
export const healthConfigSchema = z
  .object({
    /** Off: nothing is probed (for debugging). */
    enabled: z.boolean().default(true),
    /** Off: probes' circuitBreaker settings are ignored. */
    circuitBreakers: z.boolean().default(true),
    /** What a probe that leaves them out gets (else Kubernetes' 10 s and 3). */
    probeDefaults: z
      .object({
        periodSeconds: z.number().min(0.01).max(86_400).optional(),
        failureThreshold: z.number().int().min(1).max(10_000).optional(),
      })
      .strict()
      .prefault({}),
    heartbeatInterval: durationMs.default(2_000),
    /** A replica silent this long is gone and its targets move. */
    replicaTimeout: durationMs.default(10_000),
    maxConcurrentProbes: z.number().int().positive().default(64),
    targetRefreshInterval: durationMs.default(5_000),
    flushInterval: durationMs.default(1_000),
    feedInterval: durationMs.default(1_000),
    retention: z
      .object({
        maxResultsPerProbe: z.number().int().positive().default(100),
        maxAge: durationMs.default(86_400_000),
        sampleInterval: durationMs.default(60_000),
        statusRefresh: durationMs.default(60_000),
        pruneInterval: durationMs.default(300_000),
      })
      .strict()
      .prefault({}),
    restartBackoff: z
      .object({
        base: durationMs.default(1_000),
        max: durationMs.default(300_000),
        /** Live this long, an instance's restarts are forgotten. */
        stable: durationMs.default(600_000),
      })
      .strict()
      .prefault({}),
    exec: z
      .object({
        /**
         * Commands (argv[0], as written) any exec probe may run: an
         * exec probe runs on the backend's host, so none by default.
         */
        allowedCommands: z.array(z.string().min(1)).default([]),
      })
      .strict()
      .prefault({}),
    /** How often and how many probes a request, a manifest or a registration may ask for. */
    probeLimits: z
      .object({
        minPeriodSeconds: z.number().min(0.01).max(3_600).default(1),
        maxProbesPerPlugin: z.number().int().min(1).max(64).default(16),
      })
      .strict()
      .prefault({}),
    /** Remediation per plugin id; `*` applies to every plugin. */
    remediation: z
      .record(
        z.string().min(1),
        z
          .object({
            onLivenessFailure: z
              .enum(['restart', 'mark-error', 'event', 'none'])
              .optional(),
            onReadinessFailure: z
              .enum(['out-of-rotation', 'event', 'none'])
              .optional(),
            maxPerHour: z.number().int().min(0).optional(),
          })
          .strict(),
      )
      .default({}),
  })
  .strict()
  .prefault({});
