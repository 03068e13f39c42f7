import { Page } from '@playwright/test';
import { test, expect, captureScreens } from './fixtures';
import { uninstallSample } from './sampleApi';
import {
  SAMPLE_ENTITY,
  ensureRunning,
  openLifecycle,
  signIn,
} from './samplePlugin';

/**
 * The fleet page, the Overview card and the scaffolder template in a real
 * browser against the real backend: the sidebar item opens the page, which
 * lists both sample plugins; the sample plugin started in another tab turns
 * running on the page without a reload; its row leads to the entity, whose
 * Overview shows the card; the template is on the Create page.
 *
 * Named to run after lifecycle.test.ts (files run in name order, one
 * worker): that test expects a plugin that was never installed, and an
 * uninstalled plugin is not that (it stays listed, inactive). Whatever state
 * the sample plugin is in, it is brought to running here and left
 * uninstalled at the end.
 */
const PLUGIN = 'sample-http-service';

/**
 * The Lifecycle tab of a plugin that was never installed asks for it and is
 * answered 404, which chromium logs as an error.
 */
const NEVER_INSTALLED = /the server responded with a status of 404/;

/**
 * Stops and uninstalls the sample plugin, from whatever state it is in,
 * through the REST API (the Lifecycle tab's own test drives its buttons).
 */
async function ensureUninstalled(page: Page) {
  await uninstallSample(page);
}

/** A second tab of the signed-in browser (the guest session is shared). */
async function secondTab(page: Page) {
  const other = await page.context().newPage();
  await other.goto('/');
  const enter = other.getByRole('button', { name: 'Enter' });
  const catalog = other
    .getByRole('navigation', { name: 'sidebar nav' })
    .getByRole('link', { name: 'Catalog', exact: true });
  await expect(enter.or(catalog)).toBeVisible();
  if (await enter.isVisible()) {
    await enter.click();
  }
  await expect(catalog).toBeVisible();
  return other;
}

/** Picks an option of a filter select, and waits for its menu to close. */
async function chooseFilter(
  page: Page,
  filter: 'state' | 'health',
  option: string,
) {
  await page.locator(`#fleet-filter-${filter}`).click();
  const menu = page.getByRole('listbox');
  await menu.getByRole('option', { name: option, exact: true }).click();
  await expect(menu).toBeHidden();
}

/** The fleet table's row of a plugin. */
function fleetRow(page: Page, pluginId: string) {
  return page
    .getByTestId('fleet-table')
    .getByRole('row')
    .filter({
      has: page.getByTestId('fleet-plugin').getByText(pluginId, {
        exact: true,
      }),
    });
}

