import { test as base, expect, Page } from '@playwright/test';

/**
 * The end-to-end tests' `test`: Playwright's, failing any test during which
 * the page logged an error to the browser console or threw, apart from the
 * errors the test declares it expects with `allowConsoleErrors`.
 *
 * Chromium logs every failed fetch ("Failed to load resource: the server
 * responded with a status of 404"), so a test that provokes an error answer
 * on purpose (a plugin that is not installed yet) declares it.
 */
export const test = base.extend<{
  allowConsoleErrors: (...patterns: RegExp[]) => void;
}>({
  allowConsoleErrors: [
    async ({ page }, use, testInfo) => {
      const allowed: RegExp[] = [];
      const errors: string[] = [];
      page.on('console', message => {
        if (message.type() === 'error') {
          // With where it came from: a failed fetch says only its status.
          const { url } = message.location();
          errors.push(url ? `${message.text()} [${url}]` : message.text());
        }
      });
      page.on('pageerror', error => errors.push(`uncaught: ${error.message}`));
      await use((...patterns) => allowed.push(...patterns));
      const unexpected = errors.filter(
        text => !allowed.some(pattern => pattern.test(text)),
      );
      if (unexpected.length > 0) {
        await testInfo.attach('console-errors.txt', {
          body: unexpected.join('\n'),
          contentType: 'text/plain',
        });
      }
      expect(unexpected, 'errors in the browser console').toEqual([]);
    },
    { auto: true },
  ],
});

export { expect };

/** Where screenshots of the tabs go: kept as CI artifacts with the results. */
export const SCREENSHOT_DIR = 'node_modules/.cache/e2e-test-results/screens';

/** The widths every tab is captured at: a desktop and a narrow window. */
export const SCREEN_WIDTHS = [1440, 800] as const;

/**
 * Saves a full-page screenshot of what the page shows now at each of
 * {@link SCREEN_WIDTHS}, as `<name>-<width>.png`, then restores the viewport.
 */
export async function captureScreens(page: Page, name: string) {
  const original = page.viewportSize();
  for (const width of SCREEN_WIDTHS) {
    await page.setViewportSize({ width, height: 900 });
    // Let the layout settle at the new width before the capture.
    await page.waitForTimeout(300);
    await page.screenshot({
      path: `${SCREENSHOT_DIR}/${name}-${width}.png`,
      fullPage: true,
    });
  }
  if (original) {
    await page.setViewportSize(original);
  }
}

/**
 * Opens each of the entity's tabs (by path, e.g. `lifecycle`) and captures it
 * at both widths as `<prefix>-<tab>-<width>.png`, once its content showed
 * (`ready` is a locator text every tab of ours shows when loaded).
 */
export async function captureEntityTabs(
  page: Page,
  entityPath: string,
  tabs: string[],
  prefix: string,
) {
  for (const tab of tabs) {
    await page.goto(`${entityPath}/${tab}`);
    await page.waitForLoadState('networkidle');
    await captureScreens(page, `${prefix}-${tab}`);
  }
}
