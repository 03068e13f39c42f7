import { fireEvent, screen, waitFor, within } from '@testing-library/react';
import { Operation } from '@internal/plugin-lifecycle-common';
import {
  confirmDialog,
  finishedOperations,
  makeDetails,
  makeFakeApi,
  makeOperation,
  makeSignals,
  operationRows,
  renderContent,
  responseError,
} from './__testUtils__/lifecycle';
import { rollbackCandidate } from './operationActions';

// Full renders take seconds on a busy two-core machine (more while a
// queued operation makes the tab poll).
jest.setTimeout(60_000);

/** A succeeded update from 1.2.2 to 1.2.3 (the fake plugin's version). */
const succeededUpdate = makeOperation({
  id: 'op-update',
  type: 'update',
  params: { version: '1.2.3' },
  result: {
    fromVersion: '1.2.2',
    toVersion: '1.2.3',
    fromConfigRevision: 1,
    configRevision: 2,
    instances: [],
  },
  createdAt: '2025-01-01T10:07:00.000Z',
  finishedAt: '2025-01-01T10:07:30.000Z',
});

describe('rollbackCandidate', () => {
  it('is the newest succeeded update, when the plugin runs what it installed', () => {
    const older = {
      ...succeededUpdate,
      id: 'op-older',
      result: { ...succeededUpdate.result, toVersion: '1.2.2' },
    };
    const failed = makeOperation({ type: 'update', status: 'failed' });
    const ops: Operation[] = [failed, succeededUpdate, older];
    expect(rollbackCandidate(ops, '1.2.3')?.id).toBe('op-update');
    // The plugin moved on: nothing the API would accept.
    expect(rollbackCandidate(ops, '1.2.4')).toBeUndefined();
    // The newest succeeded update decides, not an older one that matches.
    expect(rollbackCandidate(ops, '1.2.2')).toBeUndefined();
    // An update that recorded no versions cannot be rolled back.
    expect(
      rollbackCandidate([{ ...succeededUpdate, result: {} }], '1.2.3'),
    ).toBeUndefined();
  });
});

