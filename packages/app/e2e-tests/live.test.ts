import { APIRequestContext, Page, WebSocket } from '@playwright/test';
import { test, expect, captureScreens } from './fixtures';
import { openLifecycle, signIn } from './samplePlugin';

/**
 * Live updates through Backstage signals, in a real browser against the real
 * backend (with the signals backend plugin, and the signals plugin in the
 * app): a change made over the REST API, by another client, shows in the
 * open Lifecycle tab without a reload, after a signal on the plugin's channel
 * reached the page's websocket; and a toast tells the user when an operation
 * they started in the UI ended. Both bring the sample plugin to the state
 * they need over the API first and leave it uninstalled.
 */
const PLUGIN = 'sample-http-service';
const API = '/api/plugin-lifecycle';
const CHANNEL = `plugin-lifecycle:${PLUGIN}`;
/** The hook's first idle poll without signals (useLiveRefresh's IDLE_POLL_MIN_MS). */
const IDLE_POLL_MIN_MS = 5_000;

/** The guest's token, as the README's examples get it. */
async function guestToken(request: APIRequestContext): Promise<string> {
  const res = await request.get('/api/auth/guest/refresh?env=development', {
    headers: { 'X-Requested-With': 'XMLHttpRequest' },
  });
  expect(res.ok()).toBe(true);
  return (await res.json()).backstageIdentity.token;
}

/** The lifecycle REST API with the guest's token. */
async function lifecycleApi(request: APIRequestContext) {
  const headers = { Authorization: `Bearer ${await guestToken(request)}` };
  /** The plugin's state, `absent` before its first install. */
  const state = async (): Promise<string> => {
    const res = await request.get(`${API}/plugins/${PLUGIN}`, { headers });
    if (res.status() === 404) return 'absent';
    expect(res.status(), await res.text()).toBe(200);
    return (await res.json()).state;
  };
  /** Runs an action and waits for its operation's end. */
  const act = async (action: string, body: object = {}) => {
    const res = await request.post(`${API}/plugins/${PLUGIN}/${action}`, {
      headers,
      data: body,
    });
    expect(res.status(), await res.text()).toBe(202);
    const { operationId } = await res.json();
    const done = await request.get(
      `${API}/operations/${operationId}?waitSeconds=60`,
      { headers, timeout: 70_000 },
    );
    expect((await done.json()).status).toBe('succeeded');
  };
  /** Waits for an action under way (a transitional state) to end. */
  const settled = async () => {
    await expect
      .poll(state, { timeout: 60_000 })
      .toMatch(/^(running|installed|inactive|error|absent)$/);
    return state();
  };
  return {
    state,
    act,
    /** The plugin installed (1.0.0) and not running. */
    async ensureInstalled() {
      const now = await settled();
      if (now === 'running') await act('stop');
      if (['absent', 'inactive'].includes(now)) {
        await act('install', { version: '1.0.0' });
      }
      expect(await state()).toBe('installed');
    },
    /** Stopped and uninstalled, as the other e2e tests expect to find it. */
    async uninstall() {
      const now = await settled();
      if (now === 'running') await act('stop');
      if (!['absent', 'inactive'].includes(now)) await act('uninstall');
    },
  };
}

/**
 * Chromium logs a failed fetch without its address: this lets through the
 * one 404 the app always makes (the catalog has no entity for the guest,
 * whom the catalog page looks up) and fails the test on any other.
 */
function allowOnlyGuestLookup404(
  page: Page,
  allowConsoleErrors: (...patterns: RegExp[]) => void,
) {
  allowConsoleErrors(/status of 404 \(Not Found\)/);
  const failed: string[] = [];
  page.on('response', r => {
    if (
      r.status() >= 400 &&
      !r.url().endsWith('/by-name/user/development/guest')
    ) {
      failed.push(`${r.status()} ${r.url()}`);
    }
  });
  return failed;
}

