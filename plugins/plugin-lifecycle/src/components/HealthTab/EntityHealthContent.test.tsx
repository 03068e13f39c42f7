import {
  act,
  fireEvent,
  screen,
  waitFor,
  within,
} from '@testing-library/react';
import {
  mockApis,
  renderInTestApp,
  TestApiProvider,
} from '@backstage/test-utils';
import { EntityProvider } from '@backstage/plugin-catalog-react';
import { AuthorizeResult } from '@backstage/plugin-permission-common';
import { permissionApiRef } from '@backstage/plugin-permission-react';
import { signalApiRef } from '@backstage/plugin-signals-react';
import { SWRConfig } from 'swr';
import { pluginLifecycleSignalChannel } from '@internal/plugin-lifecycle-common';
import { PluginLifecycleApi, pluginLifecycleApiRef } from '../../api';
import { EntityHealthContent } from './EntityHealthContent';
import { RECENT_RESULTS_PER_PROBE } from './usePluginHealth';
import {
  PLUGIN_ID,
  entity,
  layoutChartsAt,
  makeFakeApi,
  mixedHealth,
  noVersionMetrics,
  responseError,
  stoppedHealth,
  uncheckedHealth,
} from './__fixtures__/health';

/** A permission API that allows everything but the permissions named. */
function permissionsExcept(denied: string[]) {
  return mockApis.permission({
    authorize: request =>
      denied.includes(request.permission.name)
        ? AuthorizeResult.DENY
        : AuthorizeResult.ALLOW,
  });
}

/** A signal API whose messages the test sends. */
function fakeSignals() {
  const listeners = new Map<string, (message: unknown) => void>();
  return {
    api: {
      subscribe: (channel: string, onMessage: (m: unknown) => void) => {
        listeners.set(channel, onMessage);
        return { unsubscribe: () => listeners.delete(channel) };
      },
    },
    send: (channel: string, message: unknown) =>
      listeners.get(channel)?.(message),
  };
}

function renderContent(
  api: PluginLifecycleApi,
  options: {
    refreshIntervalMs?: number;
    denied?: string[];
    signals?: ReturnType<typeof fakeSignals>['api'];
  } = {},
) {
  const apis: any[] = [
    [pluginLifecycleApiRef, api],
    [permissionApiRef, permissionsExcept(options.denied ?? [])],
  ];
  if (options.signals) apis.push([signalApiRef, options.signals]);
  return renderInTestApp(
    <TestApiProvider apis={apis as any}>
      {/* A fresh cache of permission decisions for each render. */}
      <SWRConfig value={{ provider: () => new Map() }}>
        <EntityProvider entity={entity}>
          <EntityHealthContent refreshIntervalMs={options.refreshIntervalMs} />
        </EntityProvider>
      </SWRConfig>
    </TestApiProvider>,
  );
}

/** The card of one instance. */
function instanceCard(instanceId: string) {
  const card = screen
    .getAllByTestId('instance-health')
    .find(c => within(c).queryByText(instanceId));
  if (!card) {
    throw new Error(`no card for ${instanceId}`);
  }
  return card;
}

/** The row of a probe in an instance's card, by the probe's name. */
function probeRow(card: HTMLElement, probe: string) {
  const row = within(card)
    .getAllByRole('row')
    .find(
      r =>
        within(r).queryAllByRole('cell')[0]?.firstChild?.textContent === probe,
    );
  if (!row) {
    throw new Error(`no row for probe ${probe}`);
  }
  return within(row);
}

const marks = (card: HTMLElement, kind: string) =>
  card.querySelectorAll(`svg .health-marker-${kind}`).length;

// Full renders take seconds on a busy two-core machine.
jest.setTimeout(30_000);

