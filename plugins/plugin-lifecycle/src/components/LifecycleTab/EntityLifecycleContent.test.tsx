import { fireEvent, screen, waitFor, within } from '@testing-library/react';
import {
  mockApis,
  renderInTestApp,
  TestApiProvider,
} from '@backstage/test-utils';
import { AuthorizeResult } from '@backstage/plugin-permission-common';
import { permissionApiRef } from '@backstage/plugin-permission-react';
import { SWRConfig } from 'swr';
import { Entity } from '@backstage/catalog-model';
import { EntityProvider } from '@backstage/plugin-catalog-react';
import { ResponseError } from '@backstage/errors';
import {
  Operation,
  PLUGIN_ID_ANNOTATION,
  PluginDetails,
  StateTransition,
} from '@internal/plugin-lifecycle-common';
import { PluginLifecycleApi, pluginLifecycleApiRef } from '../../api';
import { EntityLifecycleContent } from './EntityLifecycleContent';

// Full renders take seconds on a busy two-core machine.
jest.setTimeout(20_000);

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

function makeOperation(overrides: Partial<Operation> = {}): Operation {
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
const finishedOperations: Operation[] = [
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

async function responseError(
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

function notFound(): Promise<ResponseError> {
  return responseError(404, 'Not Found', {
    name: 'NotFoundError',
    message: 'no such plugin',
  });
}

/** The rows of the Operations table, without its header. */
function operationRows(): HTMLElement[] {
  const table = within(screen.getByTestId('operations-table'));
  return table.getAllByRole('row').slice(1);
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
    ...overrides,
  } as jest.Mocked<PluginLifecycleApi>;
}

/** A permission API that allows everything but the permissions named. */
function permissionsExcept(denied: string[]) {
  return mockApis.permission({
    authorize: request =>
      denied.includes(request.permission.name)
        ? AuthorizeResult.DENY
        : AuthorizeResult.ALLOW,
  });
}

function renderContent(
  api: PluginLifecycleApi,
  pollIntervalMs?: number,
  denied: string[] = [],
) {
  return renderInTestApp(
    <TestApiProvider
      apis={[
        [pluginLifecycleApiRef, api],
        [permissionApiRef, permissionsExcept(denied)],
      ]}
    >
      {/* A fresh cache of permission decisions for each render. */}
      <SWRConfig value={{ provider: () => new Map() }}>
        <EntityProvider entity={entity}>
          <EntityLifecycleContent pollIntervalMs={pollIntervalMs} />
        </EntityProvider>
      </SWRConfig>
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
    expect(api.listOperations).toHaveBeenCalledWith('sample-http-service');
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
    expect(screen.getByRole('button', { name: 'Update' })).toBeDisabled();
    expect(screen.getByLabelText('New version')).toHaveAttribute(
      'placeholder',
      '1.2.3',
    );
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
      listOperations: jest.fn(async () => {
        throw await notFound();
      }),
    });
    await renderContent(api);

    expect(await screen.findByText('Not installed yet')).toBeInTheDocument();
    expect(screen.queryByTestId('operations-table')).toBeNull();
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

  it('updates a running plugin to a new version and follows it', async () => {
    const api = makeFakeApi();
    await renderContent(api, 20);

    const field = await screen.findByLabelText('New version');
    expect(field).toHaveAttribute('placeholder', '1.2.3');
    const update = screen.getByRole('button', { name: 'Update' });
    expect(update).toBeDisabled();

    fireEvent.change(field, { target: { value: ' 1.3.0 ' } });
    expect(update).toBeEnabled();
    api.getPlugin
      .mockResolvedValueOnce(
        makeDetails({ state: 'updating', availableActions: [] }),
      )
      .mockResolvedValue(makeDetails({ currentVersion: '1.3.0' }));
    fireEvent.click(update);

    await waitFor(() =>
      expect(api.updatePlugin).toHaveBeenCalledWith('sample-http-service', {
        version: '1.3.0',
      }),
    );
    await waitFor(() =>
      expect(screen.getByTestId('lifecycle-version')).toHaveTextContent(
        '1.3.0',
      ),
    );
    expect(screen.getByTestId('lifecycle-state')).toHaveTextContent('running');
    expect(api.updatePlugin).toHaveBeenCalledTimes(1);
    expect(api.runCommand).not.toHaveBeenCalled();
    expect(api.installPlugin).not.toHaveBeenCalled();
    expect(screen.getByLabelText('New version')).toHaveAttribute(
      'placeholder',
      '1.3.0',
    );
  });

  it('reports an update the API refused', async () => {
    const api = makeFakeApi({
      updatePlugin: jest.fn(async () => {
        throw await responseError(400, 'Bad Request', {
          name: 'InputError',
          message: 'version must be a semantic version such as 1.2.3',
        });
      }),
    });
    await renderContent(api);

    fireEvent.change(await screen.findByLabelText('New version'), {
      target: { value: 'latest' },
    });
    fireEvent.click(screen.getByRole('button', { name: 'Update' }));

    expect(
      await screen.findByText('Error: Could not update'),
    ).toBeInTheDocument();
    expect(
      screen.getByText(
        'version must be a semantic version such as 1.2.3 (400 Bad Request)',
      ),
    ).toBeInTheDocument();
    expect(api.updatePlugin).toHaveBeenCalledWith('sample-http-service', {
      version: 'latest',
    });
    // The tab reloads after the attempt and stays usable
    expect(api.getPlugin).toHaveBeenCalledTimes(2);
    expect(screen.getByRole('button', { name: 'Update' })).toBeEnabled();
  });

  it('offers no update for an inactive plugin', async () => {
    const api = makeFakeApi({
      getPlugin: jest.fn(async () =>
        makeDetails({
          state: 'inactive',
          currentVersion: undefined,
          instances: [],
          availableActions: ['install'],
        }),
      ),
    });
    await renderContent(api);

    expect(await screen.findByTestId('lifecycle-state')).toHaveTextContent(
      'inactive',
    );
    expect(screen.getByRole('button', { name: 'Install' })).toBeInTheDocument();
    expect(screen.queryByRole('button', { name: 'Update' })).toBeNull();
    expect(screen.queryByLabelText('New version')).toBeNull();
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

describe('EntityLifecycleContent operations', () => {
  it('lists the operations of the plugin, newest first', async () => {
    const api = makeFakeApi();
    await renderContent(api);

    await screen.findByTestId('operations-table');
    const rows = operationRows();
    expect(rows).toHaveLength(3);

    const [restart, start, install] = rows.map(row => within(row));
    expect(restart.getByText('restart')).toBeInTheDocument();
    expect(restart.getByTestId('operation-status')).toHaveTextContent('failed');
    expect(restart.getByText('3 of 3')).toBeInTheDocument();
    expect(
      restart.getByText('readiness probe failed after 10000 ms'),
    ).toBeInTheDocument();
    expect(
      restart.getByText(new Date('2025-01-01T10:06:30.000Z').toLocaleString()),
    ).toBeInTheDocument();

    expect(start.getByText('start')).toBeInTheDocument();
    expect(start.getByTestId('operation-status')).toHaveTextContent(
      'succeeded',
    );
    expect(start.getByText('1 of 3')).toBeInTheDocument();
    expect(start.getByText('user:default/someone')).toBeInTheDocument();

    expect(install.getByText('install')).toBeInTheDocument();

    // Nothing is under way: nothing to cancel, and the tab does not follow.
    expect(screen.queryByRole('button', { name: 'Cancel' })).toBeNull();
    expect(screen.getByRole('button', { name: 'Refresh' })).toBeEnabled();
  });

  it('says so when there are no operations', async () => {
    const api = makeFakeApi({ listOperations: jest.fn(async () => []) });
    await renderContent(api);

    expect(await screen.findByText('No operations yet.')).toBeInTheDocument();
  });

  it('offers Cancel only for queued operations and cancels them', async () => {
    const queued = makeOperation({
      id: 'op-queued',
      type: 'stop',
      status: 'queued',
      attempts: 0,
      startedAt: undefined,
      finishedAt: undefined,
      createdAt: '2025-01-01T10:08:00.000Z',
    });
    const running = makeOperation({
      id: 'op-running',
      type: 'restart',
      status: 'running',
      finishedAt: undefined,
      createdAt: '2025-01-01T10:07:00.000Z',
    });
    const api = makeFakeApi({
      listOperations: jest.fn(async () => [
        queued,
        running,
        ...finishedOperations,
      ]),
    });
    await renderContent(api);

    await screen.findByTestId('operations-table');
    const rows = operationRows();
    expect(rows).toHaveLength(5);
    expect(within(rows[0]).getByTestId('operation-status')).toHaveTextContent(
      'queued',
    );
    expect(within(rows[0]).getByText('0 of 3')).toBeInTheDocument();
    expect(within(rows[1]).getByTestId('operation-status')).toHaveTextContent(
      'running',
    );
    expect(
      within(rows[1]).queryByRole('button', { name: 'Cancel' }),
    ).toBeNull();
    // One button, in the row of the queued operation
    expect(screen.getAllByRole('button', { name: 'Cancel' })).toHaveLength(1);
    const cancel = within(rows[0]).getByRole('button', { name: 'Cancel' });

    api.listOperations.mockResolvedValue([
      { ...queued, status: 'cancelled', error: 'cancelled by user' },
      { ...running, status: 'succeeded' },
      ...finishedOperations,
    ]);
    fireEvent.click(cancel);

    await waitFor(() =>
      expect(api.cancelOperation).toHaveBeenCalledWith('op-queued'),
    );
    // The tab reloads and the cancelled operation has no button any more.
    await waitFor(() =>
      expect(screen.queryByRole('button', { name: 'Cancel' })).toBeNull(),
    );
    expect(
      within(operationRows()[0]).getByTestId('operation-status'),
    ).toHaveTextContent('cancelled');
    expect(api.cancelOperation).toHaveBeenCalledTimes(1);
    expect(screen.queryByText(/Could not/)).toBeNull();
  });

  it('reports a cancellation the API refused', async () => {
    const api = makeFakeApi({
      listOperations: jest.fn(async () => [
        makeOperation({ id: 'op-9', type: 'stop', status: 'queued' }),
      ]),
      cancelOperation: jest.fn(async () => {
        throw await responseError(409, 'Conflict', {
          name: 'ConflictError',
          message: "Operation 'op-9' is running and cannot be cancelled",
        });
      }),
    });
    await renderContent(api);

    fireEvent.click(await screen.findByRole('button', { name: 'Cancel' }));

    expect(
      await screen.findByText('Error: Could not cancel the operation'),
    ).toBeInTheDocument();
    expect(
      screen.getByText(
        "Operation 'op-9' is running and cannot be cancelled (409 Conflict)",
      ),
    ).toBeInTheDocument();
    expect(api.cancelOperation).toHaveBeenCalledWith('op-9');
    // The tab reloads after the attempt and stays usable (it follows the
    // queued operation, so it may have reloaded more than once by now).
    await waitFor(() =>
      expect(api.listOperations.mock.calls.length).toBeGreaterThanOrEqual(2),
    );
    await waitFor(() =>
      expect(screen.getByRole('button', { name: 'Cancel' })).toBeEnabled(),
    );
  });

  it('follows the plugin while an operation is under way', async () => {
    // (Rendering while already polling this fast would keep act() busy.)
    const api = makeFakeApi({ listOperations: jest.fn(async () => []) });
    await renderContent(api, 20);

    // The state is stable (running), but a stop is now queued.
    api.listOperations.mockResolvedValue([
      makeOperation({ id: 'op-4', type: 'stop', status: 'queued' }),
    ]);
    fireEvent.click(await screen.findByRole('button', { name: 'Refresh' }));
    expect(
      await screen.findByRole('button', { name: 'Following…' }),
    ).toBeDisabled();
    expect(screen.getByTestId('lifecycle-state')).toHaveTextContent('running');
    // The lifecycle actions wait for the operation.
    expect(screen.getByRole('button', { name: 'Stop' })).toBeDisabled();
    await waitFor(() =>
      expect(api.listOperations.mock.calls.length).toBeGreaterThan(2),
    );

    api.listOperations.mockResolvedValue([
      makeOperation({ id: 'op-4', type: 'stop', status: 'running' }),
    ]);
    await waitFor(() =>
      expect(
        within(operationRows()[0]).getByTestId('operation-status'),
      ).toHaveTextContent('running'),
    );
    expect(screen.getByRole('button', { name: 'Following…' })).toBeDisabled();

    api.listOperations.mockResolvedValue([
      makeOperation({ id: 'op-4', type: 'stop', status: 'succeeded' }),
    ]);
    await waitFor(() =>
      expect(screen.getByRole('button', { name: 'Refresh' })).toBeEnabled(),
    );
    expect(screen.getByRole('button', { name: 'Stop' })).toBeEnabled();
    // Polling stopped with the operation.
    const calls = api.listOperations.mock.calls.length;
    await new Promise(resolve => setTimeout(resolve, 100));
    expect(api.listOperations).toHaveBeenCalledTimes(calls);
  });

  it('disables the actions the user may not carry out', async () => {
    await renderContent(makeFakeApi(), undefined, [
      'plugin-lifecycle.plugin.operate',
    ]);
    await screen.findByTestId('lifecycle-state');
    // Operate (stop, restart) refused, deploy (update) allowed.
    await waitFor(() =>
      expect(screen.getByRole('button', { name: 'Stop' })).toBeDisabled(),
    );
    expect(screen.getByRole('button', { name: 'Restart' })).toBeDisabled();
    expect(
      screen.getByRole('button', { name: 'Stop' }).parentElement,
    ).toHaveAttribute('title', 'Not allowed: plugin-lifecycle.plugin.operate');
    fireEvent.change(screen.getByLabelText('New version'), {
      target: { value: '1.3.0' },
    });
    expect(screen.getByRole('button', { name: 'Update' })).toBeEnabled();
  });

  it('disables install and update without the deploy permission', async () => {
    await renderContent(makeFakeApi(), undefined, [
      'plugin-lifecycle.plugin.deploy',
    ]);
    await screen.findByTestId('lifecycle-state');
    await waitFor(() =>
      expect(screen.getByRole('button', { name: 'Stop' })).toBeEnabled(),
    );
    fireEvent.change(screen.getByLabelText('New version'), {
      target: { value: '1.3.0' },
    });
    expect(screen.getByRole('button', { name: 'Update' })).toBeDisabled();
  });
});
