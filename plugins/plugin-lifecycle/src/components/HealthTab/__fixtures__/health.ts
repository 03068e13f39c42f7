import { Entity } from '@backstage/catalog-model';
import { ResponseError } from '@backstage/errors';
import {
  InstanceHealth,
  PLUGIN_ID_ANNOTATION,
  PluginHealth,
  PluginVersionMetrics,
  ProbeHealth,
  VersionMetricsPoint,
} from '@internal/plugin-lifecycle-common';
import { PluginLifecycleApi } from '../../../api';

export const PLUGIN_ID = 'sample-http-service';

export const entity: Entity = {
  apiVersion: 'backstage.io/v1alpha1',
  kind: 'Component',
  metadata: {
    name: PLUGIN_ID,
    annotations: { [PLUGIN_ID_ANNOTATION]: PLUGIN_ID },
  },
  spec: { type: 'service', lifecycle: 'experimental', owner: 'guests' },
};

export function makeProbe(overrides: Partial<ProbeHealth> = {}): ProbeHealth {
  return {
    name: 'readiness',
    type: 'readiness',
    method: 'http',
    status: 'passing',
    lastOk: true,
    lastMessage: 'HTTP 200',
    lastLatencyMs: 1.234,
    successRate: 1,
    trend: {
      latencyMs: 1.5,
      latencyStdDevMs: 0.25,
      degrading: false,
      flapping: false,
      reasons: [],
    },
    consecutiveSuccesses: 12,
    consecutiveFailures: 0,
    held: false,
    lastCheckedAt: '2025-01-01T10:05:00.000Z',
    lastTransitionAt: '2025-01-01T10:04:10.000Z',
    checkedBy: 'replica-a',
    recent: [
      { ok: true, latencyMs: 1.2, checkedAt: '2025-01-01T10:05:00.000Z' },
      { ok: true, latencyMs: 2.4, checkedAt: '2025-01-01T10:04:00.000Z' },
      { ok: true, latencyMs: 1.8, checkedAt: '2025-01-01T10:03:00.000Z' },
    ],
    ...overrides,
  };
}

export function makeInstance(
  overrides: Partial<InstanceHealth> = {},
): InstanceHealth {
  return {
    targetId: 'inst-abc',
    instanceId: 'inst-abc',
    host: '127.0.0.1',
    port: 43117,
    verdict: 'healthy',
    healthScore: 1,
    ready: true,
    live: true,
    reasons: [],
    reportedBy: 'replica-a',
    updatedAt: '2025-01-01T10:05:00.000Z',
    probes: [
      makeProbe({ name: 'startup', type: 'startup' }),
      makeProbe(),
      makeProbe({ name: 'liveness', type: 'liveness' }),
    ],
    ...overrides,
  };
}

/** Two instances: one healthy, one whose readiness probe fails. */
export const mixedHealth: PluginHealth = {
  pluginId: PLUGIN_ID,
  verdict: 'degrading',
  counts: { healthy: 1, unhealthy: 1 },
  probes: [
    {
      name: 'startup',
      type: 'startup',
      method: 'http',
      http: { path: '/startup' },
    },
    {
      name: 'readiness',
      type: 'readiness',
      method: 'http',
      http: { path: '/ready' },
    },
    {
      name: 'liveness',
      type: 'liveness',
      method: 'http',
      http: { path: '/health' },
    },
  ],
  instances: [
    makeInstance(),
    makeInstance({
      targetId: 'inst-def',
      instanceId: 'inst-def',
      port: 43118,
      verdict: 'unhealthy',
      healthScore: 0.25,
      ready: false,
      reasons: ['readiness probe failing'],
      probes: [
        makeProbe({ name: 'startup', type: 'startup' }),
        makeProbe({
          status: 'failing',
          lastOk: false,
          lastMessage: 'HTTP 503 Service Unavailable',
          lastLatencyMs: 850,
          successRate: 0.4,
          circuit: 'open',
          trend: {
            latencyMs: 420,
            degrading: true,
            flapping: false,
            reasons: ['success rate 40% below 90%'],
          },
          consecutiveSuccesses: 0,
          consecutiveFailures: 3,
          recent: [
            {
              ok: false,
              latencyMs: 850,
              message: 'HTTP 503 Service Unavailable',
              checkedAt: '2025-01-01T10:05:00.000Z',
            },
            { ok: true, latencyMs: 2, checkedAt: '2025-01-01T10:04:00.000Z' },
          ],
        }),
        makeProbe({
          name: 'liveness',
          type: 'liveness',
          held: false,
          status: 'unknown',
          recent: [],
          lastLatencyMs: undefined,
          successRate: undefined,
          lastMessage: undefined,
          trend: { degrading: false, flapping: false, reasons: [] },
        }),
      ],
    }),
  ],
  generatedAt: '2025-01-01T10:05:01.000Z',
};

