import { expect, Page } from '@playwright/test';

/** The catalog entity annotated with the sample plugin's id. */
export const SAMPLE_ENTITY = '/catalog/default/component/sample-http-service';

/** Signs in as the guest and waits for the sidebar. */
export async function signIn(page: Page) {
  await page.goto('/');
  await page.getByRole('button', { name: 'Enter' }).click();
  const nav = page.getByRole('navigation', { name: 'sidebar nav' });
  await expect(
    nav.getByRole('link', { name: 'Catalog', exact: true }),
  ).toBeVisible();
}

/** The Lifecycle tab, once it shows the plugin's state (or that it has none). */
export async function openLifecycle(page: Page) {
  await page.goto(`${SAMPLE_ENTITY}/lifecycle`);
  const state = page.getByTestId('lifecycle-state');
  const notInstalled = page.getByText('Not installed yet');
  await expect(state.or(notInstalled)).toBeVisible({ timeout: 30_000 });
  return { state, notInstalled };
}

/** Installs 1.0.0 and starts it through the Lifecycle tab, from whatever state it is in. */
export async function ensureRunning(page: Page) {
  const { state, notInstalled } = await openLifecycle(page);
  if (
    (await notInstalled.isVisible()) ||
    (await state.textContent()) === 'inactive'
  ) {
    await page.getByLabel('Version', { exact: true }).fill('1.0.0');
    await page.getByRole('button', { name: 'Install', exact: true }).click();
    await expect(state).toHaveText('installed', { timeout: 60_000 });
  }
  if ((await state.textContent()) !== 'running') {
    await page.getByRole('button', { name: 'Start', exact: true }).click();
    await expect(state).toHaveText('running', { timeout: 60_000 });
  }
}
