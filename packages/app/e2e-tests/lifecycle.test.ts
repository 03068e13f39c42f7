import { Page } from '@playwright/test';
import { captureScreens, expect, test } from './fixtures';
import {
  SAMPLE_ENTITY,
  confirmAction,
  openLifecycle,
  signIn,
  stopAndUninstall,
} from './samplePlugin';

/**
 * The Plugin lifecycle tab in a real browser against the real backend
 * (started by scripts/e2e.sh with the sample plugin configured): install
 * 1.0.0 picked from the versions the artifact directory offers, start it,
 * see its instance answer over HTTP, update it to 1.1.0 and see the new
 * instance answer, stop and uninstall it (each confirmed), then find the
 * five operations newest first in the Operations table and the path in the
 * history. Leaves the plugin uninstalled, as it finds it.
 */
async function expectState(page: Page, state: string) {
  await expect(page.getByTestId('lifecycle-state')).toHaveText(state, {
    timeout: 60_000,
  });
}

/** Opens the list of a version field, checks it, and picks `version`. */
async function pickVersion(page: Page, label: string, version: string) {
  // By role: the open list of versions carries the same label.
  const field = page.getByRole('textbox', { name: label, exact: true });
  await field.click();
  const options = page.getByRole('listbox').getByRole('option');
  // The sample's tarballs (examples/dist), newest first.
  await expect(options).toHaveText([
    /^2\.1\.0/,
    /^2\.0\.0/,
    /^1\.1\.0/,
    /^1\.0\.0/,
  ]);
  await options.filter({ hasText: new RegExp(`^${version}`) }).click();
  await expect(field).toHaveValue(version);
}

test('drives the sample plugin through its lifecycle from the entity page', async ({
  page,
  request,
  allowConsoleErrors,
}) => {
  test.setTimeout(300_000);
  // The tab asks for the plugin, which does not exist before its first
  // install: the browser logs the API's 404.
  allowConsoleErrors(/status of 404/);
  await signIn(page);
  // Whatever another test left: uninstalled.
  await stopAndUninstall(page);
  await openLifecycle(page);

  await pickVersion(page, 'Version', '1.0.0');
  await page.getByRole('button', { name: 'Install', exact: true }).click();
  await expectState(page, 'installed');

  await page.getByRole('button', { name: 'Start', exact: true }).click();
  await expectState(page, 'running');

  // The instance the table shows answers over HTTP with its version.
  const instances = page.getByTestId('instances-table');
  const address = instances.getByText(/^127\.0\.0\.1:\d+$/).first();
  await expect(address).toBeVisible();
  const response = await request.get(`http://${await address.textContent()}/`);
  expect(await response.json()).toMatchObject({
    service: 'sample-http-service',
    version: '1.0.0',
  });
  await captureScreens(page, 'lifecycle-running');

  // Update the running plugin: its instances are rolled to 1.1.0.
  await pickVersion(page, 'New version', '1.1.0');
  await page.getByRole('button', { name: 'Update', exact: true }).click();
  await expect(page.getByTestId('lifecycle-version')).toHaveText('1.1.0', {
    timeout: 60_000,
  });
  await expectState(page, 'running');
  const operations = page.getByTestId('operations-table');
  const latest = operations.locator('tbody tr').first();
  await expect(latest.getByRole('cell').first()).toHaveText(
    'update 1.0.0 → 1.1.0',
    { timeout: 60_000 },
  );
  await expect(latest.getByTestId('operation-status')).toHaveText('succeeded', {
    timeout: 60_000,
  });
  // The update can be rolled back from its row.
  await expect(latest.getByRole('button', { name: 'Roll back' })).toBeEnabled();

  // The instances changed: the new one answers with the new version.
  const updatedAddress = instances
    .getByRole('row')
    .filter({ hasText: '1.1.0' })
    .filter({ hasText: 'running' })
    .getByText(/^127\.0\.0\.1:\d+$/)
    .first();
  await expect(updatedAddress).toBeVisible();
  const updated = await request.get(
    `http://${await updatedAddress.textContent()}/`,
  );
  expect(await updated.json()).toMatchObject({
    service: 'sample-http-service',
    version: '1.1.0',
  });
  // The replaced 1.0.0 instance is not among the current ones any more.
  await expect(
    instances.getByRole('row').filter({ hasText: '1.0.0' }),
  ).toHaveCount(0, { timeout: 30_000 });

  // Stop asks first; keeping it as is changes nothing.
  await page.getByRole('button', { name: 'Stop', exact: true }).click();
  await page
    .getByRole('dialog')
    .getByRole('button', { name: 'Keep as is' })
    .click();
  await expect(page.getByRole('dialog')).toBeHidden();
  await expectState(page, 'running');
  await confirmAction(page, 'Stop');
  await expectState(page, 'installed');
  // The stopped instances are behind the toggle.
  await expect(instances.getByText('No instance is running.')).toBeVisible();
  await instances.getByRole('checkbox').check();
  await expect(
    instances.getByRole('row').filter({ hasText: 'stopped' }).first(),
  ).toBeVisible();

  await confirmAction(page, 'Uninstall');
  await expectState(page, 'inactive');
  // An uninstalled plugin has no instances left, ended ones included.
  await expect(instances.getByText('Show ended (0)')).toBeVisible({
    timeout: 30_000,
  });
  await captureScreens(page, 'lifecycle-inactive');

  // The history shows the whole path.
  await page.getByText(/^History \(\d+ state changes\)$/).click();
  for (const state of [
    'installing',
    'starting',
    'updating',
    'stopping',
    'uninstalling',
  ]) {
    await expect(page.getByText(state, { exact: false }).first()).toBeVisible();
  }

  // The operations table starts with the five operations, newest first, all done.
  const rows = operations.locator('tbody tr');
  for (const [i, type] of [
    /^uninstall$/,
    /^stop$/,
    /^update 1\.0\.0 → 1\.1\.0$/,
    /^start$/,
    /^install 1\.0\.0$/,
  ].entries()) {
    await expect(rows.nth(i).getByRole('cell').first()).toHaveText(type);
    await expect(rows.nth(i).getByTestId('operation-status')).toHaveText(
      'succeeded',
    );
  }
  await expect(operations.getByRole('button', { name: 'Cancel' })).toHaveCount(
    0,
  );
  // The plugin no longer runs 1.1.0: nothing to roll back.
  await expect(
    operations.getByRole('button', { name: 'Roll back' }),
  ).toHaveCount(0);
});

test('only entities with the annotation have a Plugin lifecycle tab', async ({
  page,
}) => {
  await signIn(page);
  const lifecycleTab = page.locator('a[href$="/lifecycle"]');

  await page.goto(SAMPLE_ENTITY);
  await expect(lifecycleTab).toHaveCount(1);
  // Not "Lifecycle", which the catalog shows as a field of the entity.
  await expect(lifecycleTab).toHaveText('Plugin lifecycle');

  await page.goto('/catalog/default/system/plugin-lifecycle-examples');
  await expect(
    page.getByRole('heading', { name: 'Has components' }),
  ).toBeVisible();
  await expect(lifecycleTab).toHaveCount(0);
});
