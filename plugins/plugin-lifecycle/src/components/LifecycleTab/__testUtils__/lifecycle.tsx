import { fireEvent, screen, waitFor, within } from '@testing-library/react';
import {
  mockApis,
  renderInTestApp,
  TestApiProvider,
} from '@backstage/test-utils';
import { AuthorizeResult } from '@backstage/plugin-permission-common';
import { permissionApiRef } from '@backstage/plugin-permission-react';
import { signalApiRef } from '@backstage/plugin-signals-react';
import { SWRConfig } from 'swr';
import { Entity } from '@backstage/catalog-model';
import { EntityProvider } from '@backstage/plugin-catalog-react';
import { ResponseError } from '@backstage/errors';
import {
  AvailableVersions,
  Operation,
  PLUGIN_ID_ANNOTATION,
  PluginDetails,
  PluginLifecycleSignal,
  StateTransition,
  pluginLifecycleSignalChannel,
} from '@internal/plugin-lifecycle-common';
import { PluginLifecycleApi, pluginLifecycleApiRef } from '../../../api';
import { EntityLifecycleContent } from '../EntityLifecycleContent';

export const entity: Entity = {
  apiVersion: 'backstage.io/v1alpha1',
  kind: 'Component',
  metadata: {
    name: 'sample-http-service',
    annotations: { [PLUGIN_ID_ANNOTATION]: 'sample-http-service' },
  },
  spec: { type: 'service', lifecycle: 'experimental', owner: 'guests' },
};

export function makeDetails(
  overrides: Partial<PluginDetails> = {},
): PluginDetails {
  return {
    id: 'sample-http-service',
    tenant: 'default',
    runtime: 'process',
    state: 'running',
    revision: 4,
    currentVersion: '1.2.3',
    replicas: 1,
    createdAt: '2025-01-01T10:00:00.000Z',
    updatedAt: '2025-01-01T10:05:00.000Z',
    restarts: {
      crashes: 0,
      maxRestarts: 5,
      windowMs: 600_000,
      crashLoop: false,
    },
    versions: [],
    endedInstances: [],
    instances: [
      {
        id: 'inst-abc',
        pluginId: 'sample-http-service',
        version: '1.2.3',
        track: 'stable',
        runtime: 'process',
        host: '127.0.0.1',
        port: 43117,
        protocol: 'http',
        pid: 4242,
        status: 'running',
        owner: 'replica-1',
        startedAt: '2025-01-01T10:04:00.000Z',
      },
    ],
    availableActions: ['stop', 'restart', 'update', 'maintenance-on'],
    ...overrides,
  };
}

export const history: StateTransition[] = [
  {
    id: 1,
    pluginId: 'sample-http-service',
    fromState: 'inactive',
    toState: 'installing',
    action: 'install',
    actor: 'user:default/guest',
    createdAt: '2025-01-01T10:00:00.000Z',
  },
  {
    id: 2,
    pluginId: 'sample-http-service',
    fromState: 'starting',
    toState: 'running',
    action: 'start',
    actor: 'user:default/guest',
    reason: 'all probes passed',
    createdAt: '2025-01-01T10:04:30.000Z',
  },
];

export function makeOperation(overrides: Partial<Operation> = {}): Operation {
  return {
    id: 'op-1',
    pluginId: 'sample-http-service',
    tenant: 'default',
    type: 'install',
    status: 'succeeded',
    actor: 'user:default/guest',
    params: {},
    attempts: 1,
    maxAttempts: 3,
    createdAt: '2025-01-01T10:00:00.000Z',
    startedAt: '2025-01-01T10:00:01.000Z',
    finishedAt: '2025-01-01T10:00:05.000Z',
    ...overrides,
  };
}

/** What the API lists by default: finished operations only, newest first. */
export const finishedOperations: Operation[] = [
  makeOperation({
    id: 'op-3',
    type: 'restart',
    status: 'failed',
    attempts: 3,
    error: 'readiness probe failed after 10000 ms',
    createdAt: '2025-01-01T10:06:00.000Z',
    startedAt: '2025-01-01T10:06:01.000Z',
    finishedAt: '2025-01-01T10:06:30.000Z',
  }),
  makeOperation({
    id: 'op-2',
    type: 'start',
    actor: 'user:default/someone',
    createdAt: '2025-01-01T10:04:00.000Z',
  }),
  makeOperation({ id: 'op-1' }),
];

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
    url: 'http://localhost:7007/api/plugin-lifecycle/plugins/sample-http-service',
    headers: new Headers({ 'Content-Type': 'application/json' }),
    text: async () => body,
  } as any);
}

