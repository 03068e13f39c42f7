import { fireEvent, screen, waitFor, within } from '@testing-library/react';
import {
  confirmDialog,
  history,
  makeDetails,
  makeFakeApi,
  makeOperation,
  makeSignals,
  renderContent,
} from './__testUtils__/lifecycle';

// Full renders take seconds on a busy two-core machine.
jest.setTimeout(20_000);

describe('EntityLifecycleContent', () => {
  it('renders state, version, instances and history', async () => {
    const api = makeFakeApi();
    await renderContent(api);

    expect(await screen.findByTestId('lifecycle-state')).toHaveTextContent(
      'running',
    );
    expect(screen.getByText('Plugin lifecycle')).toBeInTheDocument();
    expect(api.getPlugin).toHaveBeenCalledWith('sample-http-service');
    expect(api.getHistory).toHaveBeenCalledWith('sample-http-service');
    expect(api.listOperations).toHaveBeenCalledWith('sample-http-service');
    expect(screen.getByTestId('lifecycle-version')).toHaveTextContent('1.2.3');
    expect(screen.getByTestId('lifecycle-replicas')).toHaveTextContent('1');

    // Instances, with relative times and the absolute one on hover
    const instances = within(screen.getByTestId('instances-table'));
    expect(instances.getByText('inst-abc')).toBeInTheDocument();
    expect(instances.getByText('127.0.0.1:43117')).toBeInTheDocument();
    expect(instances.getByText('4242')).toBeInTheDocument();
    const started = instances.getByText(/ago$/);
    expect(started.tagName).toBe('TIME');
    expect(started).toHaveAttribute('dateTime', '2025-01-01T10:04:00.000Z');
    expect(started.getAttribute('title')).toMatch(/2025/);

    // History: folded away until opened
    expect(screen.queryByText('starting → running')).toBeNull();
    fireEvent.click(screen.getByText('History (2 state changes)'));
    expect(await screen.findByText('starting → running')).toBeInTheDocument();
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
    expect(api.listVersions).toHaveBeenCalledWith('sample-http-service');
  });

  it('lists current instances and keeps the ended ones behind a toggle', async () => {
    const ended = ['old-1', 'old-2'].map(id => ({
      ...makeDetails().instances[0],
      id,
      status: 'stopped' as const,
      stoppedAt: '2025-01-01T10:03:00.000Z',
    }));
    const api = makeFakeApi({
      getPlugin: jest.fn(async () => makeDetails({ endedInstances: ended })),
    });
    await renderContent(api);

    const table = within(await screen.findByTestId('instances-table'));
    expect(table.getByText('inst-abc')).toBeInTheDocument();
    expect(table.queryByText('old-1')).toBeNull();
    const toggle = table.getByRole('checkbox');
    expect(table.getByText('Show ended (2)')).toBeInTheDocument();

    fireEvent.click(toggle);
    expect(table.getByText('old-1')).toBeInTheDocument();
    expect(table.getByText('old-2')).toBeInTheDocument();
    expect(table.getAllByText('stopped')).toHaveLength(2);

    fireEvent.click(toggle);
    expect(table.queryByText('old-1')).toBeNull();
  });

  it('says no instance runs when only ended ones are left', async () => {
    const api = makeFakeApi({
      getPlugin: jest.fn(async () =>
        makeDetails({
          state: 'installed',
          instances: [],
          endedInstances: [
            { ...makeDetails().instances[0], status: 'stopped' },
          ],
          availableActions: ['start', 'uninstall'],
        }),
      ),
    });
    await renderContent(api);

    expect(
      await screen.findByText('No instance is running.'),
    ).toBeInTheDocument();
  });

  it('shows the last error of a plugin in error, with when it was recorded', async () => {
    const api = makeFakeApi({
      getPlugin: jest.fn(async () =>
        makeDetails({
          state: 'error',
          lastError: 'readiness probe failed',
          availableActions: ['install', 'start', 'stop', 'uninstall'],
        }),
      ),
      getHistory: jest.fn(async () => [
        ...history,
        {
          id: 3,
          pluginId: 'sample-http-service',
          fromState: 'running' as const,
          toState: 'error' as const,
          action: 'crash',
          reason: 'readiness probe failed',
          createdAt: '2025-01-01T10:07:00.000Z',
        },
      ]),
    });
    await renderContent(api);

    expect(await screen.findByTestId('lifecycle-state')).toHaveTextContent(
      'error',
    );
    const panel = within(screen.getByTestId('lifecycle-last-error'));
    expect(panel.getByText('Error: Last error')).toBeInTheDocument();
    expect(panel.getByText('readiness probe failed')).toBeInTheDocument();
    expect(panel.getByText(/ago$/)).toHaveAttribute(
      'dateTime',
      '2025-01-01T10:07:00.000Z',
    );
  });

  it('hides a last error older than the last success, and tones down a newer one on a healthy plugin', async () => {
    const failedUpdate = {
      id: 3,
      pluginId: 'sample-http-service',
      fromState: 'updating' as const,
      toState: 'running' as const,
      action: 'update',
      reason: 'update failed: 2.0.0 never became ready',
      createdAt: '2025-01-01T10:05:00.000Z',
    };
    const api = makeFakeApi({
      getPlugin: jest.fn(async () =>
        makeDetails({ lastError: 'update failed: 2.0.0 never became ready' }),
      ),
      getHistory: jest.fn(async () => [...history, failedUpdate]),
      // The newest success (10:06:30) came after the error (10:05).
      listOperations: jest.fn(async () => [
        makeOperation({ id: 'op-5', finishedAt: '2025-01-01T10:06:30.000Z' }),
      ]),
    });
    const { unmount } = await renderContent(api);
    await screen.findByTestId('lifecycle-state');
    expect(screen.queryByTestId('lifecycle-last-error')).toBeNull();
    unmount();

    // No success since: shown, as a warning that names the state now.
    api.listOperations.mockResolvedValue([
      makeOperation({ id: 'op-5', finishedAt: '2025-01-01T10:04:00.000Z' }),
    ]);
    await renderContent(api);
    const panel = within(await screen.findByTestId('lifecycle-last-error'));
    expect(
      panel.getByText(/Last error \(the plugin is running now\)/),
    ).toBeInTheDocument();
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

  it('asks before stopping, then stops and follows the plugin on its signals', async () => {
    const api = makeFakeApi();
    const signals = makeSignals();
    await renderContent(api, { signals });

    fireEvent.click(await screen.findByRole('button', { name: 'Stop' }));
    expect(screen.getByText('Stop sample-http-service?')).toBeInTheDocument();
    await confirmDialog('Keep as is');
    expect(api.runCommand).not.toHaveBeenCalled();

    fireEvent.click(screen.getByRole('button', { name: 'Stop' }));
    api.getPlugin.mockResolvedValue(
      makeDetails({ state: 'stopping', availableActions: [] }),
    );
    await confirmDialog('Stop');

    await waitFor(() =>
      expect(api.runCommand).toHaveBeenCalledWith(
        'sample-http-service',
        'stop',
      ),
    );
    await waitFor(() =>
      expect(screen.getByTestId('lifecycle-state')).toHaveTextContent(
        'stopping',
      ),
    );
    // The backend signals the end of the stop: the tab reloads at once.
    api.getPlugin.mockResolvedValue(
      makeDetails({
        state: 'installed',
        instances: [],
        availableActions: ['start', 'uninstall', 'update'],
      }),
    );
    signals.send('state');
    await waitFor(() =>
      expect(screen.getByTestId('lifecycle-state')).toHaveTextContent(
        'installed',
      ),
    );
    expect(screen.getByRole('button', { name: 'Start' })).toBeEnabled();
    expect(screen.getByText('No instances.')).toBeInTheDocument();
  });

  it('asks before restarting and uninstalling, starts without asking', async () => {
    const api = makeFakeApi({
      getPlugin: jest.fn(async () =>
        makeDetails({
          state: 'error',
          availableActions: ['start', 'restart', 'uninstall'],
        }),
      ),
    });
    await renderContent(api);

    fireEvent.click(await screen.findByRole('button', { name: 'Uninstall' }));
    expect(
      within(screen.getByRole('dialog')).getByText(
        /every installed version is removed/,
      ),
    ).toBeInTheDocument();
    await confirmDialog('Uninstall');
    await waitFor(() =>
      expect(api.runCommand).toHaveBeenCalledWith(
        'sample-http-service',
        'uninstall',
      ),
    );

    await waitFor(() =>
      expect(screen.getByRole('button', { name: 'Restart' })).toBeEnabled(),
    );
    fireEvent.click(screen.getByRole('button', { name: 'Restart' }));
    await confirmDialog('Restart');
    await waitFor(() =>
      expect(api.runCommand).toHaveBeenCalledWith(
        'sample-http-service',
        'restart',
      ),
    );

    await waitFor(() =>
      expect(screen.getByRole('button', { name: 'Start' })).toBeEnabled(),
    );
    fireEvent.click(screen.getByRole('button', { name: 'Start' }));
    expect(screen.queryByRole('dialog')).toBeNull();
    await waitFor(() =>
      expect(api.runCommand).toHaveBeenCalledWith(
        'sample-http-service',
        'start',
      ),
    );
  });

  it('puts a plugin in maintenance after asking, and ends it without asking', async () => {
    const api = makeFakeApi({
      getPlugin: jest.fn(async () =>
        makeDetails({
          state: 'running',
          availableActions: ['stop', 'maintenance-on'],
        }),
      ),
    });
    await renderContent(api);
    fireEvent.click(
      await screen.findByRole('button', { name: 'Maintenance on' }),
    );
    expect(
      within(screen.getByRole('dialog')).getByText(/get no traffic/),
    ).toBeInTheDocument();
    await confirmDialog('Maintenance on');
    await waitFor(() =>
      expect(api.runCommand).toHaveBeenCalledWith(
        'sample-http-service',
        'maintenance-on',
      ),
    );

    api.getPlugin.mockResolvedValue(
      makeDetails({
        state: 'maintenance',
        availableActions: ['stop', 'uninstall', 'maintenance-off'],
      }),
    );
    fireEvent.click(
      await screen.findByRole('button', { name: 'End maintenance' }),
    );
    expect(screen.queryByRole('dialog')).toBeNull();
    await waitFor(() =>
      expect(api.runCommand).toHaveBeenCalledWith(
        'sample-http-service',
        'maintenance-off',
      ),
    );
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
    await confirmDialog('Restart');

    expect(
      await screen.findByText('Error: Could not restart'),
    ).toBeInTheDocument();
    expect(screen.getByText('not allowed')).toBeInTheDocument();
    // The tab reloads after the attempt and stays usable
    expect(api.getPlugin.mock.calls.length).toBeGreaterThanOrEqual(2);
    expect(screen.getByRole('button', { name: 'Restart' })).toBeEnabled();
  });

  it('disables the actions the user may not carry out', async () => {
    await renderContent(makeFakeApi(), {
      denied: ['plugin-lifecycle.plugin.operate'],
    });
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
    await renderContent(makeFakeApi(), {
      denied: ['plugin-lifecycle.plugin.deploy'],
    });
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