describe('EntityLifecycleContent operations', () => {
  it('lists the operations of the plugin, newest first, with relative times', async () => {
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
    const times = rows[0].querySelectorAll('time');
    expect([...times].map(t => t.getAttribute('dateTime'))).toEqual([
      '2025-01-01T10:06:00.000Z',
      '2025-01-01T10:06:30.000Z',
    ]);
    expect(times[0].textContent).toMatch(/ago$/);

    expect(start.getByText('start')).toBeInTheDocument();
    expect(start.getByTestId('operation-status')).toHaveTextContent(
      'succeeded',
    );
    expect(start.getByText('1 of 3')).toBeInTheDocument();
    expect(start.getByText('user:default/someone')).toBeInTheDocument();

    expect(install.getByText('install')).toBeInTheDocument();

    // Nothing is under way: nothing to cancel or roll back.
    expect(screen.queryByRole('button', { name: 'Cancel' })).toBeNull();
    expect(screen.queryByRole('button', { name: 'Roll back' })).toBeNull();
    expect(screen.getByRole('button', { name: 'Refresh' })).toBeEnabled();
  });

  it('keeps headers on one line and shows a page of operations at a time', async () => {
    const many = Array.from({ length: 12 }, (_, i) =>
      makeOperation({ id: `op-${i}`, type: 'restart' }),
    );
    const api = makeFakeApi({ listOperations: jest.fn(async () => many) });
    await renderContent(api);

    await screen.findByTestId('operations-table');
    expect(operationRows()).toHaveLength(5);
    const header = within(screen.getByTestId('operations-table')).getByText(
      'Status',
    );
    expect(header.closest('th')).toHaveStyle({ whiteSpace: 'nowrap' });
  });

  it('says so when there are no operations', async () => {
    const api = makeFakeApi({ listOperations: jest.fn(async () => []) });
    await renderContent(api);

    expect(await screen.findByText('No operations yet.')).toBeInTheDocument();
  });

  it('offers Cancel only for queued operations, asks, and cancels them', async () => {
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
    expect(
      within(rows[1]).queryByRole('button', { name: 'Cancel' }),
    ).toBeNull();
    // One button, in the row of the queued operation
    expect(screen.getAllByRole('button', { name: 'Cancel' })).toHaveLength(1);
    const cancel = within(rows[0]).getByRole('button', { name: 'Cancel' });

    fireEvent.click(cancel);
    expect(screen.getByText('Cancel the queued stop?')).toBeInTheDocument();
    await confirmDialog('Keep as is');
    expect(api.cancelOperation).not.toHaveBeenCalled();

    api.listOperations.mockResolvedValue([
      { ...queued, status: 'cancelled', error: 'cancelled by user' },
      { ...running, status: 'succeeded' },
      ...finishedOperations,
    ]);
    // The table may have drawn its cells anew meanwhile.
    fireEvent.click(
      within(operationRows()[0]).getByRole('button', { name: 'Cancel' }),
    );
    await confirmDialog('Cancel operation');

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
    await confirmDialog('Cancel operation');

    expect(
      await screen.findByText('Error: Could not cancel the operation'),
    ).toBeInTheDocument();
    expect(
      screen.getByText(
        "Operation 'op-9' is running and cannot be cancelled (409 Conflict)",
      ),
    ).toBeInTheDocument();
    expect(api.cancelOperation).toHaveBeenCalledWith('op-9');
    await waitFor(() =>
      expect(screen.getByRole('button', { name: 'Cancel' })).toBeEnabled(),
    );
  });

  it('disables Cancel without the permission of the operation', async () => {
    const api = makeFakeApi({
      listOperations: jest.fn(async () => [
        makeOperation({ id: 'op-9', type: 'uninstall', status: 'queued' }),
      ]),
    });
    await renderContent(api, { denied: ['plugin-lifecycle.plugin.deploy'] });

    const cancel = await screen.findByRole('button', { name: 'Cancel' });
    await waitFor(() => expect(cancel).toBeDisabled());
  });

  it('offers the rollback of the last update, asks, and rolls it back', async () => {
    const api = makeFakeApi({
      listOperations: jest.fn(async () => [
        succeededUpdate,
        ...finishedOperations,
      ]),
    });
    await renderContent(api);

    await screen.findByTestId('operations-table');
    const [updateRow] = operationRows();
    expect(
      within(updateRow).getByText('update 1.2.2 → 1.2.3'),
    ).toBeInTheDocument();
    const rollback = within(updateRow).getByRole('button', {
      name: 'Roll back',
    });
    await waitFor(() => expect(rollback).toBeEnabled());
    fireEvent.click(rollback);
    expect(screen.getByText('Roll back to 1.2.2?')).toBeInTheDocument();
    await confirmDialog('Roll back');

    await waitFor(() =>
      expect(api.rollbackUpdate).toHaveBeenCalledWith(
        'sample-http-service',
        'op-update',
      ),
    );
  });

  it('reports a rollback the API refused, and disables it without deploy', async () => {
    const api = makeFakeApi({
      listOperations: jest.fn(async () => [succeededUpdate]),
      rollbackUpdate: jest.fn(async () => {
        throw await responseError(409, 'Conflict', {
          name: 'ConflictError',
          message: 'the plugin runs 1.2.4 now',
        });
      }),
    });
    const { unmount } = await renderContent(api);
    fireEvent.click(await screen.findByRole('button', { name: 'Roll back' }));
    await confirmDialog('Roll back');
    expect(
      await screen.findByText('Error: Could not roll the update back'),
    ).toBeInTheDocument();
    expect(
      screen.getByText('the plugin runs 1.2.4 now (409 Conflict)'),
    ).toBeInTheDocument();
    unmount();

    await renderContent(api, { denied: ['plugin-lifecycle.plugin.deploy'] });
    const rollback = await screen.findByRole('button', { name: 'Roll back' });
    await waitFor(() => expect(rollback).toBeDisabled());
  });

  it('follows the plugin while an operation is under way, without signals by polling', async () => {
    const api = makeFakeApi({ listOperations: jest.fn(async () => []) });
    await renderContent(api);

    // The state is stable (running), but a stop is now queued.
    api.listOperations.mockResolvedValue([
      makeOperation({ id: 'op-4', type: 'stop', status: 'queued' }),
    ]);
    fireEvent.click(await screen.findByRole('button', { name: 'Refresh' }));
    expect(
      await screen.findByRole('button', { name: /Following/ }),
    ).toBeEnabled();
    expect(screen.getByTestId('lifecycle-state')).toHaveTextContent('running');
    // The lifecycle actions wait for the operation.
    expect(screen.getByRole('button', { name: 'Stop' })).toBeDisabled();

    // Busy without signals: the tab polls (every 2 s) until it ends.
    api.listOperations.mockResolvedValue([
      makeOperation({ id: 'op-4', type: 'stop', status: 'succeeded' }),
    ]);
    await waitFor(
      () =>
        expect(screen.getByRole('button', { name: 'Refresh' })).toBeEnabled(),
      { timeout: 10_000 },
    );
    expect(screen.getByRole('button', { name: 'Stop' })).toBeEnabled();
  });

  it('reloads on a signal of the plugin, and not on its own while idle with signals', async () => {
    const api = makeFakeApi();
    const signals = makeSignals();
    await renderContent(api, { signals });
    await screen.findByTestId('lifecycle-state');
    const calls = api.getPlugin.mock.calls.length;

    api.getPlugin.mockResolvedValue(
      makeDetails({ state: 'error', availableActions: ['start'] }),
    );
    await new Promise(resolve => setTimeout(resolve, 600));
    expect(api.getPlugin).toHaveBeenCalledTimes(calls);

    signals.send('state');
    await waitFor(() =>
      expect(screen.getByTestId('lifecycle-state')).toHaveTextContent('error'),
    );
  });
});
