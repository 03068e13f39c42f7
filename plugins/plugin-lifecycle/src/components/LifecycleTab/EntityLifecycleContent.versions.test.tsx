import { fireEvent, screen, waitFor, within } from '@testing-library/react';
import {
  availableVersions,
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

describe('EntityLifecycleContent versions', () => {
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
});
