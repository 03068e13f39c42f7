import { fireEvent, screen, waitFor, within } from '@testing-library/react';
import {
  availableVersions,
  confirmDialog,
  history,
  makeDetails,
  makeFakeApi,
  makeOperation,
  makeSignals,
  notFound,
  renderContent,
  responseError,
} from './__testUtils__/lifecycle';

// Full renders take seconds on a busy two-core machine.
jest.setTimeout(20_000);

/** Opens the list of a version field and picks `version` from it. */
async function pickVersion(label: string, version: string) {
  const field = screen.getByLabelText(label);
  fireEvent.mouseDown(field);
  fireEvent.keyDown(field, { key: 'ArrowDown' });
  const listbox = await screen.findByRole('listbox');
  fireEvent.click(within(listbox).getByText(version));
}

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

  it('shows a plugin that was never installed, with the available versions and an install form', async () => {
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
      listVersions: jest.fn(async () => ({
        ...availableVersions,
        currentVersion: undefined,
        items: availableVersions.items.map(i => ({
          ...i,
          current: false,
          installed: false,
        })),
      })),
    });
    await renderContent(api);

    expect(await screen.findByText('Not installed yet')).toBeInTheDocument();
    expect(screen.queryByTestId('operations-table')).toBeNull();
    expect(screen.queryByText(/no such plugin/)).toBeNull();

    const install = screen.getByRole('button', { name: 'Install' });
    expect(install).toBeDisabled();
    // The newest available version is the hint.
    await waitFor(() =>
      expect(screen.getByLabelText('Version')).toHaveAttribute(
        'placeholder',
        '2.0.0',
      ),
    );

    await pickVersion('Version', '1.3.0');
    expect(screen.getByLabelText('Version')).toHaveValue('1.3.0');
    fireEvent.change(screen.getByLabelText('Replicas'), {
      target: { value: '2' },
    });
    fireEvent.click(install);

    await waitFor(() =>
      expect(api.installPlugin).toHaveBeenCalledWith('sample-http-service', {
        version: '1.3.0',
        entityRef: 'component:default/sample-http-service',
        replicas: 2,
      }),
    );
  });

  it('refuses a replica count the API would refuse', async () => {
    const api = makeFakeApi({
      getPlugin: jest.fn(async () => {
        throw await notFound();
      }),
    });
    await renderContent(api);
    await screen.findByText('Not installed yet');

    fireEvent.change(screen.getByLabelText('Version'), {
      target: { value: '1.0.0' },
    });
    fireEvent.change(screen.getByLabelText('Replicas'), {
      target: { value: '65' },
    });
    expect(screen.getByText('1 to 64')).toBeInTheDocument();
    expect(screen.getByRole('button', { name: 'Install' })).toBeDisabled();
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

  it('offers the available versions for an update, marks the current one, and shows the target while it runs', async () => {
    const api = makeFakeApi();
    const signals = makeSignals();
    await renderContent(api, { signals });

    const field = await screen.findByLabelText('New version');
    fireEvent.mouseDown(field);
    fireEvent.keyDown(field, { key: 'ArrowDown' });
    const options = within(await screen.findByRole('listbox')).getAllByRole(
      'option',
    );
    expect(options.map(o => o.textContent)).toEqual([
      '2.0.0',
      '1.3.0',
      '1.2.3 (current)',
    ]);
    fireEvent.click(options[1]);
    expect(field).toHaveValue('1.3.0');

    api.getPlugin.mockResolvedValue(
      makeDetails({ state: 'updating', availableActions: [] }),
    );
    api.listOperations.mockResolvedValue([
      makeOperation({
        id: 'op-9',
        type: 'update',
        status: 'running',
        params: { version: '1.3.0' },
        finishedAt: undefined,
      }),
    ]);
    fireEvent.click(screen.getByRole('button', { name: 'Update' }));

    await waitFor(() =>
      expect(api.updatePlugin).toHaveBeenCalledWith('sample-http-service', {
        version: '1.3.0',
      }),
    );
    expect(
      await screen.findByTestId('lifecycle-target-version'),
    ).toHaveTextContent('1.3.0');
    expect(screen.getByRole('button', { name: /Following/ })).toBeEnabled();

    api.getPlugin.mockResolvedValue(makeDetails({ currentVersion: '1.3.0' }));
    api.listOperations.mockResolvedValue([
      makeOperation({
        id: 'op-9',
        type: 'update',
        status: 'succeeded',
        params: { version: '1.3.0' },
      }),
    ]);
    signals.send('operation');
    await waitFor(() =>
      expect(screen.getByTestId('lifecycle-version')).toHaveTextContent(
        '1.3.0',
      ),
    );
    expect(screen.queryByTestId('lifecycle-target-version')).toBeNull();
    // The "current" mark follows: the versions are listed again.
    await waitFor(() => expect(api.listVersions).toHaveBeenCalledTimes(2));
    expect(api.runCommand).not.toHaveBeenCalled();
  });

  it('takes a version typed by hand, and reports an update the API refused', async () => {
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
      target: { value: ' latest ' },
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
    expect(api.getPlugin.mock.calls.length).toBeGreaterThanOrEqual(2);
    expect(screen.getByRole('button', { name: 'Update' })).toBeEnabled();
  });

  it('keeps the version field free text when no versions can be listed, and says why', async () => {
    const api = makeFakeApi({
      listVersions: jest.fn(async () => ({
        pluginId: 'sample-http-service',
        source: 'npm' as const,
        items: [],
        problem: 'Could not list the npm versions: E404',
      })),
    });
    await renderContent(api);

    expect(
      await screen.findByText(
        'Could not list the npm versions: E404. Type a version.',
      ),
    ).toBeInTheDocument();
    fireEvent.change(screen.getByLabelText('New version'), {
      target: { value: '1.4.0' },
    });
    fireEvent.click(screen.getByRole('button', { name: 'Update' }));
    await waitFor(() =>
      expect(api.updatePlugin).toHaveBeenCalledWith('sample-http-service', {
        version: '1.4.0',
      }),
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
