import { test, expect } from '@playwright/test';
import {
  signIn,
  SAMPLE_ENTITY,
  ensureRunning,
  stopAndUninstall,
} from './samplePlugin';

/**
 * The Health tab in a real browser against the real backend: with the
 * sample plugin running, every instance shows up with its startup,
 * readiness and liveness probes passing; once the plugin is stopped, the tab
 * says it has no running instances. Runs after plugin-configuration.test.ts
 * (files run in name order, one worker), which may leave the plugin running
 * or not: it brings it to running itself, and stops and uninstalls it at the
 * end so that nothing is left running.
 */
const PROBES = ['startup', 'readiness', 'liveness'];

test('shows the probes of the running sample plugin passing', async ({
  page,
}) => {
  test.setTimeout(240_000);
  await signIn(page);
  await ensureRunning(page);

  try {
    await page.goto(SAMPLE_ENTITY);
    await page.locator('a[href$="/health"]').click();
    await expect(page).toHaveURL(new RegExp(`${SAMPLE_ENTITY}/health$`));

    const instances = page.getByTestId('instance-health');
    await expect(instances.first()).toBeVisible({ timeout: 30_000 });
    // The list can change under us (an instance replaced by an earlier
    // test's restart leaves with its next reload), so the whole check is
    // retried on what the page shows now until every card passes.
    await expect(async () => {
      const count = await instances.count();
      expect(count).toBeGreaterThan(0);
      for (let i = 0; i < count; i++) {
        const card = instances.nth(i);
        await expect(card).toContainText(/127\.0\.0\.1:\d+/, {
          timeout: 1_000,
        });
        for (const probe of PROBES) {
          const row = card.getByRole('row').filter({
            has: page.getByRole('cell', { name: probe, exact: true }),
          });
          await expect(row.getByTestId('probe-status')).toHaveText('passing', {
            timeout: 1_000,
          });
        }
        await expect(card.getByTestId('instance-ready')).toHaveText('yes', {
          timeout: 1_000,
        });
        await expect(card.getByTestId('instance-live')).toHaveText('yes', {
          timeout: 1_000,
        });
        await expect(card.getByTestId('instance-verdict')).toHaveText(
          'healthy',
          { timeout: 1_000 },
        );
      }
      // The tab reloads by itself every 5 s: no reload here.
    }).toPass({ timeout: 120_000, intervals: [1_000, 2_000, 5_000] });
    await expect(page.getByTestId('plugin-health-verdict')).toHaveText(
      'healthy',
    );
    await page.screenshot({
      path: 'node_modules/.cache/e2e-test-results/health.png',
      fullPage: true,
    });
  } finally {
    await stopAndUninstall(page);
  }

  // Stopped: the monitor drops its instances within a few refreshes.
  await page.goto(`${SAMPLE_ENTITY}/health`);
  await expect(
    page.getByRole('heading', { name: 'No running instances' }),
  ).toBeVisible({ timeout: 30_000 });
  await expect(page.getByTestId('instance-health')).toHaveCount(0);
});

test('only entities with the annotation have a Health tab', async ({
  page,
}) => {
  await signIn(page);
  const healthTab = page.locator('a[href$="/health"]');

  await page.goto(SAMPLE_ENTITY);
  await expect(healthTab).toHaveCount(1);

  await page.goto('/catalog/default/system/plugin-lifecycle-examples');
  await expect(
    page.getByRole('heading', { name: 'Has components' }),
  ).toBeVisible();
  await expect(healthTab).toHaveCount(0);
});
