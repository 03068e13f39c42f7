import { test, expect, captureScreens } from './fixtures';
import {
  ensureSampleRunning,
  samplePlugin,
  uninstallSample,
} from './sampleApi';
import { signIn } from './samplePlugin';

/**
 * The update-managed-plugin template in a real browser against the real
 * backend: the sample plugin runs 1.0.0 (installed through the REST API),
 * the template is chosen on the Create page, its form's defaults roll
 * 1.1.0 out, and the task page shows the rollout's outcome from the
 * plugin-lifecycle:update and plugin-lifecycle:wait steps. The sample plugin
 * is left uninstalled.
 */
const PLUGIN = 'sample-http-service';

test('the update template rolls the sample plugin out to 1.1.0 and waits for the outcome', async ({
  page,
}) => {
  test.setTimeout(300_000);
  await signIn(page);
  await uninstallSample(page);
  try {
    await ensureSampleRunning(page);

    const nav = page.getByRole('navigation', { name: 'sidebar nav' });
    await nav.getByRole('link', { name: 'Create', exact: true }).click();
    const card = page
      .locator('.MuiCard-root')
      .filter({ hasText: 'Update a managed plugin' });
    await expect(card).toBeVisible();
    await card.getByRole('button', { name: 'Choose' }).click();

    await expect(page.getByRole('textbox', { name: /^Plugin id/ })).toHaveValue(
      PLUGIN,
    );
    await expect(page.getByRole('textbox', { name: /^Version/ })).toHaveValue(
      '1.1.0',
    );
    await page.getByRole('button', { name: 'Review' }).click();
    await page.getByRole('button', { name: 'Create' }).click();

    // The template's output: both versions, and the deployment's phase
    // as plugin-lifecycle:wait saw it.
    await expect(
      page.getByText(
        new RegExp(
          `${PLUGIN} moved from 1\\.0\\.0 to 1\\.1\\.0 \\(operation \\S+, deployment \\S+: succeeded\\)`,
        ),
      ),
    ).toBeVisible({ timeout: 180_000 });
    const showLogs = page.getByRole('button', { name: 'Show logs' });
    await expect(
      showLogs.or(page.getByRole('button', { name: 'Hide logs' })),
    ).toBeVisible();
    if (await showLogs.isVisible()) {
      await showLogs.click();
    }
    // No greeting given: the configure step was skipped.
    await expect(
      page.getByText(
        'Skipping step configure because its if condition was false',
      ),
    ).toBeVisible();
    await captureScreens(page, 'template-update-done');

    const plugin = (await samplePlugin(page)) as any;
    expect(plugin).toMatchObject({ state: 'running', currentVersion: '1.1.0' });
  } finally {
    await uninstallSample(page);
  }
});
