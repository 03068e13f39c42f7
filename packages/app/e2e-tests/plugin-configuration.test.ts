import { test, expect, Page } from '@playwright/test';
import { signIn, SAMPLE_ENTITY, ensureRunning } from './samplePlugin';

/**
 * The Configuration tab in a real browser against the real backend: with the
 * sample plugin running, write configuration (a value and a secret), see the
 * running instance take it, change it, compare the two versions and roll
 * back. Runs after lifecycle.test.ts (files run in name order, one worker),
 * which leaves the plugin uninstalled; it installs it again itself.
 */

/** What the running instance says its live configuration is. */
async function instanceConfig(page: Page) {
  await page.goto(`${SAMPLE_ENTITY}/lifecycle`);
  const address = page
    .getByRole('row')
    .filter({ hasText: 'running' })
    .getByText(/^127\.0\.0\.1:\d+$/)
    .first();
  await expect(address).toBeVisible({ timeout: 30_000 });
  const response = await page.request.get(
    `http://${await address.textContent()}/config`,
  );
  return (await response.json()).live as Record<string, unknown>;
}

async function addEntry(
  page: Page,
  entry: { key: string; type: string; value: string },
) {
  const editor = page.getByTestId('config-editor');
  const before = await editor
    .locator('[data-testid^="config-entry-row-"]')
    .count();
  await page.getByRole('button', { name: 'Add entry' }).click();
  const row = editor.getByTestId(`config-entry-row-${before}`);
  await row.getByLabel('Key', { exact: true }).fill(entry.key);
  await row.getByLabel('Type', { exact: true }).selectOption(entry.type);
  await row.getByLabel('Value', { exact: true }).fill(entry.value);
}

test('configures the running sample plugin from the entity page', async ({
  page,
}) => {
  test.setTimeout(240_000);
  await signIn(page);
  await ensureRunning(page);

  await page.goto(`${SAMPLE_ENTITY}/configuration`);
  await expect(page.getByLabel('Environment')).toHaveValue('development');
  await page.getByLabel('Layer').selectOption('development');
  await addEntry(page, { key: 'greeting', type: 'string', value: 'hello' });
  await addEntry(page, { key: 'api.key', type: 'secret', value: 's3cret-e2e' });
  await page.getByLabel('Change description').fill('first configuration');
  await page.getByRole('button', { name: 'Save configuration' }).click();
  await expect(page.getByTestId('config-save-result')).toContainText(
    'development v1',
  );

  // The effective view: the value, and the secret masked, never its text.
  const effective = page.getByTestId('effective-config-table');
  await expect(effective).toContainText('greeting');
  await expect(effective).toContainText('hello');
  await expect(effective.getByTestId('config-value-masked')).toHaveCount(1);
  await expect(page.locator('body')).not.toContainText('s3cret-e2e');
  await page.screenshot({
    path: 'node_modules/.cache/e2e-test-results/configuration.png',
    fullPage: true,
  });

  // The running instance got it (a rolling restart: the sample has no
  // reload endpoint declared), secret included.
  await expect
    .poll(async () => instanceConfig(page), { timeout: 60_000 })
    .toMatchObject({ greeting: 'hello', 'api.key': 's3cret-e2e' });

  // Change the value; the masked secret is kept as it is.
  await page.goto(`${SAMPLE_ENTITY}/configuration`);
  await page.getByLabel('Layer').selectOption('development');
  const greetingRow = page
    .getByTestId('config-editor')
    .locator('[data-testid^="config-entry-row-"]')
    .filter({ has: page.locator('input[value="greeting"]') });
  await greetingRow.getByLabel('Value', { exact: true }).fill('hi there');
  await page.getByRole('button', { name: 'Save configuration' }).click();
  await expect(page.getByTestId('config-save-result')).toContainText(
    'development v2',
  );
  await expect
    .poll(async () => instanceConfig(page), { timeout: 60_000 })
    .toMatchObject({ greeting: 'hi there', 'api.key': 's3cret-e2e' });

  // History: compare v1 and v2, then roll back to v1.
  await page.goto(`${SAMPLE_ENTITY}/configuration`);
  await page.getByLabel('Layer').selectOption('development');
  await expect(page.getByTestId('config-version-2')).toBeVisible();
  await page.getByLabel('Compare v1').check();
  await page.getByLabel('Compare v2').check();
  const diff = page.getByTestId('config-diff');
  await expect(diff.getByTestId('config-diff-changed')).toContainText(
    'greeting',
  );
  await expect(diff).not.toContainText('s3cret-e2e');
  await page.getByRole('button', { name: 'Roll back to v1' }).click();
  await page.getByRole('button', { name: 'Confirm rollback' }).click();
  await expect(page.getByTestId('config-rollback-result')).toContainText('v3');
  await expect(page.getByTestId('config-version-3')).toContainText(
    'rollback of v1',
  );
  await expect
    .poll(async () => instanceConfig(page), { timeout: 60_000 })
    .toMatchObject({ greeting: 'hello' });
});