/**
 * The gRPC sample as it runs without probes: the monitor has no verdict
 * (`unknown`, counted under none), and says ready and live only because
 * nothing says otherwise.
 */
export const uncheckedHealth: PluginHealth = {
  pluginId: PLUGIN_ID,
  verdict: 'unknown',
  counts: {},
  probes: [],
  instances: [
    {
      targetId: 'inst-grpc',
      instanceId: 'inst-grpc',
      host: '127.0.0.1',
      port: 50051,
      verdict: 'unknown',
      healthScore: 1,
      ready: true,
      live: true,
      reasons: ['no probes defined: nothing checks this instance'],
      reportedBy: 'replica-a',
      updatedAt: '2025-01-01T10:05:00.000Z',
      probes: [],
    },
  ],
  generatedAt: '2025-01-01T10:05:01.000Z',
};

/** A plugin that is installed but not running. */
export const stoppedHealth: PluginHealth = {
  ...mixedHealth,
  verdict: 'unknown',
  counts: {},
  instances: [],
};

export async function responseError(
  status: number,
  statusText: string,
  error: { name: string; message: string },
): Promise<ResponseError> {
  const body = JSON.stringify({ error, response: { statusCode: status } });
  return ResponseError.fromResponse({
    ok: false,
    status,
    statusText,
    url: `http://localhost:7007/api/plugin-lifecycle/plugins/${PLUGIN_ID}/health`,
    headers: new Headers({ 'Content-Type': 'application/json' }),
    text: async () => body,
  } as any);
}

function point(
  at: string,
  requests: number,
  errors: number,
  p90: number,
): VersionMetricsPoint {
  return {
    at,
    intervalMs: 5000,
    requests,
    requestRate: requests / 5,
    errors,
    errorRate: requests ? errors / requests : 0,
    ...(requests
      ? {
          latencyMeanMs: p90 / 2,
          latencyP50Ms: p90 / 2,
          latencyP90Ms: p90,
          latencyP99Ms: p90 * 1.5,
        }
      : {}),
  };
}

/** A canary: 1.0.0 serving all along, 1.1.0 taking a share with errors. */
export const versionMetrics: PluginVersionMetrics = {
  pluginId: PLUGIN_ID,
  sampleIntervalMs: 5000,
  retentionMs: 1_800_000,
  generatedAt: '2025-01-01T10:05:01.000Z',
  versions: [
    {
      version: '1.0.0',
      points: [
        point('2025-01-01T10:04:50.000Z', 50, 0, 8),
        point('2025-01-01T10:04:55.000Z', 45, 0, 9),
        point('2025-01-01T10:05:00.000Z', 40, 1, 8),
      ],
    },
    {
      version: '1.1.0',
      points: [
        point('2025-01-01T10:04:55.000Z', 5, 1, 30),
        point('2025-01-01T10:05:00.000Z', 10, 4, 45),
      ],
    },
  ],
};

/** No request through the proxy in the retention. */
export const noVersionMetrics: PluginVersionMetrics = {
  ...versionMetrics,
  versions: [],
};

/** A fake of the client: the HTTP API is covered by the backend's tests. */
export function makeFakeApi(
  overrides: Partial<PluginLifecycleApi> = {},
): jest.Mocked<PluginLifecycleApi> {
  return {
    getPluginHealth: jest.fn(async () => mixedHealth),
    getPluginVersionMetrics: jest.fn(async () => versionMetrics),
    setPluginProbes: jest.fn(async (pluginId, probes) => ({
      pluginId,
      probes,
    })),
    ...overrides,
  } as jest.Mocked<PluginLifecycleApi>;
}

/**
 * What a browser's layout would report for the charts' containers: jsdom
 * lays nothing out (every size is 0, and it has no ResizeObserver), so
 * recharts would draw nothing. This observer reports `width` x `height`
 * for whatever it observes, once, as a browser does on `observe`.
 * Returns the function that restores the original.
 */
export function layoutChartsAt(width: number, height: number): () => void {
  const original = (globalThis as any).ResizeObserver;
  class FixedSizeObserver {
    constructor(private readonly callback: ResizeObserverCallback) {}
    observe(target: Element) {
      this.callback(
        [{ target, contentRect: { width, height } } as ResizeObserverEntry],
        this as unknown as ResizeObserver,
      );
    }
    unobserve() {}
    disconnect() {}
  }
  (globalThis as any).ResizeObserver = FixedSizeObserver;
  return () => {
    (globalThis as any).ResizeObserver = original;
  };
}
