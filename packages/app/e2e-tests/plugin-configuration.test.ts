import { Page } from '@playwright/test';
import { captureScreens, expect, test } from './fixtures';
import { SAMPLE_ENTITY, signIn } from './samplePlugin';
import {
  ensureSampleRunning,
  instanceConfig,
  samplePlugin,
  uninstallSample,
} from './sampleApi';

/**
 * The Configuration tab in a real browser against the real backend: with the
 * sample plugin running, write configuration (a value and a secret), see the
 * running instance take it, change it, compare two versions and roll back;
 * then a change the instances cannot take (the sample's readiness fails with
 * `sample.failReadiness`), rolled back by the server and shown so in the tab
 * without a reload. Each test brings the plugin up through the API and leaves
 * it uninstalled, as the lifecycle test expects it.
 */

/** Opens the tab on the development layer and answers its latest version. */
async function openDevelopmentLayer(page: Page): Promise<number> {
  await page.goto(`${SAMPLE_ENTITY}/configuration`);
  await expect(page.getByLabel('Environment')).toHaveValue('development');
  await page.getByLabel('Layer').selectOption('development');
  const subheader = page.getByText(/^Latest version: (v\d+|none)$/);
  await expect(subheader).toBeVisible();
  const text = (await subheader.textContent()) ?? '';
  return Number(/v(\d+)/.exec(text)?.[1] ?? 0);
}

async function addEntry(
  page: Page,
  entry: { key: string; type: string; value?: string },
) {
  const editor = page.getByTestId('config-editor');
  const before = await editor
    .locator('[data-testid^="config-entry-row-"]')
    .count();
  await page.getByRole('button', { name: 'Add entry' }).click();
  const row = editor.getByTestId(`config-entry-row-${before}`);
  await row.getByLabel('Key', { exact: true }).fill(entry.key);
  await row.getByLabel('Type', { exact: true }).selectOption(entry.type);
  if (entry.type === 'boolean') {
    await row.getByLabel('Value', { exact: true }).check();
  } else {
    await row.getByLabel('Value', { exact: true }).fill(entry.value ?? '');
  }
  return row;
}

/** The plugin-lifecycle API calls of the page that failed, per test. */
const failedResponses = new WeakMap<Page, string[]>();

/**
 * The browser logs every 404 (e.g. a plugin looked up before its first
 * install); any failed call of this plugin's API still fails the test (see
 * the response check below).
 */
test.beforeEach(async ({ page, allowConsoleErrors }) => {
  allowConsoleErrors(
    /Failed to load resource: the server responded with a status of 404/,
  );
  const failed: string[] = [];
  page.on('response', response => {
    if (
      response.url().includes('/api/plugin-lifecycle/') &&
      response.status() >= 400
    ) {
      failed.push(`${response.status()} ${response.url()}`);
    }
  });
  failedResponses.set(page, failed);
});

test.afterEach(async ({ page }) => {
  await uninstallSample(page);
  expect(
    failedResponses.get(page) ?? [],
    'failed plugin-lifecycle API calls',
  ).toEqual([]);
});