export function notFound(): Promise<ResponseError> {
  return responseError(404, 'Not Found', {
    name: 'NotFoundError',
    message: 'no such plugin',
  });
}

/** The rows of the Operations table, without its header and pagination. */
export function operationRows(): HTMLElement[] {
  const table = within(screen.getByTestId('operations-table'));
  return table
    .getAllByRole('row')
    .slice(1)
    .filter(row => !row.classList.contains('MuiTableRow-footer'));
}

/** What the fake API lists as the sample's available versions. */
export const availableVersions: AvailableVersions = {
  pluginId: 'sample-http-service',
  source: 'tarball',
  currentVersion: '1.2.3',
  items: [
    { version: '2.0.0', current: false, installed: false },
    { version: '1.3.0', current: false, installed: false },
    { version: '1.2.3', current: true, installed: true },
  ],
};

/** A fake of the client: the HTTP API is covered by the backend's tests. */
export function makeFakeApi(
  overrides: Partial<PluginLifecycleApi> = {},
): jest.Mocked<PluginLifecycleApi> {
  const accepted = {
    operationId: 'op-1',
    pluginId: 'sample-http-service',
    status: 'queued' as const,
  };
  return {
    listPlugins: jest.fn(async () => []),
    getPlugin: jest.fn(async () => makeDetails()),
    getHistory: jest.fn(async () => history),
    installPlugin: jest.fn(async () => ({ ...accepted, type: 'install' })),
    updatePlugin: jest.fn(async () => ({ ...accepted, type: 'update' })),
    runCommand: jest.fn(async (_id, command) => ({
      ...accepted,
      type: command,
    })),
    getOperation: jest.fn(),
    listOperations: jest.fn(async () => finishedOperations),
    cancelOperation: jest.fn(async id =>
      makeOperation({ id, status: 'cancelled' }),
    ),
    rollbackUpdate: jest.fn(async () => ({ ...accepted, type: 'update' })),
    listVersions: jest.fn(async () => availableVersions),
    ...overrides,
  } as jest.Mocked<PluginLifecycleApi>;
}

/** A permission API that allows everything but the permissions named. */
export function permissionsExcept(denied: string[]) {
  return mockApis.permission({
    authorize: request =>
      denied.includes(request.permission.name)
        ? AuthorizeResult.DENY
        : AuthorizeResult.ALLOW,
  });
}

/**
 * A signal API the test drives: `send` delivers a signal of the plugin to
 * the tab as the backend would.
 */
export function makeSignals() {
  const listeners = new Map<string, Array<(message: any) => void>>();
  return {
    api: {
      subscribe: (channel: string, onMessage: (message: any) => void) => {
        listeners.set(channel, [...(listeners.get(channel) ?? []), onMessage]);
        return {
          unsubscribe: () =>
            listeners.set(
              channel,
              (listeners.get(channel) ?? []).filter(l => l !== onMessage),
            ),
        };
      },
    },
    send(kind: PluginLifecycleSignal['kind'] = 'state') {
      const signal: PluginLifecycleSignal = {
        kind,
        pluginId: 'sample-http-service',
        at: new Date().toISOString(),
      };
      for (const listener of listeners.get(
        pluginLifecycleSignalChannel('sample-http-service'),
      ) ?? []) {
        listener(signal);
      }
    },
  };
}

/**
 * Renders the tab for the sample entity; with `signals`, the app has the
 * signals plugin (the tab reloads on its signals instead of polling).
 */
export function renderContent(
  api: PluginLifecycleApi,
  options: {
    denied?: string[];
    signals?: ReturnType<typeof makeSignals>;
  } = {},
) {
  const { denied = [], signals } = options;
  return renderInTestApp(
    <TestApiProvider
      apis={[
        [pluginLifecycleApiRef, api],
        [permissionApiRef, permissionsExcept(denied)],
        ...(signals ? ([[signalApiRef, signals.api]] as const) : []),
      ]}
    >
      {/* A fresh cache of permission decisions for each render. */}
      <SWRConfig value={{ provider: () => new Map() }}>
        <EntityProvider entity={entity}>
          <EntityLifecycleContent />
        </EntityProvider>
      </SWRConfig>
    </TestApiProvider>,
  );
}

/**
 * Answers the open confirmation dialog with its button `name`, and waits
 * until it has closed (the page behind it is hidden while it is open).
 */
export async function confirmDialog(name: string) {
  const dialog = screen.getByRole('dialog');
  fireEvent.click(within(dialog).getByRole('button', { name }));
  await waitFor(() => expect(screen.queryByRole('dialog')).toBeNull());
}