describe('EntityHealthContent', () => {
  let restoreLayout: () => void;
  beforeEach(() => {
    // The tab at 800 px: an instance chart's container as wide as its card.
    restoreLayout = layoutChartsAt(720, 240);
  });
  afterEach(() => restoreLayout());

  it('shows the verdict, readiness and probes of each instance', async () => {
    const api = makeFakeApi();
    await renderContent(api);

    expect(
      await screen.findByTestId('plugin-health-verdict'),
    ).toHaveTextContent('degrading');
    expect(api.getPluginHealth).toHaveBeenCalledWith(PLUGIN_ID, {
      recent: RECENT_RESULTS_PER_PROBE,
    });
    expect(screen.getByTestId('plugin-health-instances')).toHaveTextContent(
      '2 (1 healthy, 1 unhealthy)',
    );
    expect(screen.getByText('startup, readiness, liveness')).toBeVisible();
    expect(screen.getAllByTestId('instance-health')).toHaveLength(2);
    expect(screen.queryByTestId('no-probes')).toBeNull();

    const healthy = within(instanceCard('inst-abc'));
    expect(healthy.getByText('127.0.0.1:43117')).toBeInTheDocument();
    expect(healthy.getByTestId('instance-verdict')).toHaveTextContent(
      'healthy',
    );
    expect(
      within(healthy.getByTestId('instance-verdict')).getByTestId('status-ok'),
    ).toBeInTheDocument();
    expect(healthy.getByTestId('instance-ready')).toHaveTextContent('yes');
    expect(healthy.getByTestId('instance-live')).toHaveTextContent('yes');
    expect(healthy.getByTestId('instance-health-score')).toHaveTextContent(
      '1.00',
    );
    expect(healthy.getAllByTestId('probe-status')).toHaveLength(3);
    for (const probe of ['startup', 'readiness', 'liveness']) {
      const row = probeRow(instanceCard('inst-abc'), probe);
      expect(row.getByTestId('probe-status')).toHaveTextContent('passing');
      expect(row.getByText(`${probe} (http)`)).toBeInTheDocument();
      expect(row.getByText('1.23 ms')).toBeInTheDocument();
      expect(row.getByText('mean 1.5 ms ± 0.25 ms')).toBeInTheDocument();
      expect(row.getByText('100%')).toBeInTheDocument();
      expect(row.getByText('steady')).toBeInTheDocument();
      expect(row.getByText('HTTP 200')).toBeInTheDocument();
      expect(row.getByTestId('probe-recent')).toHaveTextContent('3 of 3 ok');
      // Relative, with the absolute time on hover.
      const checked = row.getByText(/ago$/);
      expect(checked.tagName).toBe('TIME');
      expect(checked).toHaveAttribute('dateTime', '2025-01-01T10:05:00.000Z');
      expect(checked.getAttribute('title')).toMatch(/2025/);
    }

    const unhealthy = within(instanceCard('inst-def'));
    expect(unhealthy.getByTestId('instance-verdict')).toHaveTextContent(
      'unhealthy',
    );
    expect(unhealthy.getByTestId('instance-ready')).toHaveTextContent('no');
    expect(unhealthy.getByTestId('instance-health-score')).toHaveTextContent(
      '0.25',
    );
    expect(unhealthy.getByTestId('instance-reasons')).toHaveTextContent(
      'readiness probe failing',
    );
    const readiness = probeRow(instanceCard('inst-def'), 'readiness');
    expect(readiness.getByTestId('probe-status')).toHaveTextContent('failing');
    expect(readiness.getByText('circuit open')).toBeInTheDocument();
    expect(readiness.getByText('850 ms')).toBeInTheDocument();
    expect(readiness.getByText('40%')).toBeInTheDocument();
    expect(readiness.getByText('degrading')).toBeInTheDocument();
    expect(
      readiness.getByText('success rate 40% below 90%'),
    ).toBeInTheDocument();
    expect(
      readiness.getByText('HTTP 503 Service Unavailable'),
    ).toBeInTheDocument();
    expect(readiness.getByTestId('probe-recent')).toHaveTextContent(
      '1 of 2 ok',
    );
    const liveness = probeRow(instanceCard('inst-def'), 'liveness');
    expect(liveness.getByTestId('probe-status')).toHaveTextContent('unknown');
    expect(liveness.queryByTestId('probe-recent')).toBeNull();
  });

  it('puts the last message under the probe on a screen narrower than 960 px', async () => {
    const original = window.matchMedia;
    // A window 800 px wide, as the browser answers media queries.
    window.matchMedia = ((query: string) => ({
      matches: /max-width:\s*959/.test(query),
      media: query,
      addListener: () => {},
      removeListener: () => {},
      addEventListener: () => {},
      removeEventListener: () => {},
    })) as any;
    try {
      await renderContent(makeFakeApi());
      await screen.findAllByTestId('instance-health');
      const card = instanceCard('inst-abc');
      const headers = within(card)
        .getAllByRole('columnheader')
        .map(h => h.textContent);
      expect(headers).toEqual(['Probe', 'Status', 'Latency', 'Success']);
      const firstCell = within(card)
        .getAllByRole('row')[1]
        .querySelector('td')!;
      expect(firstCell).toHaveTextContent(
        /^startupstartup \(http\)HTTP 200checked/,
      );
    } finally {
      window.matchMedia = original;
    }
  });

  it('charts each instance with its failures, anomalies and status changes marked', async () => {
    await renderContent(makeFakeApi());
    await screen.findAllByTestId('instance-health');

    const healthy = instanceCard('inst-abc');
    const chart = within(healthy).getByTestId('instance-health-chart');
    // A latency line per probe and the success rate, drawn with data.
    const lines = chart.querySelectorAll('.recharts-line-curve');
    expect(lines).toHaveLength(4);
    lines.forEach(line => expect(line.getAttribute('d')).toMatch(/^M[\d.]+/));
    for (const name of [
      'startup latency',
      'readiness latency',
      'success rate',
    ]) {
      expect(within(chart).getByText(name)).toBeInTheDocument();
    }
    // 2.4 ms against a mean of 1.5 ms ± 0.25 ms, once per probe.
    expect(marks(healthy, 'anomaly')).toBe(3);
    expect(marks(healthy, 'failure')).toBe(0);
    expect(marks(healthy, 'transition')).toBe(3);
    const legend = within(healthy).getByTestId('chart-markers');
    expect(legend).toHaveTextContent('0 failed checks');
    expect(legend).toHaveTextContent('3 latency anomalies');
    expect(legend).toHaveTextContent('0 pass/fail flips');
    // What a mark is, on hover.
    const anomaly = healthy.querySelector('svg .health-marker-anomaly')!;
    expect(anomaly.querySelector('title')?.textContent).toMatch(
      /latency anomaly \(z-score 3\.6\)$/,
    );

    const unhealthy = instanceCard('inst-def');
    expect(marks(unhealthy, 'failure')).toBe(1);
    expect(marks(unhealthy, 'flip')).toBe(1);
    const failure = unhealthy.querySelector('svg .health-marker-failure')!;
    expect(failure.querySelector('title')?.textContent).toMatch(
      /readiness failed: HTTP 503 Service Unavailable$/,
    );
    const unhealthyLegend = within(unhealthy).getByTestId('chart-markers');
    for (const text of [
      '1 failed check',
      '1 latency anomaly',
      '1 pass/fail flip',
      'readiness failing since',
    ]) {
      expect(unhealthyLegend).toHaveTextContent(text);
    }
  });

  it('charts request rate, error rate and latency per version', async () => {
    const api = makeFakeApi();
    await renderContent(api);

    const traffic = await screen.findByTestId('version-traffic');
    expect(api.getPluginVersionMetrics).toHaveBeenCalledWith(PLUGIN_ID);
    expect(traffic).toHaveTextContent(
      /sampled every 5 s over the last 30 minutes/,
    );
    for (const metric of ['requestRate', 'errorRate', 'latencyP90Ms']) {
      const chart = await within(traffic).findByTestId(
        `version-chart-${metric}`,
      );
      const lines = chart.querySelectorAll('.recharts-line-curve');
      expect(lines).toHaveLength(2);
      lines.forEach(line => expect(line.getAttribute('d')).toMatch(/^M/));
      expect(within(chart).getByText('1.0.0')).toBeInTheDocument();
      expect(within(chart).getByText('1.1.0')).toBeInTheDocument();
    }
    expect(
      within(traffic).getByText('Error rate (5xx and failed)'),
    ).toBeInTheDocument();
  });

  it('says when no request went through the proxy, and shows health when the history fails', async () => {
    await renderContent(
      makeFakeApi({
        getPluginVersionMetrics: jest.fn(async () => noVersionMetrics),
      }),
    );
    expect(
      await screen.findByText(/No requests to sample-http-service through/),
    ).toBeVisible();
    expect(screen.queryByTestId('version-chart-requestRate')).toBeNull();
  });

  it('keeps the health when the traffic history cannot be loaded', async () => {
    await renderContent(
      makeFakeApi({
        getPluginVersionMetrics: jest.fn(async () => {
          throw await responseError(503, 'Service Unavailable', {
            name: 'Error',
            message: 'try later',
          });
        }),
      }),
    );
    expect(
      await screen.findByText(
        'Warning: The traffic history could not be loaded',
      ),
    ).toBeInTheDocument();
    expect(screen.getAllByTestId('instance-health')).toHaveLength(2);
  });

  it('shows an instance without probes as not checked, never healthy', async () => {
    await renderContent(
      makeFakeApi({ getPluginHealth: jest.fn(async () => uncheckedHealth) }),
    );

    const verdict = await screen.findByTestId('plugin-health-verdict');
    expect(verdict).toHaveTextContent('not checked');
    expect(within(verdict).getByTestId('status-aborted')).toBeInTheDocument();
    expect(screen.getByTestId('plugin-health-instances')).toHaveTextContent(
      '1 (1 not checked)',
    );
    const card = within(instanceCard('inst-grpc'));
    for (const fact of [
      'instance-verdict',
      'instance-ready',
      'instance-live',
    ]) {
      expect(card.getByTestId(fact)).toHaveTextContent('not checked');
      expect(
        within(card.getByTestId(fact)).getByTestId('status-aborted'),
      ).toBeInTheDocument();
    }
    expect(screen.queryByTestId('status-ok')).toBeNull();
    expect(card.queryByTestId('instance-health-score')).toBeNull();
    expect(card.queryByTestId('instance-health-chart')).toBeNull();
    expect(card.getByTestId('instance-reasons')).toHaveTextContent(
      'no probes defined: nothing checks this instance',
    );
    expect(screen.getByTestId('no-probes')).toHaveTextContent(
      'nothing checks this plugin',
    );
  });

  it('adds a probe to a plugin without probes for a user who may configure it', async () => {
    const api = makeFakeApi({
      getPluginHealth: jest.fn(async () => uncheckedHealth),
    });
    await renderContent(api);

    fireEvent.click(await screen.findByRole('button', { name: 'Add a probe' }));
    const dialog = within(await screen.findByRole('dialog'));
    fireEvent.change(dialog.getByLabelText('Check'), {
      target: { value: 'grpc' },
    });
    fireEvent.change(dialog.getByLabelText('Every (seconds)'), {
      target: { value: '0' },
    });
    expect(
      dialog.getByText('seconds between checks, 1 to 86400'),
    ).toBeInTheDocument();
    expect(dialog.getByRole('button', { name: 'Add probe' })).toBeDisabled();
    fireEvent.change(dialog.getByLabelText('Every (seconds)'), {
      target: { value: '5' },
    });
    const calls = (api.getPluginHealth as jest.Mock).mock.calls.length;
    fireEvent.click(dialog.getByRole('button', { name: 'Add probe' }));

    await waitFor(() =>
      expect(api.setPluginProbes).toHaveBeenCalledWith(PLUGIN_ID, [
        {
          name: 'readiness',
          type: 'readiness',
          method: 'grpc',
          grpc: {},
          periodSeconds: 5,
        },
      ]),
    );
    await waitFor(() => expect(screen.queryByRole('dialog')).toBeNull());
    expect(
      (api.getPluginHealth as jest.Mock).mock.calls.length,
    ).toBeGreaterThan(calls);
  });

  it('says how probes come without the configure permission', async () => {
    await renderContent(
      makeFakeApi({ getPluginHealth: jest.fn(async () => uncheckedHealth) }),
      { denied: ['plugin-lifecycle.plugin.configure'] },
    );
    expect(await screen.findByTestId('no-probes')).toHaveTextContent(
      'pluginLifecycle.probes',
    );
    expect(screen.queryByRole('button', { name: 'Add a probe' })).toBeNull();
  });

  it('polls without signals', async () => {
    jest.useFakeTimers();
    try {
      const api = makeFakeApi({
        getPluginHealth: jest
          .fn()
          .mockResolvedValueOnce(stoppedHealth)
          .mockResolvedValue(mixedHealth),
      });
      await renderContent(api, { refreshIntervalMs: 0 });
      expect(await screen.findByText('No running instances')).toBeVisible();

      await act(async () => {
        jest.advanceTimersByTime(5000);
      });
      expect(await screen.findAllByTestId('instance-health')).toHaveLength(2);
      expect(api.getPluginVersionMetrics).toHaveBeenCalledTimes(2);
    } finally {
      jest.useRealTimers();
    }
  });

  it('reloads on a health signal, and every refreshIntervalMs for the charts', async () => {
    jest.useFakeTimers();
    try {
      const signals = fakeSignals();
      const api = makeFakeApi();
      await renderContent(api, {
        refreshIntervalMs: 10_000,
        signals: signals.api,
      });
      await screen.findAllByTestId('instance-health');
      expect(api.getPluginHealth).toHaveBeenCalledTimes(1);

      // Settled and with signals: nothing before the chart poll is due.
      await act(async () => {
        jest.advanceTimersByTime(9_000);
      });
      expect(api.getPluginHealth).toHaveBeenCalledTimes(1);
      await act(async () => {
        jest.advanceTimersByTime(1_000);
      });
      await waitFor(() => expect(api.getPluginHealth).toHaveBeenCalledTimes(2));

      await act(async () => {
        signals.send(pluginLifecycleSignalChannel(PLUGIN_ID), {
          kind: 'health',
          pluginId: PLUGIN_ID,
          at: '2025-01-01T10:06:00.000Z',
        });
        jest.advanceTimersByTime(300);
      });
      await waitFor(() => expect(api.getPluginHealth).toHaveBeenCalledTimes(3));
      expect(api.getPluginVersionMetrics).toHaveBeenCalledTimes(3);
    } finally {
      jest.useRealTimers();
    }
  });

  it('says so when the plugin has no running instances', async () => {
    const api = makeFakeApi({
      getPluginHealth: jest.fn(async () => stoppedHealth),
    });
    await renderContent(api);

    expect(await screen.findByText('No running instances')).toBeVisible();
    expect(screen.getByTestId('plugin-health-verdict')).toHaveTextContent(
      'unknown',
    );
    expect(screen.queryByTestId('instance-health')).toBeNull();
  });

  it('says so when the plugin was never installed', async () => {
    const api = makeFakeApi({
      getPluginHealth: jest.fn(async () => {
        throw await responseError(404, 'Not Found', {
          name: 'NotFoundError',
          message: `No plugin with id '${PLUGIN_ID}'`,
        });
      }),
    });
    await renderContent(api);

    expect(await screen.findByText('Not installed yet')).toBeVisible();
  });

  it('shows a failure of the API', async () => {
    const api = makeFakeApi({
      getPluginHealth: jest.fn(async () => {
        throw await responseError(500, 'Internal Server Error', {
          name: 'Error',
          message: 'database is locked',
        });
      }),
    });
    await renderContent(api);

    expect(
      await screen.findByText(
        'Error: Request failed with 500 Internal Server Error',
      ),
    ).toBeInTheDocument();
    expect(screen.getAllByText(/database is locked/).length).toBeGreaterThan(0);
    expect(screen.queryByTestId('plugin-health-verdict')).toBeNull();
  });
});
