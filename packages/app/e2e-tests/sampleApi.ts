import { expect, Page } from '@playwright/test';

/**
 * The sample plugin brought into a state through the REST API, as the
 * guest: for tests whose subject is another tab than the Lifecycle tab, so
 * that they do not depend on how that tab offers its buttons.
 */
const PLUGIN = 'sample-http-service';
const API = '/api/plugin-lifecycle';

interface SamplePlugin {
  state: string;
  instances: Array<{ host: string; port: number; status: string }>;
}

/** The guest's Backstage token (guest sign-in is on in development). */
async function token(page: Page): Promise<string> {
  const response = await page.request.get(
    '/api/auth/guest/refresh?env=development',
    { headers: { 'X-Requested-With': 'XMLHttpRequest' } },
  );
  expect(response.ok()).toBe(true);
  return (await response.json()).backstageIdentity.token;
}

/** The sample plugin as the API shows it; undefined before its first install. */
export async function samplePlugin(
  page: Page,
): Promise<SamplePlugin | undefined> {
  const response = await page.request.get(`${API}/plugins/${PLUGIN}`, {
    headers: { Authorization: `Bearer ${await token(page)}` },
  });
  if (response.status() === 404) return undefined;
  expect(response.ok()).toBe(true);
  return response.json();
}

/** Runs an action on the sample plugin and waits for it to succeed. */
async function act(page: Page, action: string, body: object = {}) {
  const headers = { Authorization: `Bearer ${await token(page)}` };
  const accepted = await page.request.post(
    `${API}/plugins/${PLUGIN}/${action}`,
    { headers, data: body },
  );
  expect(accepted.status(), await accepted.text()).toBe(202);
  const { operationId } = await accepted.json();
  await expect
    .poll(
      async () => {
        const response = await page.request.get(
          `${API}/operations/${operationId}?waitSeconds=20`,
          { headers },
        );
        return (await response.json()).status;
      },
      { timeout: 90_000, intervals: [100] },
    )
    .toMatch(/^(succeeded|failed|cancelled)$/);
  const ended = await page.request.get(`${API}/operations/${operationId}`, {
    headers,
  });
  expect(await ended.json()).toMatchObject({ status: 'succeeded' });
}

/** Installs 1.0.0 and starts it, from whatever state the plugin is in. */
export async function ensureSampleRunning(page: Page) {
  let plugin = await samplePlugin(page);
  if (!plugin || plugin.state === 'inactive') {
    await act(page, 'install', { version: '1.0.0', start: true });
    plugin = await samplePlugin(page);
  }
  if (plugin?.state !== 'running') {
    await act(page, 'start');
  }
  await expect
    .poll(async () => (await samplePlugin(page))?.state, { timeout: 60_000 })
    .toBe('running');
}

/** Stops and uninstalls the sample plugin, as the lifecycle test expects it. */
export async function uninstallSample(page: Page) {
  const plugin = await samplePlugin(page);
  if (!plugin || plugin.state === 'inactive') return;
  if (plugin.state === 'running') {
    await act(page, 'stop');
  }
  await act(page, 'uninstall');
}

/** The live configuration a running instance of the sample reports. */
export async function instanceConfig(
  page: Page,
): Promise<Record<string, unknown>> {
  const plugin = await samplePlugin(page);
  const instance = plugin?.instances.find(i => i.status === 'running');
  if (!instance) return {};
  const response = await page.request.get(
    `http://${instance.host}:${instance.port}/config`,
  );
  return (await response.json()).live;
}
