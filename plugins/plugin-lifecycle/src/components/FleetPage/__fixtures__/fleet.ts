import { Entity, RELATION_OWNED_BY } from '@backstage/catalog-model';
import { ResponseError } from '@backstage/errors';
import {
  Deployment,
  PLUGIN_ID_ANNOTATION,
  PluginDetails,
  PluginHealth,
  PluginSummary,
} from '@internal/plugin-lifecycle-common';
import { PluginLifecycleApi } from '../../../api';

export function component(
  name: string,
  pluginId: string,
  owner = 'guests',
): Entity {
  return {
    apiVersion: 'backstage.io/v1alpha1',
    kind: 'Component',
    metadata: {
      name,
      namespace: 'default',
      annotations: { [PLUGIN_ID_ANNOTATION]: pluginId },
    },
    spec: { type: 'service', lifecycle: 'experimental', owner },
    relations: [
      { type: RELATION_OWNED_BY, targetRef: `group:default/${owner}` },
    ],
  };
}

/** An entity without the annotation: the fleet page ignores it. */
export const unrelated: Entity = {
  apiVersion: 'backstage.io/v1alpha1',
  kind: 'Component',
  metadata: { name: 'website', namespace: 'default' },
  spec: { type: 'website', lifecycle: 'production', owner: 'guests' },
};

export function summary(
  id: string,
  overrides: Partial<PluginSummary> = {},
): PluginSummary {
  return {
    id,
    tenant: 'default',
    runtime: 'process',
    state: 'running',
    revision: 3,
    currentVersion: '1.0.0',
    replicas: 1,
    createdAt: '2025-01-01T10:00:00.000Z',
    updatedAt: '2025-01-01T10:05:00.000Z',
    ...overrides,
  };
}

export function details(
  id: string,
  overrides: Partial<PluginDetails> = {},
): PluginDetails {
  return {
    ...summary(id),
    versions: [],
    instances: [],
    endedInstances: [],
    availableActions: [],
    restarts: {
      crashes: 0,
      maxRestarts: 3,
      windowMs: 60_000,
      crashLoop: false,
    },
    ...overrides,
  };
}

export function health(
  pluginId: string,
  verdict: PluginHealth['verdict'],
): PluginHealth {
  return {
    pluginId,
    verdict,
    counts: {},
    probes: [],
    instances: [],
    generatedAt: '2025-01-01T10:05:00.000Z',
  };
}

/** A canary of 1.0.0 -> 1.1.0 at its third of four steps, 25% of traffic on 1.1.0. */
export function canary(
  pluginId: string,
  overrides: Partial<Deployment> = {},
): Deployment {
  return {
    id: `dep-${pluginId}`,
    pluginId,
    tenant: 'default',
    strategy: 'canary',
    fromVersion: '1.0.0',
    toVersion: '1.1.0',
    config: {},
    phase: 'progressing',
    currentStep: 2,
    steps: [
      {
        index: 0,
        kind: 'scale',
        side: 'new',
        replicas: 1,
        status: 'succeeded',
      },
      { index: 1, kind: 'setWeight', weight: 25, status: 'succeeded' },
      {
        index: 2,
        kind: 'analysis',
        durationMs: 60_000,
        criteria: {
          minRequests: 50,
          maxExtensions: 3,
          onInsufficientData: 'fail',
          requireHealthy: true,
        },
        status: 'running',
      },
      { index: 3, kind: 'finish', status: 'pending' },
    ],
    traffic: { '1.0.0': 75, '1.1.0': 25 },
    instances: {},
    analysis: [],
    approvals: [],
    createdAt: '2025-01-01T10:04:00.000Z',
    updatedAt: '2025-01-01T10:05:00.000Z',
    ...overrides,
  };
}

export async function notFound(pluginId: string): Promise<ResponseError> {
  const body = JSON.stringify({
    error: { name: 'NotFoundError', message: `No plugin ${pluginId}` },
    response: { statusCode: 404 },
  });
  return ResponseError.fromResponse({
    ok: false,
    status: 404,
    statusText: 'Not Found',
    url: `http://localhost:7007/api/plugin-lifecycle/plugins/${pluginId}`,
    headers: new Headers({ 'Content-Type': 'application/json' }),
    text: async () => body,
  } as any);
}

/** A fake of the client: the HTTP API is covered by the backend's tests. */
export function makeFakeApi(
  overrides: Partial<PluginLifecycleApi> = {},
): jest.Mocked<PluginLifecycleApi> {
  return {
    listPlugins: jest.fn(async () => []),
    getPlugin: jest.fn(async (id: string) =>
      Promise.reject(await notFound(id)),
    ),
    getPluginHealth: jest.fn(async (id: string) => health(id, 'healthy')),
    listDeployments: jest.fn(async () => []),
    listPluginDeployments: jest.fn(async () => []),
    ...overrides,
  } as jest.Mocked<PluginLifecycleApi>;
}