/** Frames of the signals websocket on one channel, with when they came. */
function recordSignals(page: Page) {
  const frames: Array<{ at: number; message: any }> = [];
  page.on('websocket', (ws: WebSocket) => {
    if (!ws.url().includes('/api/signals')) return;
    ws.on('framereceived', frame => {
      try {
        const data = JSON.parse(String(frame.payload));
        if (data.channel === CHANNEL) {
          frames.push({ at: Date.now(), message: data.message });
        }
      } catch {
        // not a signal
      }
    });
  });
  return frames;
}

test('the Lifecycle tab shows a change made over the API, pushed by a signal, without a reload', async ({
  page,
  request,
  allowConsoleErrors,
}) => {
  test.setTimeout(240_000);
  const failed = allowOnlyGuestLookup404(page, allowConsoleErrors);
  const api = await lifecycleApi(request);
  await api.ensureInstalled();

  const frames = recordSignals(page);
  // The tab's reloads of the plugin, with when they went out.
  const reloads: number[] = [];
  page.on('request', r => {
    if (r.method() === 'GET' && r.url().endsWith(`${API}/plugins/${PLUGIN}`)) {
      reloads.push(Date.now());
    }
  });
  await signIn(page);
  const { state } = await openLifecycle(page);
  await expect(state).toHaveText('installed');
  // Anything the tab loads from here is a reload; a page load would lose this.
  await page.evaluate(() => {
    (window as any).__sameDocument = true;
  });

  const before = Date.now();
  await api.act('start');
  await expect(state).toHaveText('running', { timeout: 60_000 });
  expect(await page.evaluate(() => (window as any).__sameDocument)).toBe(true);

  // The signals that reached the page: the operation and the state changes.
  const pushed = frames.filter(f => f.at >= before);
  expect(pushed.map(f => f.message.kind)).toEqual(
    expect.arrayContaining(['operation', 'state']),
  );
  for (const { message } of pushed) {
    expect(Object.keys(message).sort()).toEqual(
      expect.arrayContaining(['at', 'kind', 'pluginId']),
    );
    expect(message.pluginId).toBe(PLUGIN);
  }
  // The tab reloaded on the first signal, well before its first poll
  // would have (polling waits IDLE_POLL_MIN_MS when idle).
  const firstSignal = pushed[0].at;
  const reload = reloads.find(t => t >= firstSignal);
  expect(reload).toBeDefined();
  const latency = reload! - firstSignal;
  test.info().annotations.push({
    type: 'signal to reload',
    description: `${latency} ms; ${pushed.length} signals for start`,
  });
  expect(latency).toBeLessThan(IDLE_POLL_MIN_MS);
  await captureScreens(page, 'live-lifecycle-running');

  await api.uninstall();
  await expect(state).toHaveText('inactive', { timeout: 60_000 });
  expect(failed).toEqual([]);
});

test('a toast tells the user that the operation they started ended', async ({
  page,
  request,
  allowConsoleErrors,
}) => {
  test.setTimeout(240_000);
  const failed = allowOnlyGuestLookup404(page, allowConsoleErrors);
  const api = await lifecycleApi(request);
  await api.ensureInstalled();

  await signIn(page);
  const { state } = await openLifecycle(page);
  await expect(state).toHaveText('installed');
  await page.getByRole('button', { name: 'Start', exact: true }).click();
  const toast = page.getByText(`Start of ${PLUGIN} succeeded`);
  await expect(toast).toBeVisible({ timeout: 60_000 });
  await captureScreens(page, 'live-toast');

  // The toast comes wherever the user is: the catalog here.
  await page
    .getByRole('navigation', { name: 'sidebar nav' })
    .getByRole('link', { name: 'Catalog', exact: true })
    .click();
  await api.act('restart');
  await expect(page.getByText(`Restart of ${PLUGIN} succeeded`)).toBeVisible({
    timeout: 60_000,
  });

  await api.uninstall();
  expect(await api.state()).toBe('inactive');
  expect(failed).toEqual([]);
});
