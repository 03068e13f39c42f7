import { fireEvent, screen, waitFor, within } from '@testing-library/react';
import {
  PLUGIN_ID,
  makeFakeApi,
  responseError,
} from './__fixtures__/configuration';
import { editorRow, renderContent } from './__testUtils__/renderContent';

/** The row of the effective configuration that shows a key. */
function effectiveRow(key: string): HTMLElement {
  const table = within(screen.getByTestId('effective-config-table'));
  return table.getByText(key).closest('tr') as HTMLElement;
}

// Each test renders the whole tab (Material UI tables, a dialog) in jsdom,
// which takes seconds on a busy machine.
jest.setTimeout(45_000);

describe('EntityConfigurationContent', () => {
  it('shows the effective configuration with provenance and masked secrets', async () => {
    const api = makeFakeApi();
    await renderContent(api);

    expect(await screen.findByTestId('effective-config-table')).toBeVisible();
    expect(screen.getByLabelText('Environment')).toHaveValue('production');
    expect(api.getConfiguration).toHaveBeenCalledWith(PLUGIN_ID, 'production');
    expect(screen.getByTestId('config-environment-version')).toHaveTextContent(
      'v3',
    );
    expect(screen.getByTestId('config-base-version')).toHaveTextContent('v2');
    expect(screen.getByTestId('config-revision')).toHaveTextContent('7');

    const url = within(effectiveRow('database.url'));
    expect(url.getByTestId('config-value')).toHaveTextContent(
      'postgres://db.internal/sample',
    );
    expect(url.getByTestId('config-source')).toHaveTextContent('base v2');
    expect(url.getByText('Where the data lives')).toBeInTheDocument();

    const token = within(effectiveRow('api.token'));
    expect(token.getByTestId('config-source')).toHaveTextContent(
      'production v3',
    );
    const masked = token.getByTestId('config-value-masked');
    expect(masked).toHaveTextContent('••••');
    expect(within(masked).getByText('secret')).toBeInTheDocument();
    expect(within(masked).getByTitle('hidden')).toBeInTheDocument();
    expect(screen.queryByText('********')).toBeNull();

    // Another environment
    fireEvent.change(screen.getByLabelText('Environment'), {
      target: { value: 'development' },
    });
    await waitFor(() =>
      expect(api.getConfiguration).toHaveBeenCalledWith(
        PLUGIN_ID,
        'development',
      ),
    );
    expect(api.listConfigVersions).toHaveBeenCalledWith(
      PLUGIN_ID,
      'development',
    );
  });

  it('edits the environment layer and saves it check-and-set', async () => {
    const api = makeFakeApi();
    await renderContent(api);

    await screen.findByTestId('config-editor');
    expect(screen.getByLabelText('Layer')).toHaveValue('production');
    expect(api.getConfigVersion).toHaveBeenCalledWith(
      PLUGIN_ID,
      'production',
      3,
    );
    // Masked secrets load empty, as password fields
    const token = editorRow(0).getByLabelText('Value');
    expect(token).toHaveAttribute('type', 'password');
    expect(token).toHaveValue('');
    expect(editorRow(0).getByLabelText('Key')).toHaveValue('api.token');
    expect(editorRow(0).getByLabelText('Type')).toHaveValue('secret');
    expect(editorRow(0).getByLabelText('Required')).toBeChecked();

    // Replace one secret, leave the other alone (emptying the field again
    // keeps the stored value)
    fireEvent.change(token, { target: { value: 'oops' } });
    fireEvent.change(token, { target: { value: '' } });
    fireEvent.change(editorRow(1).getByLabelText('Value'), {
      target: { value: 'new-signing-key' },
    });
    fireEvent.change(editorRow(2).getByLabelText('Value'), {
      target: { value: '12' },
    });
    fireEvent.click(editorRow(3).getByLabelText('Value'));
    fireEvent.change(editorRow(4).getByLabelText('Value'), {
      target: { value: '{"rps": 250}' },
    });
    // A new entry
    fireEvent.click(screen.getByRole('button', { name: 'Add entry' }));
    fireEvent.change(editorRow(5).getByLabelText('Key'), {
      target: { value: 'region' },
    });
    fireEvent.change(editorRow(5).getByLabelText('Value'), {
      target: { value: 'eu-west-1' },
    });
    fireEvent.click(editorRow(5).getByLabelText('Sensitive'));
    fireEvent.change(screen.getByLabelText('Change description'), {
      target: { value: 'more workers' },
    });

    fireEvent.click(screen.getByRole('button', { name: 'Save configuration' }));

    await waitFor(() => expect(api.setConfiguration).toHaveBeenCalledTimes(1));
    expect(api.setConfiguration).toHaveBeenCalledWith(PLUGIN_ID, 'production', {
      expectedVersion: 3,
      description: 'more workers',
      entries: [
        {
          key: 'api.token',
          type: 'secret',
          value: '********',
          required: true,
          rotateAt: '2026-01-01T00:00:00.000Z',
        },
        { key: 'signing.key', type: 'secret', value: 'new-signing-key' },
        { key: 'workers', type: 'number', value: 12 },
        { key: 'tracing', type: 'boolean', value: true },
        {
          key: 'limits',
          type: 'json',
          value: { rps: 250 },
          description: 'Per-tenant limits',
        },
        { key: 'region', type: 'string', value: 'eu-west-1', sensitive: true },
      ],
    });
    expect(await screen.findByTestId('config-save-result')).toHaveTextContent(
      'Saved production v4.',
    );
    // Followed to its end: the operation that applies it.
    expect(await screen.findByTestId('config-apply-status')).toHaveTextContent(
      'Applied production v4 to 1 running instance(s) by restart.',
    );
    expect(api.getOperation).toHaveBeenCalledWith('op-42');
    // Everything reloads, after the save and once it was applied
    await waitFor(() =>
      expect(api.listConfigVersions).toHaveBeenCalledTimes(3),
    );
    expect(api.getConfiguration).toHaveBeenCalledTimes(3);
  });

  it('saves the base layer against its own version', async () => {
    const api = makeFakeApi();
    await renderContent(api);

    fireEvent.change(await screen.findByLabelText('Layer'), {
      target: { value: 'base' },
    });
    await waitFor(() =>
      expect(editorRow(0).getByLabelText('Key')).toHaveValue('database.url'),
    );
    expect(api.listConfigVersions).toHaveBeenCalledWith(PLUGIN_ID, 'base');
    fireEvent.click(editorRow(0).getByRole('button', { name: 'Remove' }));
    fireEvent.click(screen.getByRole('button', { name: 'Save configuration' }));

    await waitFor(() =>
      expect(api.setConfiguration).toHaveBeenCalledWith(PLUGIN_ID, 'base', {
        entries: [],
        expectedVersion: 2,
      }),
    );
  });

  it('says so when someone else saved the layer first', async () => {
    const api = makeFakeApi({
      setConfiguration: jest.fn(async () => {
        throw await responseError(409, 'Conflict', {
          name: 'ConflictError',
          message:
            "Configuration 'production' of plugin 'sample-http-service' is at version 4, not the expected 3; read it again and retry",
        });
      }),
    });
    await renderContent(api);

    await screen.findByTestId('config-editor');
    fireEvent.change(editorRow(2).getByLabelText('Value'), {
      target: { value: '9' },
    });
    fireEvent.click(screen.getByRole('button', { name: 'Save configuration' }));

    const error = await screen.findByTestId('config-save-error');
    expect(
      within(error).getByText(
        'Error: Conflict: someone else changed this layer since it was loaded',
      ),
    ).toBeInTheDocument();
    expect(
      within(error).getByText(/is at version 4, not the expected 3/),
    ).toBeInTheDocument();
    expect(screen.queryByTestId('config-save-result')).toBeNull();

    fireEvent.click(
      within(error).getByRole('button', { name: /Reload layer/ }),
    );
    await waitFor(() =>
      expect(api.listConfigVersions).toHaveBeenCalledTimes(2),
    );
    expect(screen.queryByTestId('config-save-error')).toBeNull();
  });

  it("shows the backend's validation errors next to the fields they name", async () => {
    const message =
      "Invalid configuration for 'sample-http-service' (production): workers: must be <= 64; (document): must have required property 'region'";
    const api = makeFakeApi({
      setConfiguration: jest.fn(async () => {
        throw await responseError(400, 'Bad Request', {
          name: 'InputError',
          message,
        });
      }),
    });
    await renderContent(api);

    await screen.findByTestId('config-editor');
    fireEvent.change(editorRow(2).getByLabelText('Value'), {
      target: { value: '500' },
    });
    fireEvent.click(screen.getByRole('button', { name: 'Save configuration' }));

    expect(await editorRow(2).findByText('must be <= 64')).toBeVisible();
    expect(editorRow(2).getByLabelText('Value')).toHaveAttribute(
      'aria-invalid',
      'true',
    );
    // What names no field stays above the form.
    expect(screen.getByTestId('config-save-invalid')).toHaveTextContent(
      "(document): must have required property 'region'",
    );
    expect(screen.queryByTestId('config-save-error')).toBeNull();
    // Editing the field clears its error.
    fireEvent.change(editorRow(2).getByLabelText('Value'), {
      target: { value: '50' },
    });
    expect(editorRow(2).queryByText('must be <= 64')).toBeNull();
  });

  it('does not send values that do not parse', async () => {
    const api = makeFakeApi();
    await renderContent(api);

    await screen.findByTestId('config-editor');
    fireEvent.change(editorRow(4).getByLabelText('Value'), {
      target: { value: '{rps: ' },
    });

    expect(
      await editorRow(4).findByText(/^Not valid JSON/),
    ).toBeInTheDocument();
    const save = screen.getByRole('button', { name: 'Save configuration' });
    expect(save).toBeDisabled();
    fireEvent.click(save);
    expect(api.setConfiguration).not.toHaveBeenCalled();
  });

  it('lists the versions of the layer and shows the diff of two', async () => {
    const api = makeFakeApi();
    await renderContent(api);

    const v3 = within(await screen.findByTestId('config-version-3'));
    expect(v3.getByText('v3')).toBeInTheDocument();
    expect(v3.getByText('latest')).toBeInTheDocument();
    expect(v3.getByText('rollback of v1')).toBeInTheDocument();
    expect(v3.queryByRole('button', { name: /Roll back/ })).toBeNull();
    const v2 = within(screen.getByTestId('config-version-2'));
    expect(v2.getByText('user:default/someone')).toBeInTheDocument();
    expect(v2.getByText('change 2')).toBeInTheDocument();
    expect(screen.queryByTestId('config-diff')).toBeNull();

    fireEvent.click(screen.getByLabelText('Compare v3'));
    fireEvent.click(screen.getByLabelText('Compare v1'));

    const diff = await screen.findByTestId('config-diff');
    expect(api.diffConfigVersions).toHaveBeenCalledWith(
      PLUGIN_ID,
      'production',
      1,
      3,
    );
    expect(diff).toHaveTextContent('Changes from v1 to v3');
    const keys = (testId: string) =>
      within(diff)
        .getAllByTestId(testId)
        .map(item => within(item).getByTestId('config-diff-key').textContent);
    expect(keys('config-diff-added')).toEqual(['tracing']);
    expect(keys('config-diff-removed')).toEqual(['legacy.mode']);
    expect(keys('config-diff-changed')).toEqual(['api.token', 'workers']);
    const [token, workers] = within(diff).getAllByTestId('config-diff-changed');
    expect(within(token).getAllByTestId('config-value-masked')).toHaveLength(2);
    expect(workers).toHaveTextContent('4→8');
    expect(diff).not.toHaveTextContent('********');
  });

  it('rolls the layer back to an earlier version after confirmation', async () => {
    const api = makeFakeApi();
    await renderContent(api);

    fireEvent.click(
      await screen.findByRole('button', { name: 'Roll back to v1' }),
    );
    const dialog = await screen.findByRole('dialog');
    expect(dialog).toHaveTextContent('Roll back production to v1?');
    fireEvent.click(within(dialog).getByRole('button', { name: 'Cancel' }));
    await waitFor(() => expect(screen.queryByRole('dialog')).toBeNull());
    expect(api.rollbackConfiguration).not.toHaveBeenCalled();

    fireEvent.click(screen.getByRole('button', { name: 'Roll back to v1' }));
    fireEvent.click(
      within(await screen.findByRole('dialog')).getByRole('button', {
        name: 'Confirm rollback',
      }),
    );

    await waitFor(() =>
      expect(api.rollbackConfiguration).toHaveBeenCalledWith(
        PLUGIN_ID,
        'production',
        { toVersion: 1, expectedVersion: 3 },
      ),
    );
    expect(
      await screen.findByTestId('config-rollback-result'),
    ).toHaveTextContent('Rolled production back to v1 as v4.');
    await waitFor(() =>
      expect(api.listConfigVersions).toHaveBeenCalledTimes(2),
    );
  });

  it('reports a rollback the backend refused', async () => {
    const api = makeFakeApi({
      rollbackConfiguration: jest.fn(async () => {
        throw await responseError(409, 'Conflict', {
          name: 'ConflictError',
          message: 'changed while writing',
        });
      }),
    });
    await renderContent(api);

    fireEvent.click(
      await screen.findByRole('button', { name: 'Roll back to v2' }),
    );
    fireEvent.click(
      within(await screen.findByRole('dialog')).getByRole('button', {
        name: 'Confirm rollback',
      }),
    );

    const error = await screen.findByTestId('config-rollback-error');
    expect(error).toHaveTextContent(
      /Conflict: someone else changed this layer/,
    );
    expect(error).toHaveTextContent('changed while writing (409 Conflict)');
  });

  it('says so for a plugin that was never installed', async () => {
    const notFound = async () => {
      throw await responseError(404, 'Not Found', {
        name: 'NotFoundError',
        message: 'no such plugin',
      });
    };
    const api = makeFakeApi({
      getConfiguration: jest.fn(notFound),
      listConfigVersions: jest.fn(notFound),
    });
    await renderContent(api);

    expect(await screen.findByText('Not installed yet')).toBeInTheDocument();
    expect(screen.queryByTestId('config-editor')).toBeNull();
  });

  it('is read-only without the configure permission', async () => {
    const api = makeFakeApi();
    await renderContent(api, ['plugin-lifecycle.plugin.configure']);
    expect(await screen.findByTestId('config-read-only')).toBeVisible();
    expect(
      screen.getByRole('button', { name: 'Save configuration' }),
    ).toBeDisabled();
    expect(
      await screen.findByRole('button', { name: 'Roll back to v1' }),
    ).toBeDisabled();
  });

  it('shows secrets in plaintext only with the reveal permission', async () => {
    const api = makeFakeApi();
    await renderContent(api);
    fireEvent.click(
      await screen.findByRole('button', { name: 'Show secrets' }),
    );
    await waitFor(() =>
      expect(api.getConfiguration).toHaveBeenCalledWith(
        PLUGIN_ID,
        'production',
        { reveal: true },
      ),
    );
    expect(
      await screen.findByRole('button', { name: 'Hide secrets' }),
    ).toBeVisible();
  });

  it('offers no reveal without the reveal permission', async () => {
    await renderContent(makeFakeApi(), ['plugin-lifecycle.config.reveal']);
    expect(await screen.findByTestId('effective-config-table')).toBeVisible();
    expect(screen.queryByRole('button', { name: 'Show secrets' })).toBeNull();
    expect(screen.queryByTestId('config-read-only')).toBeNull();
  });
});
