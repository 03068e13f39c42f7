import { fireEvent, screen, waitFor } from '@testing-library/react';
import { renderInTestApp, TestApiProvider } from '@backstage/test-utils';
import { Entity } from '@backstage/catalog-model';
import { EntityProvider } from '@backstage/plugin-catalog-react';
import { ResponseError } from '@backstage/errors';
import {
  PLUGIN_ID_ANNOTATION,
  PluginDetails,
  StateTransition,
} from '@internal/plugin-lifecycle-common';
import { PluginLifecycleApi, pluginLifecycleApiRef } from '../../api';
import { EntityLifecycleContent } from './EntityLifecycleContent';

const entity: Entity = {
  apiVersion: 'backstage.io/v1alpha1',
  kind: 'Component',
  metadata: {
    name: 'sample-http-service',
    annotations: { [PLUGIN_ID_ANNOTATION]: 'sample-http-service' },
  },
  spec: { type: 'service', lifecycle: 'experimental', owner: 'guests' },
};

function makeDetails(overrides: Partial<PluginDetails> = {}): PluginDetails {
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
    versions: [],
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

const history: StateTransition[] = [
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

async function notFound(): Promise<ResponseError> {
  const body = JSON.stringify({
    error: { name: 'NotFoundError', message: 'no such plugin' },
    response: { statusCode: 404 },
  });
  return ResponseError.fromResponse({
    ok: false,
    status: 404,
    statusText: 'Not Found',
    url: 'http://localhost:7007/api/plugin-lifecycle/plugins/sample-http-service',
    headers: new Headers({ 'Content-Type': 'application/json' }),
    text: async () => body,
  } as any);
}

/** A fake of the client: the HTTP API is covered by the backend's tests. */
function makeFakeApi(
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
    runCommand: jest.fn(async (_id, command) => ({
      ...accepted,
      type: command,
    })),
    getOperation: jest.fn(),
    ...overrides,
  } as jest.Mocked<PluginLifecycleApi>;
}

function renderContent(api: PluginLifecycleApi, pollIntervalMs?: number) {
  return renderInTestApp(
    <TestApiProvider apis={[[pluginLifecycleApiRef, api]]}>
      <EntityProvider entity={entity}>
        <EntityLifecycleContent pollIntervalMs={pollIntervalMs} />
      </EntityProvider>
    </TestApiProvider>,
  );
}

describe('EntityLifecycleContent', () => {
  it('renders state, version, instances and history', async () => {
    const api = makeFakeApi();
    await renderContent(api);

    expect(await screen.findByTestId('lifecycle-state')).toHaveTextContent(
      'running',
    );
    expect(api.getPlugin).toHaveBeenCalledWith('sample-http-service');
    expect(api.getHistory).toHaveBeenCalledWith('sample-http-service');
    expect(screen.getByText('1.2.3', { selector: 'div' })).toBeInTheDocument();

    // Instances
    expect(screen.getByText('inst-abc')).toBeInTheDocument();
    expect(screen.getByText('127.0.0.1:43117')).toBeInTheDocument();
    expect(screen.getByText('4242')).toBeInTheDocument();

    // History
    expect(screen.getByText('starting → running')).toBeInTheDocument();
    expect(screen.getByText('inactive → installing')).toBeInTheDocument();
    expect(screen.getByText('all probes passed')).toBeInTheDocument();

    // Only the supported actions the API allows
    expect(screen.getByRole('button', { name: 'Stop' })).toBeEnabled();
    expect(screen.getByRole('button', { name: 'Restart' })).toBeEnabled();
    expect(screen.queryByRole('button', { name: 'Start' })).toBeNull();
    expect(screen.queryByRole('button', { name: 'Install' })).toBeNull();
  });

  it('shows the last error of a plugin', async () => {
    const api = makeFakeApi({
      getPlugin: jest.fn(async () =>
        makeDetails({
          state: 'error',
          lastError: 'readiness probe failed',
          availableActions: ['install', 'start', 'stop', 'uninstall'],
        }),
      ),
    });
    await renderContent(api);

    expect(await screen.findByTestId('lifecycle-state')).toHaveTextContent(
      'error',
    );
    expect(screen.getByText('readiness probe failed')).toBeInTheDocument();
  });

  it('shows a plugin that was never installed, with an install form', async () => {
    const api = makeFakeApi({
      getPlugin: jest.fn(async () => {
        throw await notFound();
      }),
      getHistory: jest.fn(async () => {
        throw await notFound();
      }),
    });
    await renderContent(api);

    expect(await screen.findByText('Not installed yet')).toBeInTheDocument();
    expect(screen.queryByText(/no such plugin/)).toBeNull();

    const install = screen.getByRole('button', { name: 'Install' });
    expect(install).toBeDisabled();

    fireEvent.change(screen.getByLabelText('Version'), {
      target: { value: '1.0.0' },
    });
    fireEvent.click(install);

    await waitFor(() =>
      expect(api.installPlugin).toHaveBeenCalledWith('sample-http-service', {
        version: '1.0.0',
        entityRef: 'component:default/sample-http-service',
      }),
    );
  });

  it('shows other errors of the API', async () => {
    const api = makeFakeApi({
      getPlugin: jest.fn(async () => {
        throw new Error('backend unreachable');
      }),
    });
    await renderContent(api);

    expect(
      await screen.findByText('Error: backend unreachable'),
    ).toBeInTheDocument();
    expect(screen.queryByTestId('lifecycle-state')).toBeNull();
  });

  it('stops a running plugin and follows it until it settles', async () => {
    const api = makeFakeApi();
    await renderContent(api, 20);

    fireEvent.click(await screen.findByRole('button', { name: 'Stop' }));
    api.getPlugin
      .mockResolvedValueOnce(
        makeDetails({ state: 'stopping', availableActions: [] }),
      )
      .mockResolvedValue(
        makeDetails({
          state: 'installed',
          instances: [],
          availableActions: ['start', 'uninstall', 'update'],
        }),
      );

    await waitFor(() =>
      expect(api.runCommand).toHaveBeenCalledWith(
        'sample-http-service',
        'stop',
      ),
    );
    await waitFor(() =>
      expect(screen.getByTestId('lifecycle-state')).toHaveTextContent(
        'installed',
      ),
    );
    expect(screen.getByRole('button', { name: 'Start' })).toBeEnabled();
    expect(screen.getByText('No instances.')).toBeInTheDocument();
  });

  it('reports an action the API refused', async () => {
    const api = makeFakeApi({
      runCommand: jest.fn(async () => {
        throw new Error('not allowed');
      }),
    });
    await renderContent(api);

    fireEvent.click(await screen.findByRole('button', { name: 'Restart' }));

    expect(
      await screen.findByText('Error: Could not restart'),
    ).toBeInTheDocument();
    expect(screen.getByText('not allowed')).toBeInTheDocument();
    // The tab reloads after the attempt and stays usable
    expect(api.getPlugin).toHaveBeenCalledTimes(2);
    expect(screen.getByRole('button', { name: 'Restart' })).toBeEnabled();
  });
});
