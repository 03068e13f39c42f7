import { APIRequestContext, Locator, Page } from '@playwright/test';
import { captureScreens, expect, test } from './fixtures';
import { SAMPLE_ENTITY, ensureRunning, signIn } from './samplePlugin';

/**
 * The Deployments tab in a real browser against the real backend: a canary
 * update started from the tab's form whose progress and traffic split move
 * without a reload, promoted and approved in the UI until it succeeds; then
 * a canary of the bad 2.1.0 (500 on every request but the probes) that the
 * analysis rolls back by itself once traffic through the backend's proxy
 * shows it. Independent of the other files' order: each test brings the
 * sample plugin where it needs it through the REST API and leaves it
 * uninstalled.
 */
const PLUGIN = 'sample-http-service';
const API = '/api/plugin-lifecycle';
const TERMINAL = ['succeeded', 'rolled-back', 'aborted', 'failed'];

/** The REST API as the guest (in the platform team in development). */
async function backend(request: APIRequestContext) {
  const auth = await request.get('/api/auth/guest/refresh?env=development', {
    headers: { 'X-Requested-With': 'XMLHttpRequest' },
  });
  const token = (await auth.json()).backstageIdentity.token as string;
  const headers = { Authorization: `Bearer ${token}` };
  return {
    headers,
    get: (path: string) => request.get(`${API}${path}`, { headers }),
    post: (path: string, data: object = {}) =>
      request.post(`${API}${path}`, { headers, data }),
  };
}
type Backend = Awaited<ReturnType<typeof backend>>;

/** Runs a lifecycle command and waits for its operation to end. */
async function runCommand(b: Backend, command: string) {
  const accepted = await b.post(`/plugins/${PLUGIN}/${command}`);
  expect(accepted.status(), await accepted.text()).toBe(202);
  const { operationId } = await accepted.json();
  await b.get(`/operations/${operationId}?waitSeconds=60`);
}

/** Aborts a deployment of the plugin left active (an earlier failed run) and waits for it to end. */
async function abortActive(b: Backend) {
  const list = await b.get(`/plugins/${PLUGIN}/deployments?active=true`);
  if (!list.ok()) return;
  for (const d of (await list.json()).items as Array<{ id: string }>) {
    await b.post(`/deployments/${d.id}/abort`, { reason: 'e2e clean-up' });
    await expect
      .poll(
        async () => (await (await b.get(`/deployments/${d.id}`)).json()).phase,
        { timeout: 90_000 },
      )
      .toMatch(new RegExp(`^(${TERMINAL.join('|')})$`));
  }
}

/** Stops and uninstalls the plugin, whatever state it is in. */
async function uninstall(b: Backend) {
  await abortActive(b);
  const res = await b.get(`/plugins/${PLUGIN}`);
  if (!res.ok()) return;
  const { state } = await res.json();
  if (state === 'running') await runCommand(b, 'stop');
  if (state !== 'inactive') await runCommand(b, 'uninstall');
}

/** Picks an option of a Material UI select. */
async function choose(page: Page, select: Locator, option: string) {
  await select.click();
  await page.getByRole('option', { name: option, exact: true }).click();
}

/** Clicks an action of the deployment and confirms it in its dialog. */
async function act(page: Page, action: string) {
  await page
    .getByTestId('deployment-actions')
    .getByRole('button', { name: action, exact: true })
    .click();
  const dialog = page.getByRole('dialog');
  await dialog.getByLabel('Reason (optional)').fill(`e2e: ${action}`);
  await dialog.getByRole('button', { name: action, exact: true }).click();
  await expect(dialog).toBeHidden();
}

/** Opens the tab with the update form on a plugin with no deployment active. */
async function openForm(page: Page, version: string) {
  await page.goto(`${SAMPLE_ENTITY}/deployments`);
  const form = page.getByRole('form', { name: 'Start an update' });
  await expect(form).toBeVisible({ timeout: 30_000 });
  // By role: the open list of versions carries the same label.
  const field = form.getByRole('textbox', { name: 'Version', exact: true });
  await field.fill(version);
  await field.press('Escape');
  await expect(field).toHaveValue(version);
  await choose(page, form.getByRole('button', { name: /Strategy/ }), 'Canary');
  return form;
}

test.beforeEach(async ({ allowConsoleErrors }) => {
  allowConsoleErrors(
    // The Lifecycle tab of a plugin not installed yet asks for it: a 404.
    /status of 404/,
  );
});

