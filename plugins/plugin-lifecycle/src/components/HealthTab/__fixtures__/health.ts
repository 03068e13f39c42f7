import { Entity } from '@backstage/catalog-model';
import { ResponseError } from '@backstage/errors';
import {
  InstanceHealth,
  PLUGIN_ID_ANNOTATION,
  PluginHealth,
  ProbeHealth,
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

/** A fake of the client: the HTTP API is covered by the backend's tests. */
export function makeFakeApi(
  overrides: Partial<PluginLifecycleApi> = {},
): jest.Mocked<PluginLifecycleApi> {
  return {
    getPluginHealth: jest.fn(async () => mixedHealth),
    ...overrides,
  } as jest.Mocked<PluginLifecycleApi>;
}
