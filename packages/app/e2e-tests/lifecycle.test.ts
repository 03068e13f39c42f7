import { test, expect, Page } from '@playwright/test';
import { signIn } from './samplePlugin';

/**
 * The Lifecycle tab in a real browser against the real backend (started by
 * scripts/e2e.sh with the sample plugin configured): install 1.0.0, start it,
 * see its instance answer over HTTP, update it to 1.1.0 and see the new
 * instance answer, stop it and uninstall it, then find the five operations in
 * the Operations table.
 */
async function expectState(page: Page, state: string) {
  await expect(page.getByTestId('lifecycle-state')).toHaveText(state, {
    timeout: 60_000,
  });
}

test('drives the sample plugin through its lifecycle from the entity page', async ({
  page,
  request,
}) => {
  await signIn(page);
  await page.goto('/catalog/default/component/sample-http-service/lifecycle');

  await expect(page.getByText('Not installed yet')).toBeVisible();
  await page.getByLabel('Version').fill('1.0.0');
  await page.getByRole('button', { name: 'Install', exact: true }).click();
  await expectState(page, 'installed');

  await page.getByRole('button', { name: 'Start', exact: true }).click();
  await expectState(page, 'running');
  await page.screenshot({
    path: 'node_modules/.cache/e2e-test-results/lifecycle-running.png',
    fullPage: true,
  });

  // The instance the table shows answers over HTTP with its version.
  const address = page.getByText(/^127\.0\.0\.1:\d+$/).first();
  await expect(address).toBeVisible();
  const response = await request.get(`http://${await address.textContent()}/`);
  expect(await response.json()).toMatchObject({
    service: 'sample-http-service',
    version: '1.0.0',
  });

  // Update the running plugin: its instances are rolled to 1.1.0.
  await page.getByLabel('New version').fill('1.1.0');
  await page.getByRole('button', { name: 'Update', exact: true }).click();
  await expect(page.getByTestId('lifecycle-version')).toHaveText('1.1.0', {
    timeout: 60_000,
  });
  await expectState(page, 'running');
  const operations = page.getByTestId('operations-table');
  const latest = operations.locator('tbody tr').first();
  await expect(latest.getByRole('cell').first()).toHaveText('update', {
    timeout: 60_000,
  });
  await expect(latest.getByTestId('operation-status')).toHaveText('succeeded', {
    timeout: 60_000,
  });

  // The instances changed: the new one answers with the new version.
  const updatedAddress = page
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

  await page.getByRole('button', { name: 'Stop', exact: true }).click();
  await expectState(page, 'installed');
  await page.getByRole('button', { name: 'Uninstall', exact: true }).click();
  await expectState(page, 'inactive');

  // The history table shows the whole path.
  for (const state of [
    'installing',
    'starting',
    'updating',
    'stopping',
    'uninstalling',
  ]) {
    await expect(page.getByText(state, { exact: false }).first()).toBeVisible();
  }

  // The operations table lists the five operations, newest first, all done.
  await expect(operations.getByTestId('operation-status')).toHaveText(
    ['succeeded', 'succeeded', 'succeeded', 'succeeded', 'succeeded'],
    { timeout: 30_000 },
  );
  const rows = operations.locator('tbody tr');
  await expect(rows).toHaveCount(5);
  for (const [i, type] of [
    'uninstall',
    'stop',
    'update',
    'start',
    'install',
  ].entries()) {
    await expect(rows.nth(i).getByRole('cell').first()).toHaveText(type);
  }
  await expect(operations.getByRole('button', { name: 'Cancel' })).toHaveCount(
    0,
  );
});

test('only entities with the annotation have a Lifecycle tab', async ({
  page,
}) => {
  await signIn(page);
  const lifecycleTab = page.locator('a[href$="/lifecycle"]');

  await page.goto('/catalog/default/component/sample-http-service');
  await expect(lifecycleTab).toHaveCount(1);

  await page.goto('/catalog/default/system/plugin-lifecycle-examples');
  await expect(
    page.getByRole('heading', { name: 'Has components' }),
  ).toBeVisible();
  await expect(lifecycleTab).toHaveCount(0);
});
