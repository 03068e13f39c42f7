import { fireEvent, screen, waitFor, within } from '@testing-library/react';
import {
  configureOperation,
  makeFakeApi,
  PLUGIN_ID,
  productionLatest,
  productionVersions,
  summary,
} from './__fixtures__/configuration';
import { editorRow, renderContent } from './__testUtils__/renderContent';

// The whole tab renders in jsdom; the apply is polled every 2 s without signals.
jest.setTimeout(30_000);

const saveButton = () =>
  screen.getByRole('button', { name: 'Save configuration' });

describe('LayerEditorCard', () => {
  it('disables Save while the draft equals what is stored', async () => {
    const api = makeFakeApi();
    await renderContent(api);
    await screen.findByTestId('config-editor');

    expect(saveButton()).toBeDisabled();
    expect(
      screen.getByRole('button', { name: 'Discard changes' }),
    ).toBeDisabled();
    expect(screen.getByTestId('config-save-hint')).toHaveTextContent(
      'No changes to save.',
    );

    // A change enables it; typing the stored value again disables it again.
    const workers = editorRow(2).getByLabelText('Value');
    fireEvent.change(workers, { target: { value: '9' } });
    expect(saveButton()).toBeEnabled();
    fireEvent.change(workers, { target: { value: '8' } });
    expect(saveButton()).toBeDisabled();
    // The JSON value written another way is the same value.
    fireEvent.change(editorRow(4).getByLabelText('Value'), {
      target: { value: '{ "rps":100 }' },
    });
    expect(saveButton()).toBeDisabled();
    // A change description alone changes no entry.
    fireEvent.change(screen.getByLabelText('Change description'), {
      target: { value: 'nothing really' },
    });
    expect(saveButton()).toBeDisabled();
    fireEvent.click(saveButton());
    expect(api.setConfiguration).not.toHaveBeenCalled();
  });

  it('catches duplicate and malformed keys in the form, next to the field', async () => {
    const api = makeFakeApi();
    await renderContent(api);
    await screen.findByTestId('config-editor');

    fireEvent.click(screen.getByRole('button', { name: 'Add entry' }));
    const added = editorRow(5);
    expect(added.getByText('A key is needed')).toBeVisible();
    fireEvent.change(added.getByLabelText('Key'), {
      target: { value: 'workers' },
    });
    fireEvent.change(added.getByLabelText('Value'), {
      target: { value: 'x' },
    });
    // Both rows with the key say so.
    expect(added.getByText('Another row has this key')).toBeVisible();
    expect(editorRow(2).getByText('Another row has this key')).toBeVisible();
    expect(added.getByLabelText('Key')).toHaveAttribute('aria-invalid', 'true');
    expect(saveButton()).toBeDisabled();
    expect(screen.getByTestId('config-save-hint')).toHaveTextContent(
      'Fix the fields marked in red to save.',
    );

    fireEvent.change(added.getByLabelText('Key'), {
      target: { value: 'has space' },
    });
    expect(added.getByText(/^The key must be letters, digits/)).toBeVisible();
    expect(editorRow(2).queryByText('Another row has this key')).toBeNull();

    fireEvent.change(added.getByLabelText('Key'), {
      target: { value: 'region' },
    });
    expect(saveButton()).toBeEnabled();
    fireEvent.click(saveButton());
    await waitFor(() => expect(api.setConfiguration).toHaveBeenCalledTimes(1));
  });

  it('follows the apply and shows a change the server rolled back', async () => {
    const rolledBack = summary('production', 5, {
      rolledBackFrom: 3,
      author: 'plugin-lifecycle:configure',
      description:
        'automatic rollback: configuration revision 14 failed (restart): instance not ready',
    });
    const error =
      'configuration revision 14 failed (restart): instance not ready; instances and configuration restored (production version 5)';
    let ended = false;
    let saved = false;
    const api = makeFakeApi({
      getOperation: jest.fn(async () =>
        ended
          ? configureOperation({ status: 'failed', error, result: undefined })
          : configureOperation({ status: 'running', result: undefined }),
      ),
      setConfiguration: jest.fn(async (_id, layer) => {
        saved = true;
        return {
          version: summary(layer, 4),
          changed: true,
          operationId: 'op-42',
        };
      }),
      // After the save: v4; once the server rolled it back: v5.
      listConfigVersions: jest.fn(async () => {
        if (ended) {
          return [rolledBack, summary('production', 4), ...productionVersions];
        }
        return saved
          ? [summary('production', 4), ...productionVersions]
          : productionVersions;
      }),
      getConfigVersion: jest.fn(async (_id, _layer, version) => ({
        ...productionLatest,
        version,
      })),
    });
    await renderContent(api);
    await screen.findByTestId('config-editor');

    fireEvent.change(editorRow(2).getByLabelText('Value'), {
      target: { value: '9' },
    });
    fireEvent.click(saveButton());

    const status = await screen.findByTestId('config-apply-status');
    await waitFor(() => expect(status).toHaveTextContent(/running/));
    expect(status).toHaveTextContent(
      'Applying production v4 to running instances (operation op-42: running)',
    );
    expect(screen.getByText('Latest version: v4')).toBeInTheDocument();

    // The server gives up on the change: no Refresh, the tab follows it.
    ended = true;
    await waitFor(
      () =>
        expect(screen.getByTestId('config-apply-status')).toHaveAttribute(
          'data-outcome',
          'rolled-back',
        ),
      { timeout: 10_000 },
    );
    const outcome = screen.getByTestId('config-apply-status');
    expect(outcome).toHaveTextContent(
      'The server rolled back production v4: running instances could not take it',
    );
    expect(outcome).toHaveTextContent(/instance not ready/);
    // The version the server kept is the current one, everywhere.
    expect(await screen.findByText('Latest version: v5')).toBeInTheDocument();
    expect(outcome).toHaveTextContent('The layer is at v5 now');
    const v5 = within(screen.getByTestId('config-version-5'));
    expect(v5.getByText('latest')).toBeInTheDocument();
    expect(v5.getByText('automatic rollback')).toBeInTheDocument();
    expect(v5.getByText(/^automatic rollback: configuration/)).toBeVisible();
    const v4 = within(screen.getByTestId('config-version-4'));
    expect(v4.getByText('rolled back by the server')).toBeInTheDocument();
    expect(
      within(screen.getByTestId('config-version-3')).queryByText(
        'rolled back by the server',
      ),
    ).toBeNull();
    expect(api.getConfiguration).toHaveBeenLastCalledWith(
      PLUGIN_ID,
      'production',
    );
    expect(screen.queryByText(/Applying production v4/)).toBeNull();
  });

  it('follows an apply already under way when the tab opens', async () => {
    let ended = false;
    const running = configureOperation({
      id: 'op-7',
      status: 'running',
      params: { layer: 'production', version: 3, revision: 13 },
      result: undefined,
    });
    const api = makeFakeApi({
      listOperations: jest.fn(async () => [
        configureOperation({ id: 'op-6', status: 'failed', error: 'old' }),
        running,
        configureOperation({
          id: 'op-5',
          status: 'queued',
          params: { layer: 'base', version: 2 },
        }),
      ]),
      getOperation: jest.fn(async () =>
        ended
          ? {
              ...running,
              status: 'succeeded' as const,
              result: { revision: 13, strategy: 'signal', instances: 2 },
            }
          : running,
      ),
    });
    await renderContent(api);

    const status = await screen.findByTestId('config-apply-status');
    await waitFor(() =>
      expect(status).toHaveTextContent(
        'Applying production v3 to running instances (operation op-7: running)',
      ),
    );
    expect(api.listOperations).toHaveBeenCalledWith(PLUGIN_ID, { limit: 20 });
    ended = true;
    await waitFor(
      () =>
        expect(screen.getByTestId('config-apply-status')).toHaveTextContent(
          'Applied production v3 to 2 running instance(s) by signal.',
        ),
      { timeout: 10_000 },
    );
  });

  it('says a write that changed nothing starts no apply', async () => {
    const api = makeFakeApi({
      setConfiguration: jest.fn(async (_id, layer) => ({
        version: summary(layer, 3),
        changed: false,
      })),
    });
    await renderContent(api);
    await screen.findByTestId('config-editor');
    fireEvent.change(editorRow(2).getByLabelText('Value'), {
      target: { value: '9' },
    });
    fireEvent.click(saveButton());

    expect(await screen.findByTestId('config-save-result')).toHaveTextContent(
      'No change: production stays at v3.',
    );
    expect(screen.queryByTestId('config-apply-status')).toBeNull();
    expect(api.getOperation).not.toHaveBeenCalled();
  });
});