test('configures the running sample plugin from the entity page', async ({
  page,
}) => {
  test.setTimeout(240_000);
  await signIn(page);
  await ensureSampleRunning(page);

  const v = await openDevelopmentLayer(page);
  const save = page.getByRole('button', { name: 'Save configuration' });
  // Nothing to save yet.
  await expect(save).toBeDisabled();

  // A duplicate key is caught in the form, next to the field.
  await addEntry(page, { key: 'greeting', type: 'string', value: 'hello' });
  const twice = await addEntry(page, {
    key: 'greeting',
    type: 'string',
    value: 'again',
  });
  await expect(twice.getByText('Another row has this key')).toBeVisible();
  await expect(save).toBeDisabled();
  await twice.getByRole('button', { name: 'Remove' }).click();

  await addEntry(page, { key: 'api.key', type: 'secret', value: 's3cret-e2e' });
  await page.getByLabel('Change description').fill('first configuration');
  await save.click();
  await expect(page.getByTestId('config-save-result')).toContainText(
    `development v${v + 1}`,
  );
  // Followed to the end without a Refresh: a rolling restart of the sample.
  await expect(page.getByTestId('config-apply-status')).toHaveAttribute(
    'data-outcome',
    'applied',
    { timeout: 90_000 },
  );

  // The effective view: the value, and the secret masked, never its text.
  const effective = page.getByTestId('effective-config-table');
  await expect(effective).toContainText('greeting');
  await expect(effective).toContainText('hello');
  await expect(effective.getByTestId('config-value-masked')).toHaveCount(1);
  await expect(page.locator('body')).not.toContainText('s3cret-e2e');
  // The form reloaded at the new version: saving it again is no change.
  await expect(save).toBeDisabled();
  await captureScreens(page, 'configuration');

  // The running instance got it, secret included.
  await expect
    .poll(async () => instanceConfig(page), { timeout: 60_000 })
    .toMatchObject({ greeting: 'hello', 'api.key': 's3cret-e2e' });

  // Change the value; the masked secret is kept as it is.
  await openDevelopmentLayer(page);
  const greetingRow = page
    .getByTestId('config-editor')
    .locator('[data-testid^="config-entry-row-"]')
    .filter({ has: page.locator('input[value="greeting"]') });
  await greetingRow.getByLabel('Value', { exact: true }).fill('hi there');
  await save.click();
  await expect(page.getByTestId('config-save-result')).toContainText(
    `development v${v + 2}`,
  );
  await expect(page.getByTestId('config-apply-status')).toHaveAttribute(
    'data-outcome',
    'applied',
    { timeout: 90_000 },
  );
  await expect
    .poll(async () => instanceConfig(page), { timeout: 60_000 })
    .toMatchObject({ greeting: 'hi there', 'api.key': 's3cret-e2e' });

  // History: compare the two versions, then roll back to the first.
  await page.getByLabel(`Compare v${v + 1}`).check();
  await page.getByLabel(`Compare v${v + 2}`).check();
  const diff = page.getByTestId('config-diff');
  await expect(diff.getByTestId('config-diff-changed')).toContainText(
    'greeting',
  );
  await expect(diff).not.toContainText('s3cret-e2e');
  await page.getByRole('button', { name: `Roll back to v${v + 1}` }).click();
  await page.getByRole('button', { name: 'Confirm rollback' }).click();
  await expect(page.getByTestId('config-rollback-result')).toContainText(
    `v${v + 3}`,
  );
  await expect(page.getByTestId(`config-version-${v + 3}`)).toContainText(
    `rollback of v${v + 1}`,
  );
  await expect
    .poll(async () => instanceConfig(page), { timeout: 60_000 })
    .toMatchObject({ greeting: 'hello' });
  await captureScreens(page, 'configuration-history');
});

test('a config change rolled back by the server shows in the tab', async ({
  page,
}) => {
  test.setTimeout(240_000);
  await signIn(page);
  await ensureSampleRunning(page);

  const v = await openDevelopmentLayer(page);
  // The sample's readiness fails with this setting: the new instance of the
  // rolling restart never becomes ready, and the server undoes the change.
  await addEntry(page, { key: 'sample.failReadiness', type: 'boolean' });
  await page.getByLabel('Change description').fill('break readiness');
  await page.getByRole('button', { name: 'Save configuration' }).click();
  await expect(page.getByTestId('config-save-result')).toContainText(
    `development v${v + 1}`,
  );
  const status = page.getByTestId('config-apply-status');
  await expect(status).toContainText('Applying development');

  // No reload, no Refresh: the tab follows the apply to its end.
  await expect(status).toHaveAttribute('data-outcome', 'rolled-back', {
    timeout: 120_000,
  });
  await expect(status).toContainText(
    `The server rolled back development v${v + 1}`,
  );
  await expect(status).toContainText(`The layer is at v${v + 2} now`);
  await expect(page.getByText(`Latest version: v${v + 2}`)).toBeVisible();
  const kept = page.getByTestId(`config-version-${v + 2}`);
  await expect(kept).toContainText('latest');
  await expect(kept).toContainText('automatic rollback');
  await expect(page.getByTestId(`config-version-${v + 1}`)).toContainText(
    'rolled back by the server',
  );
  // What the server kept is what the tab shows as current.
  await expect(page.getByTestId('config-environment-version')).toHaveText(
    `v${v + 2}`,
  );
  await expect(page.getByTestId('effective-config-table')).not.toContainText(
    'sample.failReadiness',
  );
  await expect(
    page
      .getByTestId('config-editor')
      .locator('input[value="sample.failReadiness"]'),
  ).toHaveCount(0);
  await captureScreens(page, 'configuration-rolled-back');

  // And the plugin runs on, with the configuration it had.
  expect((await samplePlugin(page))?.state).toBe('running');
  await expect
    .poll(async () => instanceConfig(page), { timeout: 30_000 })
    .not.toHaveProperty('sample.failReadiness');
});
