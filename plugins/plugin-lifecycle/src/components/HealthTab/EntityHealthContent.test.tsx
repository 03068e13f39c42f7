import { act, screen, within } from '@testing-library/react';
import { renderInTestApp, TestApiProvider } from '@backstage/test-utils';
import { EntityProvider } from '@backstage/plugin-catalog-react';
import { PluginLifecycleApi, pluginLifecycleApiRef } from '../../api';
import { EntityHealthContent } from './EntityHealthContent';
import { RECENT_RESULTS_PER_PROBE } from './usePluginHealth';
import {
  PLUGIN_ID,
  entity,
  makeFakeApi,
  mixedHealth,
  responseError,
  stoppedHealth,
} from './__fixtures__/health';

function renderContent(api: PluginLifecycleApi, refreshIntervalMs?: number) {
  return renderInTestApp(
    <TestApiProvider apis={[[pluginLifecycleApiRef, api]]}>
      <EntityProvider entity={entity}>
        <EntityHealthContent refreshIntervalMs={refreshIntervalMs} />
      </EntityProvider>
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
  return within(card);
}

/** The row of a probe in an instance's card, by the probe's name. */
function probeRow(card: ReturnType<typeof instanceCard>, probe: string) {
  const row = card
    .getAllByRole('row')
    .find(r => within(r).queryAllByRole('cell')[0]?.textContent === probe);
  if (!row) {
    throw new Error(`no row for probe ${probe}`);
  }
  return within(row);
}

// Full renders take seconds on a busy two-core machine.
jest.setTimeout(20_000);

describe('EntityHealthContent', () => {
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

    const healthy = instanceCard('inst-abc');
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
      const row = probeRow(healthy, probe);
      expect(row.getByTestId('probe-status')).toHaveTextContent('passing');
      expect(row.getByText('1.23 ms')).toBeInTheDocument();
      expect(row.getByText('mean 1.5 ms ± 0.25 ms')).toBeInTheDocument();
      expect(row.getByText('100%')).toBeInTheDocument();
      expect(row.getByText('steady')).toBeInTheDocument();
      expect(row.getByText('HTTP 200')).toBeInTheDocument();
      expect(row.getByText(`${probe} (http)`)).toBeInTheDocument();
      expect(row.getByTestId('probe-recent')).toHaveTextContent('3 of 3 ok');
      expect(row.getByTestId('latency-sparkline')).toBeInTheDocument();
    }

    const unhealthy = instanceCard('inst-def');
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
    const readiness = probeRow(unhealthy, 'readiness');
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
    const liveness = probeRow(unhealthy, 'liveness');
    expect(liveness.getByTestId('probe-status')).toHaveTextContent('unknown');
    expect(liveness.queryByTestId('probe-recent')).toBeNull();
  });

  it('reloads by itself', async () => {
    jest.useFakeTimers();
    try {
      const api = makeFakeApi({
        getPluginHealth: jest
          .fn()
          .mockResolvedValueOnce(stoppedHealth)
          .mockResolvedValue(mixedHealth),
      });
      await renderContent(api, 5000);
      expect(await screen.findByText('No running instances')).toBeVisible();

      await act(async () => {
        jest.advanceTimersByTime(5000);
      });
      expect(await screen.findAllByTestId('instance-health')).toHaveLength(2);
      expect(api.getPluginHealth).toHaveBeenCalledTimes(2);
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
