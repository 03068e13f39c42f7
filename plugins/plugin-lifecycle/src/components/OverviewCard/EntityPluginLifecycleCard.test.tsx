import { screen, within } from '@testing-library/react';
import { renderInTestApp, TestApiProvider } from '@backstage/test-utils';
import {
  EntityProvider,
  entityRouteRef,
} from '@backstage/plugin-catalog-react';
import { PluginLifecycleApi, pluginLifecycleApiRef } from '../../api';
import { EntityPluginLifecycleCard } from './EntityPluginLifecycleCard';
import {
  canary,
  component,
  details,
  health,
  makeFakeApi,
  notFound,
  unrelated,
} from '../FleetPage/__fixtures__/fleet';

// Full renders take seconds on a busy two-core machine.
jest.setTimeout(20_000);

const PLUGIN_ID = 'sample-http-service';
const entity = component(PLUGIN_ID, PLUGIN_ID);

async function renderCard(api: PluginLifecycleApi, forEntity = entity) {
  await renderInTestApp(
    <TestApiProvider apis={[[pluginLifecycleApiRef, api]]}>
      <EntityProvider entity={forEntity}>
        <EntityPluginLifecycleCard />
      </EntityProvider>
    </TestApiProvider>,
    { mountedRoutes: { '/catalog/:namespace/:kind/:name': entityRouteRef } },
  );
}

describe('EntityPluginLifecycleCard', () => {
  it('shows the state, version, health and the active rollout', async () => {
    const api = makeFakeApi({
      getPlugin: jest.fn(async () =>
        details(PLUGIN_ID, { state: 'updating', currentVersion: '1.0.0' }),
      ),
      getPluginHealth: jest.fn(async () => health(PLUGIN_ID, 'degrading')),
      listPluginDeployments: jest.fn(async () => [canary(PLUGIN_ID)]),
    });
    await renderCard(api);

    expect(await screen.findByTestId('rollout-phase')).toHaveTextContent(
      'progressing',
    );
    expect(screen.getByTestId('lifecycle-state')).toHaveTextContent('updating');
    expect(screen.getByTestId('overview-version')).toHaveTextContent('1.0.0');
    expect(screen.getByTestId('overview-health')).toHaveTextContent(
      'degrading',
    );
    expect(screen.getByTestId('rollout-to-version')).toHaveTextContent('1.1.0');
    expect(screen.getByTestId('rollout-progress')).toHaveTextContent(
      'step 3 of 4, 50% done · 25% of traffic on the new version',
    );
    expect(
      screen.getByRole('progressbar', {
        name: 'Rollout to 1.1.0: 50% done',
      }),
    ).toHaveAttribute('aria-valuenow', '50');
    expect(api.listPluginDeployments).toHaveBeenCalledWith(PLUGIN_ID, {
      active: true,
      limit: 1,
    });
  });

  it('says there is no rollout when none is under way', async () => {
    const api = makeFakeApi({
      getPlugin: jest.fn(async () => details(PLUGIN_ID)),
    });
    await renderCard(api);
    expect(await screen.findByTestId('overview-rollout')).toHaveTextContent(
      'none',
    );
    expect(screen.getByTestId('lifecycle-state')).toHaveTextContent('running');
    expect(screen.getByTestId('overview-health')).toHaveTextContent('healthy');
    expect(screen.queryByTestId('rollout-summary')).toBeNull();
  });

  it('says the plugin is not installed, without asking for its health', async () => {
    const api = makeFakeApi({
      getPlugin: jest.fn(async () => Promise.reject(await notFound(PLUGIN_ID))),
    });
    await renderCard(api);
    expect(await screen.findByTestId('lifecycle-state')).toHaveTextContent(
      'not installed',
    );
    expect(screen.getByTestId('overview-version')).toHaveTextContent('-');
    expect(screen.getByTestId('overview-health')).toHaveTextContent('-');
    expect(
      screen.getByText('Not installed yet: install it from the Lifecycle tab.'),
    ).toBeInTheDocument();
    expect(api.getPluginHealth).not.toHaveBeenCalled();
    expect(api.listPluginDeployments).not.toHaveBeenCalled();
  });

  it("links to the plugin's tabs on the entity page", async () => {
    await renderCard(makeFakeApi());
    await screen.findByTestId('lifecycle-state');
    const nav = within(screen.getByRole('navigation', { name: 'Plugin tabs' }));
    for (const tab of ['lifecycle', 'health', 'deployments', 'configuration']) {
      expect(
        nav.getByRole('link', { name: new RegExp(`^${tab}$`, 'i') }),
      ).toHaveAttribute(
        'href',
        `/catalog/default/component/${PLUGIN_ID}/${tab}`,
      );
    }
  });

  it('shows an error other than not found', async () => {
    const api = makeFakeApi({
      getPlugin: jest.fn(async () => {
        throw new Error('backend unreachable');
      }),
    });
    await renderCard(api);
    expect(
      await screen.findByText('Error: Could not load the plugin'),
    ).toBeInTheDocument();
    expect(screen.getByText('backend unreachable')).toBeInTheDocument();
  });

  it('explains an entity without the annotation', async () => {
    const api = makeFakeApi();
    await renderCard(api, unrelated);
    expect(
      screen.getByText(/has no plugin-lifecycle.backstage.io\/plugin-id/),
    ).toBeInTheDocument();
    expect(api.getPlugin).not.toHaveBeenCalled();
  });
});