test('the fleet page lists the managed plugins and follows them live', async ({
  page,
  allowConsoleErrors,
}) => {
  test.setTimeout(300_000);
  allowConsoleErrors(NEVER_INSTALLED);
  await signIn(page);
  // A known start: not running, so that the start below is a change to see.
  await ensureUninstalled(page);

  try {
    const nav = page.getByRole('navigation', { name: 'sidebar nav' });
    await nav.getByRole('link', { name: 'Plugin fleet' }).click();
    await expect(page).toHaveURL(/\/plugin-lifecycle$/);

    const http = fleetRow(page, PLUGIN);
    const grpc = fleetRow(page, 'sample-grpc-service');
    await expect(http.getByTestId('lifecycle-state')).toHaveText(
      /^(inactive|not installed)$/,
    );
    await expect(grpc.getByTestId('lifecycle-state')).toBeVisible();
    await expect(http.getByRole('link', { name: PLUGIN })).toHaveAttribute(
      'href',
      SAMPLE_ENTITY,
    );

    // Started in another tab: this one follows without a reload.
    await page.evaluate(() => {
      (window as any).fleetPageNotReloaded = true;
    });
    const other = await secondTab(page);
    await ensureRunning(other);
    await other.close();
    await expect(http.getByTestId('lifecycle-state')).toHaveText('running', {
      timeout: 60_000,
    });
    await expect(http.getByTestId('fleet-version')).toHaveText('1.0.0');
    await expect(http.getByTestId('fleet-health')).toHaveText(
      /healthy|starting/,
      { timeout: 60_000 },
    );
    expect(
      await page.evaluate(() => (window as any).fleetPageNotReloaded),
    ).toBe(true);

    // The filters narrow the table.
    await chooseFilter(page, 'state', 'running');
    await expect(http).toBeVisible();
    await expect(grpc).toHaveCount(0);
    await chooseFilter(page, 'state', 'any');
    await page.getByLabel('Search').fill('grpc');
    await expect(grpc).toBeVisible();
    await expect(http).toHaveCount(0);
    await page.getByLabel('Search').fill('');
    await expect(http).toBeVisible();
    await captureScreens(page, 'fleet');

    // The row leads to the entity, whose Overview shows the card.
    await http.getByRole('link', { name: PLUGIN }).click();
    await expect(page).toHaveURL(new RegExp(`${SAMPLE_ENTITY}$`));
    const card = page.getByTestId('plugin-lifecycle-overview');
    await expect(card.getByTestId('lifecycle-state')).toHaveText('running');
    await expect(card.getByTestId('overview-version')).toHaveText('1.0.0');
    await expect(card.getByTestId('overview-rollout')).toHaveText('none');
    await expect(card.getByTestId('overview-health')).toHaveText(
      /healthy|starting/,
    );
    await captureScreens(page, 'entity-overview');
    await card.getByRole('link', { name: 'Health', exact: true }).click();
    await expect(page).toHaveURL(new RegExp(`${SAMPLE_ENTITY}/health$`));

    // The template is on the Create page.
    await nav.getByRole('link', { name: 'Create', exact: true }).click();
    await expect(page.getByText('Managed plugin service')).toBeVisible();
  } finally {
    await ensureUninstalled(page);
  }
});

test('the template on the Create page installs and starts the sample plugin', async ({
  page,
  allowConsoleErrors,
}) => {
  test.setTimeout(300_000);
  allowConsoleErrors(NEVER_INSTALLED);
  await signIn(page);
  await ensureUninstalled(page);

  try {
    const nav = page.getByRole('navigation', { name: 'sidebar nav' });
    await nav.getByRole('link', { name: 'Create', exact: true }).click();
    const card = page
      .locator('.MuiCard-root')
      .filter({ hasText: 'Managed plugin service' });
    await expect(card).toBeVisible();
    await card.getByRole('button', { name: 'Choose' }).click();

    await page.getByRole('textbox', { name: /^Name/ }).fill('fleet-e2e-plugin');
    await page.getByRole('button', { name: 'Next' }).click();
    await expect(page.getByRole('textbox', { name: /^Plugin id/ })).toHaveValue(
      PLUGIN,
    );
    await page.getByRole('textbox', { name: /^Version/ }).fill('1.0.0');
    await page.getByRole('button', { name: 'Next' }).click();
    await page.getByRole('button', { name: 'Review' }).click();
    await page.getByRole('button', { name: 'Create' }).click();

    // The steps that can run here ran: the file was written, the plugin
    // installed and started (the install step's output says so); registering
    // was skipped (no URL given).
    await expect(
      page.getByText(`${PLUGIN} 1.0.0 is running (operation`),
    ).toBeVisible({ timeout: 120_000 });
    // The task page opens its log by itself once the task ended (or not).
    const showLogs = page.getByRole('button', { name: 'Show logs' });
    await expect(
      showLogs.or(page.getByRole('button', { name: 'Hide logs' })),
    ).toBeVisible();
    if (await showLogs.isVisible()) {
      await showLogs.click();
    }
    await expect(
      page.getByText(
        'Skipping step register because its if condition was false',
      ),
    ).toBeVisible();
    await captureScreens(page, 'template-done');
    const { state } = await openLifecycle(page);
    await expect(state).toHaveText('running', { timeout: 60_000 });
  } finally {
    await ensureUninstalled(page);
  }
});
