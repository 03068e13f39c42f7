import { APIRequestContext, Page } from '@playwright/test';
import { captureScreens, expect, test } from './fixtures';
import { SAMPLE_ENTITY, signIn } from './samplePlugin';

/**
 * The Health tab in a real browser against the real backend. The HTTP
 * sample, running, shows its instances with their probes passing, a chart
 * of each instance's checks and, after requests through the proxy, the
 * traffic of its version; the gRPC sample, which has no probes, shows as
 * not checked rather than healthy. Each test brings its plugin to the
 * state it needs through the REST API (whatever earlier files left) and
 * uninstalls it at the end, so the lifecycle test finds "Not installed yet".
 */
const PROBES = ['startup', 'readiness', 'liveness'];
const HTTP_SAMPLE = 'sample-http-service';
const GRPC_SAMPLE = 'sample-grpc-service';
const GRPC_ENTITY = '/catalog/default/component/sample-grpc-service';

/** The REST API as the guest, for setting up and tearing down. */
async function guestApi(page: Page) {
  const refresh = await page.request.get(
    '/api/auth/guest/refresh?env=development',
    { headers: { 'X-Requested-With': 'XMLHttpRequest' } },
  );
  expect(refresh.ok()).toBe(true);
  const token = (await refresh.json()).backstageIdentity.token as string;
  const headers = { Authorization: `Bearer ${token}` };
  const base = '/api/plugin-lifecycle';
  const request: APIRequestContext = page.request;

  /** Posts an action and waits for its operation to end. */
  async function act(pluginId: string, action: string, body: object = {}) {
    const res = await request.post(`${base}/plugins/${pluginId}/${action}`, {
      headers,
      data: body,
    });
    expect(res.status(), await res.text()).toBe(202);
    const { operationId } = await res.json();
    await expect(async () => {
      const op = await request.get(
        `${base}/operations/${operationId}?waitSeconds=30`,
        { headers },
      );
      const { status, error } = await op.json();
      expect(['succeeded', 'failed', 'cancelled']).toContain(status);
      expect(status, error).toBe('succeeded');
    }).toPass({ timeout: 120_000 });
  }

  async function state(pluginId: string): Promise<string | undefined> {
    const res = await request.get(`${base}/plugins/${pluginId}`, { headers });
    return res.status() === 404 ? undefined : (await res.json()).state;
  }

  return {
    get: (path: string) => request.get(`${base}${path}`, { headers }),
    /** Installs (1.0.0) and starts the plugin, from whatever state it is in. */
    async ensureRunning(pluginId: string) {
      const now = await state(pluginId);
      if (now === undefined || now === 'inactive') {
        await act(pluginId, 'install', { version: '1.0.0', start: true });
      } else if (now !== 'running') {
        await act(pluginId, 'start');
      }
      expect(await state(pluginId)).toBe('running');
    },
    /** Stops and uninstalls the plugin, if it is installed. */
    async uninstall(pluginId: string) {
      const now = await state(pluginId);
      if (now === 'running') await act(pluginId, 'stop');
      if (now !== undefined && now !== 'inactive') {
        await act(pluginId, 'uninstall');
      }
    },
  };
}

