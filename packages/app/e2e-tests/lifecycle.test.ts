import { test, expect, Page } from '@playwright/test';

/**
 * The Lifecycle tab in a real browser against the real backend (started by
 * scripts/e2e.sh with the sample plugin configured): install 1.0.0, start it,
 * see its instance answer over HTTP, stop it and uninstall it, then find the
 * four operations in the Operations table.
 */
async function signIn(page: Page) {
  await page.goto('/');
  await page.getByRole('button', { name: 'Enter' }).click();
  const nav = page.getByRole('navigation', { name: 'sidebar nav' });
  await expect(
    nav.getByRole('link', { name: 'Catalog', exact: true }),
  ).toBeVisible();
}

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

  await page.getByRole('button', { name: 'Stop', exact: true }).click();
  await expectState(page, 'installed');
  await page.getByRole('button', { name: 'Uninstall', exact: true }).click();
  await expectState(page, 'inactive');

  // The history table shows the whole path.
  for (const state of ['installing', 'starting', 'stopping', 'uninstalling']) {
    await expect(page.getByText(state, { exact: false }).first()).toBeVisible();
  }

  // The operations table lists the four operations, newest first, all done.
  const operations = page.getByTestId('operations-table');
  await expect(operations.getByTestId('operation-status')).toHaveText(
    ['succeeded', 'succeeded', 'succeeded', 'succeeded'],
    { timeout: 30_000 },
  );
  const rows = operations.locator('tbody tr');
  await expect(rows).toHaveCount(4);
  for (const [i, type] of ['uninstall', 'stop', 'start', 'install'].entries()) {
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
