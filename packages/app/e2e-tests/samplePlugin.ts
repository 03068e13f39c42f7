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

/**
 * Types a version into a version field of the Lifecycle tab ("Version" or
 * "New version": a list of the available versions that takes free text) and
 * closes its list.
 */
export async function typeVersion(page: Page, label: string, version: string) {
  // By role: the open list of versions carries the same label.
  const field = page.getByRole('textbox', { name: label, exact: true });
  await field.fill(version);
  await field.press('Escape');
  await expect(field).toHaveValue(version);
}

/**
 * Clicks a lifecycle action that asks first (Stop, Restart, Uninstall, Roll
 * back, Cancel) and confirms it in the dialog.
 */
export async function confirmAction(
  page: Page,
  button: string,
  confirmText = button,
) {
  await page.getByRole('button', { name: button, exact: true }).click();
  const dialog = page.getByRole('dialog');
  await dialog.getByRole('button', { name: confirmText, exact: true }).click();
  await expect(dialog).toBeHidden();
}

/** Installs 1.0.0 and starts it through the Lifecycle tab, from whatever state it is in. */
export async function ensureRunning(page: Page) {
  const { state, notInstalled } = await openLifecycle(page);
  if (
    (await notInstalled.isVisible()) ||
    (await state.textContent()) === 'inactive'
  ) {
    await typeVersion(page, 'Version', '1.0.0');
    await page.getByRole('button', { name: 'Install', exact: true }).click();
    await expect(state).toHaveText('installed', { timeout: 60_000 });
  }
  if ((await state.textContent()) !== 'running') {
    await page.getByRole('button', { name: 'Start', exact: true }).click();
    await expect(state).toHaveText('running', { timeout: 60_000 });
  }
}

/**
 * Stops and uninstalls the sample plugin through the Lifecycle tab (each
 * confirmed), from whatever state it is in; nothing to do when it was never
 * installed.
 */
export async function stopAndUninstall(page: Page) {
  const { state, notInstalled } = await openLifecycle(page);
  if (await notInstalled.isVisible()) {
    return;
  }
  // Let an action under way (a transitional state) end first.
  await expect(state).toHaveText(/^(running|installed|inactive|error)$/, {
    timeout: 60_000,
  });
  if ((await state.textContent()) === 'running') {
    await confirmAction(page, 'Stop');
    await expect(state).toHaveText('installed', { timeout: 60_000 });
  }
  if ((await state.textContent()) !== 'inactive') {
    await confirmAction(page, 'Uninstall');
    await expect(state).toHaveText('inactive', { timeout: 60_000 });
  }
}