test('a canary to 1.1.0 moves live, waits to be promoted and approved, and succeeds', async ({
  page,
  request,
}) => {
  test.setTimeout(360_000);
  const b = await backend(request);
  await uninstall(b);
  await signIn(page);
  await ensureRunning(page);

  try {
    const form = await openForm(page, '1.1.0');
    // The default steps (25, pause 30 s, 50, pause 30 s, 100) with the
    // first pause until promoted and the second short, plus a gate before
    // the new version takes all traffic.
    await form.getByTestId('canary-step-1').getByLabel('Pause (s)').fill('');
    await form.getByTestId('canary-step-3').getByLabel('Pause (s)').fill('2');
    await form
      .getByLabel('Approval before the new version takes all traffic')
      .check();
    await form.getByRole('button', { name: 'Start update' }).click();

    // From here on the page is never reloaded: it follows by itself.
    const phase = page.getByTestId('deployment-phase');
    const progress = page.getByTestId('deployment-progress');
    const split = page.getByTestId('traffic-split');
    await expect(page.getByTestId('deployment-versions')).toHaveText(
      '1.0.0 → 1.1.0',
      { timeout: 30_000 },
    );
    await expect(phase).toHaveText('paused', { timeout: 90_000 });
    await expect(split).toContainText('1.0.0: 75%, 1.1.0: 25%');
    await expect(split.locator('.recharts-bar-rectangle')).toHaveCount(2);
    const atPause = Number(await progress.getAttribute('aria-valuenow'));
    expect(atPause).toBeGreaterThan(0);

    await act(page, 'Promote');
    await expect(split).toContainText('1.0.0: 50%, 1.1.0: 50%', {
      timeout: 60_000,
    });
    await expect(page.getByTestId('approval-waiting')).toBeVisible({
      timeout: 60_000,
    });
    await expect(phase).toHaveText('awaiting approval');
    expect(
      Number(await progress.getAttribute('aria-valuenow')),
    ).toBeGreaterThan(atPause);
    // The split over the rollout: 0 -> 25 -> 50 so far, one area per version.
    await expect(
      page.getByTestId('traffic-over-time').locator('.recharts-area'),
    ).toHaveCount(2);
    await captureScreens(page, 'deployments-canary-approval');

    await act(page, 'Approve');
    await expect(phase).toHaveText('succeeded', { timeout: 120_000 });
    await expect(progress).toHaveAttribute('aria-valuenow', '100');
    await expect(page.getByText('Last deployment')).toBeVisible();
    await captureScreens(page, 'deployments-succeeded');
  } finally {
    await uninstall(b);
  }
});

test('a canary of the bad 2.1.0 is rolled back by its analysis, and the tab shows why', async ({
  page,
  request,
}) => {
  test.setTimeout(360_000);
  const b = await backend(request);
  await uninstall(b);
  await signIn(page);
  await ensureRunning(page);

  try {
    const form = await openForm(page, '2.1.0');
    // 50 % to the canary, then a 3 s analysis window that needs 5 requests.
    await form.getByTestId('canary-step-0').getByLabel('Weight (%)').fill('50');
    const step1 = form.getByTestId('canary-step-1');
    await choose(
      page,
      step1.getByRole('button', { name: /Step 2/ }),
      'Analysis',
    );
    await step1.getByLabel('Window (s)').fill('3');
    await step1.getByLabel('Min. requests').fill('5');
    // Leaves 50, analysis, 100.
    await form.getByRole('button', { name: 'Remove step 3' }).click();
    await form.getByRole('button', { name: 'Remove step 3' }).click();
    await form.getByRole('button', { name: 'Start update' }).click();

    const phase = page.getByTestId('deployment-phase');
    await expect(page.getByTestId('deployment-versions')).toHaveText(
      '1.0.0 → 2.1.0',
      { timeout: 30_000 },
    );
    // Traffic through the backend's proxy, a few requests at a time, until
    // the analysis has judged (bounded: at most 600 requests).
    let sent = 0;
    let failed = 0;
    while (
      sent < 600 &&
      !(await phase.textContent())?.includes('rolled back')
    ) {
      const answers = await Promise.all(
        Array.from({ length: 5 }, () =>
          request.get(`${API}/proxy/${PLUGIN}/`, { headers: b.headers }),
        ),
      );
      sent += answers.length;
      failed += answers.filter(r => r.status() === 500).length;
      await page.waitForTimeout(200);
    }
    await expect(phase).toHaveText('rolled back', { timeout: 60_000 });
    // Only the canary's share saw the bad release.
    expect(failed).toBeGreaterThan(0);
    expect(failed).toBeLessThan(sent);

    await expect(page.getByTestId('deployment-message')).toContainText(
      /analysis failed: .*error rate/i,
    );
    await expect(page.getByTestId('analysis-verdict').first()).toHaveText(
      'fail',
    );
    await expect(page.getByTestId('evidence-2.1.0').first()).toContainText(
      '100 %',
    );
    await captureScreens(page, 'deployments-rolled-back');
  } finally {
    await uninstall(b);
  }
});
