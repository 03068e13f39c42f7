import { Entity } from '@backstage/catalog-model';
import { ResponseError } from '@backstage/errors';
import {
  CONFIG_SECRET_MASK,
  ConfigDiff,
  ConfigVersion,
  ConfigVersionSummary,
  EffectiveConfiguration,
  Operation,
  PLUGIN_ID_ANNOTATION,
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

export const environments = {
  environments: ['development', 'production'],
  defaultEnvironment: 'production',
};

export const effectiveProduction: EffectiveConfiguration = {
  pluginId: PLUGIN_ID,
  environment: 'production',
  version: 3,
  baseVersion: 2,
  revision: 7,
  entries: [
    {
      key: 'database.url',
      type: 'string',
      value: 'postgres://db.internal/sample',
      description: 'Where the data lives',
      source: { layer: 'base', version: 2 },
    },
    {
      key: 'api.token',
      type: 'secret',
      value: CONFIG_SECRET_MASK,
      masked: true,
      required: true,
      source: { layer: 'production', version: 3 },
    },
    {
      key: 'workers',
      type: 'number',
      value: 8,
      source: { layer: 'production', version: 3 },
    },
  ],
};

export function summary(
  layer: string,
  version: number,
  overrides: Partial<ConfigVersionSummary> = {},
): ConfigVersionSummary {
  return {
    pluginId: PLUGIN_ID,
    layer,
    version,
    revision: version + 10,
    author: 'user:default/guest',
    description: `change ${version}`,
    createdAt: `2025-01-0${version}T10:00:00.000Z`,
    entryCount: 4,
    ...overrides,
  };
}

/** The production layer, newest first. */
export const productionVersions: ConfigVersionSummary[] = [
  summary('production', 3, { rolledBackFrom: 1, description: undefined }),
  summary('production', 2, { author: 'user:default/someone' }),
  summary('production', 1),
];

export const productionLatest: ConfigVersion = {
  ...productionVersions[0],
  entries: [
    {
      key: 'api.token',
      type: 'secret',
      value: CONFIG_SECRET_MASK,
      masked: true,
      required: true,
      rotateAt: '2026-01-01T00:00:00.000Z',
    },
    {
      key: 'signing.key',
      type: 'secret',
      value: CONFIG_SECRET_MASK,
      masked: true,
    },
    { key: 'workers', type: 'number', value: 8 },
    { key: 'tracing', type: 'boolean', value: false },
    {
      key: 'limits',
      type: 'json',
      value: { rps: 100 },
      description: 'Per-tenant limits',
    },
  ],
};

export const baseVersions: ConfigVersionSummary[] = [
  summary('base', 2),
  summary('base', 1),
];

export const baseLatest: ConfigVersion = {
  ...baseVersions[0],
  entries: [
    {
      key: 'database.url',
      type: 'string',
      value: 'postgres://db.internal/sample',
    },
  ],
};

export const productionDiff: ConfigDiff = {
  from: 1,
  to: 3,
  added: [{ key: 'tracing', type: 'boolean', value: false }],
  removed: [{ key: 'legacy.mode', type: 'string', value: 'on' }],
  changed: [
    {
      key: 'api.token',
      from: {
        key: 'api.token',
        type: 'secret',
        value: CONFIG_SECRET_MASK,
        masked: true,
      },
      to: {
        key: 'api.token',
        type: 'secret',
        value: CONFIG_SECRET_MASK,
        masked: true,
      },
      fields: ['value'],
    },
    {
      key: 'workers',
      from: { key: 'workers', type: 'number', value: 4 },
      to: { key: 'workers', type: 'number', value: 8 },
      fields: ['value'],
    },
  ],
};

/** The `configure` operation that applies a written version. */
export function configureOperation(
  overrides: Partial<Operation> = {},
): Operation {
  return {
    id: 'op-42',
    pluginId: PLUGIN_ID,
    tenant: 'default',
    type: 'configure',
    status: 'succeeded',
    params: { layer: 'production', version: 4, revision: 14 },
    attempts: 1,
    result: { revision: 14, strategy: 'restart', instances: 1 },
    createdAt: '2025-01-04T10:00:00.000Z',
    ...overrides,
  };
}

/** An error response of the API, as the client throws it. */
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
    url: `http://localhost:7007/api/plugin-lifecycle/plugins/${PLUGIN_ID}/config/production`,
    headers: new Headers({ 'Content-Type': 'application/json' }),
    text: async () => body,
  } as any);
}

/** A fake of the client: the HTTP API is covered by the backend's tests. */
export function makeFakeApi(
  overrides: Partial<PluginLifecycleApi> = {},
): jest.Mocked<PluginLifecycleApi> {
  const byLayer = (layer: string) =>
    layer === 'base'
      ? { versions: baseVersions, latest: baseLatest }
      : { versions: productionVersions, latest: productionLatest };
  return {
    getConfigEnvironments: jest.fn(async () => environments),
    getConfiguration: jest.fn(async (_id, environment) => ({
      ...effectiveProduction,
      environment,
    })),
    listConfigVersions: jest.fn(async (_id, layer) => byLayer(layer).versions),
    getConfigVersion: jest.fn(async (_id, layer) => byLayer(layer).latest),
    diffConfigVersions: jest.fn(async () => productionDiff),
    getOperation: jest.fn(async () => configureOperation()),
    listOperations: jest.fn(async () => []),
    setConfiguration: jest.fn(async (_id, layer, request) => ({
      version: summary(layer, (request.expectedVersion ?? 0) + 1),
      changed: true,
      operationId: 'op-42',
    })),
    rollbackConfiguration: jest.fn(async (_id, layer, request) => ({
      version: summary(layer, (request.expectedVersion ?? 0) + 1, {
        rolledBackFrom: request.toVersion,
      }),
      changed: true,
    })),
    ...overrides,
  } as jest.Mocked<PluginLifecycleApi>;
}