test('charts the checks and the traffic of the running sample plugin', async ({
  page,
}) => {
  test.setTimeout(300_000);
  await signIn(page);
  const api = await guestApi(page);
  await api.ensureRunning(HTTP_SAMPLE);

  try {
    // Requests through the proxy, for the chart of traffic per version.
    for (let i = 0; i < 20; i++) {
      expect((await api.get(`/proxy/${HTTP_SAMPLE}/`)).status()).toBe(200);
    }

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
            has: page.getByText(`${probe} (http)`, { exact: true }),
          });
          await expect(row.getByTestId('probe-status')).toHaveText('passing', {
            timeout: 1_000,
          });
        }
        for (const fact of ['instance-ready', 'instance-live']) {
          await expect(card.getByTestId(fact)).toHaveText('yes', {
            timeout: 1_000,
          });
        }
        await expect(card.getByTestId('instance-verdict')).toHaveText(
          'healthy',
          { timeout: 1_000 },
        );
      }
      // The tab reloads by itself: no reload here.
    }).toPass({ timeout: 120_000, intervals: [1_000, 2_000, 5_000] });
    await expect(page.getByTestId('plugin-health-verdict')).toHaveText(
      'healthy',
    );

    // Once the probes have run a few times (every 10 s), each instance's
    // chart draws the latency of readiness and liveness and the success
    // rate as lines with data (the startup probe stops once it passed: a
    // dot).
    const chart = instances.first().getByTestId('instance-health-chart');
    await expect(chart).toBeVisible({ timeout: 90_000 });
    await expect(chart.locator('svg .recharts-line-curve')).toHaveCount(
      PROBES.length + 1,
    );
    for (const line of [
      'readiness latency',
      'liveness latency',
      'success rate',
    ]) {
      await expect(
        chart.locator(`svg .recharts-line-curve[name="${line}"]`),
      ).toHaveAttribute('d', /^M[\d.]+,[\d.]+(L|C)/, { timeout: 60_000 });
    }
    await expect(chart.getByTestId('chart-markers')).toContainText(
      '0 failed checks',
    );

    // The backend samples the proxy's counters every 5 s: the 20 requests
    // show as a line of 1.0.0 in each chart of the version traffic.
    const traffic = page.getByTestId('version-traffic');
    for (const metric of ['requestRate', 'errorRate', 'latencyP90Ms']) {
      const versionChart = traffic.getByTestId(`version-chart-${metric}`);
      await expect(versionChart).toBeVisible({ timeout: 30_000 });
      // Versions an earlier test sent traffic to may still be in the history
      // (it outlives an uninstall): 1.0.0 must be among them.
      await expect(
        versionChart.locator('.recharts-legend-wrapper'),
      ).toContainText('1.0.0');
      await expect(
        versionChart.locator('svg .recharts-line-curve').first(),
      ).toHaveAttribute('d', /^M/);
    }
    await captureScreens(page, 'health');
  } finally {
    await api.uninstall(HTTP_SAMPLE);
  }

  // Uninstalled: the monitor drops its instances within a few refreshes.
  await page.goto(`${SAMPLE_ENTITY}/health`);
  await expect(
    page.getByRole('heading', { name: 'No running instances' }),
  ).toBeVisible({ timeout: 30_000 });
  await expect(page.getByTestId('instance-health')).toHaveCount(0);
});

test('shows the gRPC sample, which has no probes, as not checked rather than healthy', async ({
  page,
}) => {
  test.setTimeout(240_000);
  await signIn(page);
  const api = await guestApi(page);
  await api.ensureRunning(GRPC_SAMPLE);

  try {
    await page.goto(`${GRPC_ENTITY}/health`);
    const card = page.getByTestId('instance-health').first();
    await expect(card).toBeVisible({ timeout: 30_000 });
    await expect(page.getByTestId('plugin-health-verdict')).toHaveText(
      'not checked',
    );
    await expect(page.getByTestId('plugin-health-instances')).toContainText(
      'not checked',
    );
    for (const fact of [
      'instance-verdict',
      'instance-ready',
      'instance-live',
    ]) {
      await expect(card.getByTestId(fact)).toHaveText('not checked');
    }
    // Nothing on the page is green: no "healthy", no ready "yes".
    await expect(page.getByTestId('status-ok')).toHaveCount(0);
    await expect(page.getByTestId('no-probes')).toContainText('nothing checks');
    // The guest may configure the sample plugins: it is offered a probe.
    await expect(
      page.getByRole('button', { name: 'Add a probe' }),
    ).toBeVisible();
    await captureScreens(page, 'health-not-checked');
  } finally {
    await api.uninstall(GRPC_SAMPLE);
  }
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
