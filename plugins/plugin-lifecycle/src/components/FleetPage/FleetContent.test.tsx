import { fireEvent, screen, waitFor, within } from '@testing-library/react';
import { renderInTestApp, TestApiProvider } from '@backstage/test-utils';
import { InMemoryCatalogClient } from '@backstage/catalog-client/testUtils';
import { catalogApiRef, entityRouteRef } from '@backstage/plugin-catalog-react';
import { signalApiRef } from '@backstage/plugin-signals-react';
import { PLUGIN_LIFECYCLE_FLEET_CHANNEL } from '@internal/plugin-lifecycle-common';
import { PluginLifecycleApi, pluginLifecycleApiRef } from '../../api';
import { PluginLifecycleFleetContent } from './FleetContent';
import {
  canary,
  component,
  health,
  makeFakeApi,
  summary,
  unrelated,
} from './__fixtures__/fleet';

// Full renders take seconds on a busy two-core machine.
jest.setTimeout(20_000);

const entities = [
  component('sample-http-service', 'sample-http-service'),
  component('sample-grpc-service', 'sample-grpc-service', 'platform-team'),
  unrelated,
];

function fleetApi(overrides: Partial<PluginLifecycleApi> = {}) {
  return makeFakeApi({
    listPlugins: jest.fn(async () => [
      summary('sample-http-service'),
      summary('orphan-service', {
        state: 'error',
        currentVersion: '2.0.0',
        lastError: 'exited with code 1',
      }),
      summary('old-service', { state: 'inactive', currentVersion: undefined }),
    ]),
    getPluginHealth: jest.fn(async (id: string) =>
      health(id, id === 'orphan-service' ? 'down' : 'healthy'),
    ),
    listDeployments: jest.fn(async () => [canary('sample-http-service')]),
    ...overrides,
  });
}

/** A signal API whose subscribers the test can send messages to. */
function fakeSignals() {
  const listeners = new Map<string, (message: any) => void>();
  return {
    api: {
      subscribe: (channel: string, onMessage: (message: any) => void) => {
        listeners.set(channel, onMessage);
        return { unsubscribe: () => listeners.delete(channel) };
      },
    },
    send: (channel: string, message: any) => listeners.get(channel)?.(message),
  };
}

async function renderFleet(
  api: PluginLifecycleApi,
  signals?: ReturnType<typeof fakeSignals>,
) {
  const apis: any[] = [
    [pluginLifecycleApiRef, api],
    [catalogApiRef, new InMemoryCatalogClient({ entities })],
  ];
  if (signals) {
    apis.push([signalApiRef, signals.api]);
  }
  await renderInTestApp(
    <TestApiProvider apis={apis as any}>
      <PluginLifecycleFleetContent />
    </TestApiProvider>,
    { mountedRoutes: { '/catalog/:namespace/:kind/:name': entityRouteRef } },
  );
  await screen.findByTestId('fleet-table');
}

/** The table row of a plugin, by its id. */
function row(pluginId: string) {
  const found = screen
    .getAllByTestId('fleet-plugin')
    .find(cell => cell.textContent?.startsWith(pluginId));
  if (!found) {
    throw new Error(`no row for ${pluginId}`);
  }
  return within(found.closest('tr')!);
}

function shownPlugins() {
  return screen
    .queryAllByTestId('fleet-plugin')
    .map(cell => cell.querySelector('a, span')?.textContent);
}

/** Picks an option of one of the filter selects (MUI opens them on mouse down). */
function choose(label: string, option: string) {
  fireEvent.mouseDown(
    within(screen.getByTestId('fleet-filters')).getByRole('button', {
      name: new RegExp(label),
    }),
  );
  fireEvent.click(within(screen.getByRole('listbox')).getByText(option));
}

describe('PluginLifecycleFleetContent', () => {
  it('lists every managed plugin and every annotated entity with state, version, health, rollout and owner', async () => {
    const api = fleetApi();
    await renderFleet(api);

    expect(shownPlugins()).toEqual([
      'old-service',
      'orphan-service',
      'sample-grpc-service',
      'sample-http-service',
    ]);
    expect(screen.getByText('4 of 4 plugins')).toBeInTheDocument();

    const http = row('sample-http-service');
    expect(http.getByTestId('lifecycle-state')).toHaveTextContent('running');
    expect(http.getByTestId('fleet-version')).toHaveTextContent('1.0.0');
    expect(http.getByTestId('fleet-health')).toHaveTextContent('healthy');
    expect(http.getByTestId('rollout-phase')).toHaveTextContent('progressing');
    expect(http.getByTestId('rollout-to-version')).toHaveTextContent('1.1.0');
    expect(http.getByTestId('rollout-progress')).toHaveTextContent(
      'step 3 of 4, 50% done · 25% of traffic on the new version',
    );
    expect(http.getByText('guests')).toBeInTheDocument();

    const orphan = row('orphan-service');
    expect(orphan.getByTestId('lifecycle-state')).toHaveTextContent('error');
    // Its error is on the fleet page: it has no entity page to show it.
    expect(orphan.getByTestId('fleet-last-error')).toHaveTextContent(
      'exited with code 1',
    );
    expect(orphan.getByTestId('fleet-health')).toHaveTextContent('down');
    expect(orphan.getByText('no catalog entity')).toBeInTheDocument();
    expect(orphan.getByText('none')).toBeInTheDocument();

    const grpc = row('sample-grpc-service');
    expect(grpc.getByTestId('lifecycle-state')).toHaveTextContent(
      'not installed',
    );
    expect(grpc.getByTestId('fleet-health')).toHaveTextContent('-');
    expect(grpc.getByText('platform-team')).toBeInTheDocument();

    // Health is read for installed plugins only, without samples.
    expect(api.getPluginHealth.mock.calls.map(c => c[0]).sort()).toEqual([
      'orphan-service',
      'sample-http-service',
    ]);
    expect(api.getPluginHealth).toHaveBeenCalledWith('sample-http-service', {
      recent: 0,
    });
    expect(api.listDeployments).toHaveBeenCalledWith(
      expect.objectContaining({ active: true }),
    );
  });

  it('links each row with an entity to the entity page, and no other', async () => {
    await renderFleet(fleetApi());
    expect(
      row('sample-http-service').getByRole('link', {
        name: 'sample-http-service',
      }),
    ).toHaveAttribute('href', '/catalog/default/component/sample-http-service');
    expect(
      row('sample-grpc-service').getByRole('link', {
        name: 'sample-grpc-service',
      }),
    ).toHaveAttribute('href', '/catalog/default/component/sample-grpc-service');
    expect(
      row('orphan-service').queryByRole('link', { name: 'orphan-service' }),
    ).toBeNull();
  });

  it('filters by state and health and searches', async () => {
    await renderFleet(fleetApi());

    choose('State', 'error');
    expect(shownPlugins()).toEqual(['orphan-service']);
    expect(screen.getByText('1 of 4 plugins')).toBeInTheDocument();

    choose('State', 'any');
    choose('Health', 'healthy');
    expect(shownPlugins()).toEqual(['sample-http-service']);

    choose('Health', 'any');
    fireEvent.change(screen.getByLabelText('Search'), {
      target: { value: 'platform' },
    });
    expect(shownPlugins()).toEqual(['sample-grpc-service']);

    fireEvent.change(screen.getByLabelText('Search'), {
      target: { value: 'nothing-like-this' },
    });
    expect(shownPlugins()).toEqual([]);
    expect(screen.getByText('No plugin matches the filters.')).toBeVisible();
  });

  it('reloads when the fleet channel signals a change, without a reload of the page', async () => {
    let state: 'installed' | 'running' = 'installed';
    const api = fleetApi({
      listPlugins: jest.fn(async () => [
        summary('sample-http-service', { state }),
      ]),
      listDeployments: jest.fn(async () => []),
    });
    const signals = fakeSignals();
    await renderFleet(api, signals);
    expect(
      row('sample-http-service').getByTestId('lifecycle-state'),
    ).toHaveTextContent('installed');
    expect(screen.getByTestId('fleet-live-mode')).toHaveTextContent('Live');

    state = 'running';
    signals.send(PLUGIN_LIFECYCLE_FLEET_CHANNEL, {
      kind: 'state',
      pluginId: 'sample-http-service',
      at: new Date().toISOString(),
    });
    await waitFor(() =>
      expect(
        row('sample-http-service').getByTestId('lifecycle-state'),
      ).toHaveTextContent('running'),
    );
  });

  it('keeps the last rows when a reload fails, and says so', async () => {
    const api = fleetApi();
    const signals = fakeSignals();
    await renderFleet(api, signals);
    api.listPlugins.mockRejectedValueOnce(new Error('backend unreachable'));
    signals.send(PLUGIN_LIFECYCLE_FLEET_CHANNEL, {
      kind: 'state',
      pluginId: 'sample-http-service',
      at: new Date().toISOString(),
    });
    expect(
      await screen.findByText(
        /Could not reload the fleet; showing what was last loaded/,
      ),
    ).toBeInTheDocument();
    expect(shownPlugins()).toHaveLength(4);
  });

  it('shows the error when the first load fails', async () => {
    const api = fleetApi({
      listPlugins: jest.fn(async () => {
        throw new Error('backend unreachable');
      }),
    });
    await renderInTestApp(
      <TestApiProvider
        apis={[
          [pluginLifecycleApiRef, api],
          [catalogApiRef, new InMemoryCatalogClient({ entities })],
        ]}
      >
        <PluginLifecycleFleetContent />
      </TestApiProvider>,
      { mountedRoutes: { '/catalog/:namespace/:kind/:name': entityRouteRef } },
    );
    expect(
      (await screen.findAllByText(/backend unreachable/)).length,
    ).toBeGreaterThan(0);
    expect(screen.queryByTestId('fleet-table')).toBeNull();
  });
});
