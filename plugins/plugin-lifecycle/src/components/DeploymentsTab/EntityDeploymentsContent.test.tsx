import { fireEvent, screen, waitFor, within } from '@testing-library/react';
import {
  mockApis,
  renderInTestApp,
  TestApiProvider,
} from '@backstage/test-utils';
import { AuthorizeResult } from '@backstage/plugin-permission-common';
import { permissionApiRef } from '@backstage/plugin-permission-react';
import { SWRConfig } from 'swr';
import { Entity } from '@backstage/catalog-model';
import { EntityProvider } from '@backstage/plugin-catalog-react';
import { ResponseError } from '@backstage/errors';
import {
  Deployment,
  PLUGIN_ID_ANNOTATION,
  PluginDetails,
} from '@internal/plugin-lifecycle-common';
import { PluginLifecycleApi, pluginLifecycleApiRef } from '../../api';
import { EntityDeploymentsContent } from './EntityDeploymentsContent';
import {
  analysingCanary,
  awaitingApproval,
  pausedCanary,
  rolledBackCanary,
  succeededRolling,
} from './__fixtures__/deployments';

jest.setTimeout(30_000);

// jsdom has no layout: recharts' ResponsiveContainer learns its size from a
// ResizeObserver, which this one reports as 600 x 240.
class FixedSizeObserver {
  constructor(private readonly callback: ResizeObserverCallback) {}
  observe(target: Element) {
    this.callback(
      [
        {
          target,
          contentRect: { width: 600, height: 240 },
        } as ResizeObserverEntry,
      ],
      this as unknown as ResizeObserver,
    );
  }
  unobserve() {}
  disconnect() {}
}
beforeAll(() => {
  (globalThis as any).ResizeObserver = FixedSizeObserver;
});

const entity: Entity = {
  apiVersion: 'backstage.io/v1alpha1',
  kind: 'Component',
  metadata: {
    name: 'sample-http-service',
    annotations: { [PLUGIN_ID_ANNOTATION]: 'sample-http-service' },
  },
  spec: { type: 'service', lifecycle: 'experimental', owner: 'guests' },
};

const plugin = {
  id: 'sample-http-service',
  tenant: 'default',
  runtime: 'process',
  state: 'running',
  revision: 4,
  currentVersion: '1.0.0',
  replicas: 1,
  createdAt: '2025-01-01T10:00:00.000Z',
  updatedAt: '2025-01-01T10:05:00.000Z',
  versions: [],
  instances: [],
  endedInstances: [],
  availableActions: ['stop', 'restart', 'update'],
} as unknown as PluginDetails;

async function responseError(
  status: number,
  statusText: string,
  message: string,
) {
  const name = status === 409 ? 'ConflictError' : 'InputError';
  const body = JSON.stringify({
    error: { name, message },
    response: { statusCode: status },
  });
  return ResponseError.fromResponse({
    ok: false,
    status,
    statusText,
    url: 'http://localhost/api/plugin-lifecycle/x',
    headers: new Headers({ 'Content-Type': 'application/json' }),
    text: async () => body,
  } as any);
}

/** A fake client over fixed deployments: the HTTP API has its own tests. */
function fakeApi(
  deployments: Deployment[],
  overrides: Partial<PluginLifecycleApi> = {},
) {
  return {
    getPlugin: jest.fn(async () => plugin),
    listPluginDeployments: jest.fn(
      async (_id: string, filter?: { active?: boolean }) =>
        filter?.active
          ? deployments.filter(
              d =>
                !['succeeded', 'rolled-back', 'aborted', 'failed'].includes(
                  d.phase,
                ),
            )
          : deployments,
    ),
    deploymentAction: jest.fn(
      async (id: string) => deployments.find(d => d.id === id)!,
    ),
    updatePlugin: jest.fn(async () => ({
      operationId: 'op-9',
      pluginId: 'sample-http-service',
      type: 'update',
      status: 'queued',
      deploymentId: 'dep-new',
    })),
    ...overrides,
  } as unknown as jest.Mocked<PluginLifecycleApi>;
}

function render(api: PluginLifecycleApi, denied: string[] = []) {
  const permissions = mockApis.permission({
    authorize: request =>
      denied.includes(request.permission.name)
        ? AuthorizeResult.DENY
        : AuthorizeResult.ALLOW,
  });
  return renderInTestApp(
    <TestApiProvider
      apis={[
        [pluginLifecycleApiRef, api],
        [permissionApiRef, permissions],
      ]}
    >
      <SWRConfig value={{ provider: () => new Map() }}>
        <EntityProvider entity={entity}>
          <EntityDeploymentsContent />
        </EntityProvider>
      </SWRConfig>
    </TestApiProvider>,
  );
}

const DEPLOY = 'plugin-lifecycle.plugin.deploy';
const APPROVE = 'plugin-lifecycle.deployment.approve';

describe('EntityDeploymentsContent', () => {
  it('shows an active canary: phase, versions, progress, charts, current step and analysis evidence', async () => {
    const api = fakeApi([analysingCanary, succeededRolling]);
    await render(api);

    expect(await screen.findByTestId('deployment-phase')).toHaveTextContent(
      'progressing',
    );
    expect(screen.getByText('Deployment in progress')).toBeInTheDocument();
    expect(screen.getByTestId('deployment-versions')).toHaveTextContent(
      '1.0.0 → 1.1.0',
    );
    // 2 of 6 steps done.
    expect(screen.getByTestId('deployment-progress')).toHaveAttribute(
      'aria-valuenow',
      '33',
    );
    expect(
      screen.getByText(/Step 3 of 6 \(2 done\) · 20% of traffic on 1.1.0/),
    ).toBeInTheDocument();

    const split = screen.getByTestId('traffic-split');
    expect(split).toHaveTextContent('1.0.0: 80%, 1.1.0: 20%');
    await waitFor(() =>
      expect(split.querySelectorAll('.recharts-bar-rectangle').length).toBe(2),
    );
    const overTime = screen.getByTestId('traffic-over-time');
    expect(overTime.querySelectorAll('.recharts-area').length).toBe(2);

    expect(screen.getByTestId('current-step')).toHaveTextContent(
      'Analysis 10 s',
    );
    const evidence = within(screen.getByTestId('evidence-1.1.0'));
    expect(evidence.getByText('12 / 50')).toBeInTheDocument();
    expect(evidence.getByText('14 ms')).toBeInTheDocument();
    expect(screen.getByTestId('analysis-verdict')).toHaveTextContent('running');

    // The earlier deployment is in the table, the active one is not.
    const table = within(screen.getByTestId('past-deployments'));
    expect(table.getByText('0.9.0 → 1.0.0')).toBeInTheDocument();
    expect(table.queryByText('1.0.0 → 1.1.0')).toBeNull();
    expect(api.listPluginDeployments).toHaveBeenCalledWith(
      'sample-http-service',
      {
        active: true,
        limit: 1,
      },
    );
  });

  it('offers the actions the phase allows, only to whom may take them', async () => {
    await render(fakeApi([analysingCanary]));
    const actions = within(await screen.findByTestId('deployment-actions'));
    expect(actions.getAllByRole('button').map(b => b.textContent)).toEqual([
      'Promote',
      'Pause',
      'Abort',
      'Roll back',
    ]);
  });

  it('hides the deploy actions from a user without the deploy permission', async () => {
    await render(fakeApi([analysingCanary]), [DEPLOY]);
    await screen.findByTestId('deployment-phase');
    expect(
      await screen.findByText('You may not deploy this plugin.'),
    ).toBeInTheDocument();
    expect(screen.queryByTestId('deployment-actions')).toBeNull();
    expect(screen.getByRole('button', { name: 'Start update' })).toBeDisabled();
  });

  it('shows a waiting approval, with approve and reject only for approvers', async () => {
    const view = await render(fakeApi([awaitingApproval]), [APPROVE]);
    expect(await screen.findByTestId('approval-waiting')).toHaveTextContent(
      /Approval needed at step 1 \(before the rollout starts\).*Waiting for someone with the deployment.approve permission/,
    );
    const denied = within(await screen.findByTestId('deployment-actions'));
    await waitFor(() =>
      expect(denied.getByRole('button', { name: 'Abort' })).toBeInTheDocument(),
    );
    expect(denied.queryByRole('button', { name: 'Approve' })).toBeNull();
    view.unmount();

    await render(fakeApi([awaitingApproval]));
    const allowed = within(await screen.findByTestId('deployment-actions'));
    await waitFor(() =>
      expect(
        allowed.getByRole('button', { name: 'Approve' }),
      ).toBeInTheDocument(),
    );
    expect(allowed.getByRole('button', { name: 'Reject' })).toBeInTheDocument();
    expect(screen.getByTestId('approval-waiting')).toHaveTextContent(
      'You may approve or reject it.',
    );
  });

  it('asks before an action and sends it with the reason', async () => {
    const api = fakeApi([pausedCanary]);
    await render(api);
    const actions = within(await screen.findByTestId('deployment-actions'));
    fireEvent.click(await actions.findByRole('button', { name: 'Promote' }));

    const dialog = within(await screen.findByRole('dialog'));
    expect(
      dialog.getByText('Promote the deployment of 1.1.0?'),
    ).toBeInTheDocument();
    expect(api.deploymentAction).not.toHaveBeenCalled();
    fireEvent.change(dialog.getByLabelText('Reason (optional)'), {
      target: { value: 'looks good' },
    });
    fireEvent.click(dialog.getByRole('button', { name: 'Promote' }));

    await waitFor(() =>
      expect(api.deploymentAction).toHaveBeenCalledWith(
        'dep-paused',
        'promote',
        {
          reason: 'looks good',
        },
      ),
    );
    await waitFor(() => expect(screen.queryByRole('dialog')).toBeNull());
  });

  it('does nothing when the dialog is cancelled', async () => {
    const api = fakeApi([analysingCanary]);
    await render(api);
    const actions = within(await screen.findByTestId('deployment-actions'));
    fireEvent.click(await actions.findByRole('button', { name: 'Abort' }));
    fireEvent.click(
      within(await screen.findByRole('dialog')).getByRole('button', {
        name: 'Cancel',
      }),
    );
    await waitFor(() => expect(screen.queryByRole('dialog')).toBeNull());
    expect(api.deploymentAction).not.toHaveBeenCalled();
  });

  it("shows the backend's reason when an action is refused", async () => {
    const conflict = await responseError(
      409,
      'Conflict',
      'deployment dep-canary is rolling-back: pause is possible only while it is progressing',
    );
    const api = fakeApi([analysingCanary], {
      deploymentAction: jest.fn(async () => {
        throw conflict;
      }),
    });
    await render(api);
    const actions = within(await screen.findByTestId('deployment-actions'));
    fireEvent.click(await actions.findByRole('button', { name: 'Pause' }));
    fireEvent.click(
      within(await screen.findByRole('dialog')).getByRole('button', {
        name: 'Pause',
      }),
    );
    expect(await screen.findByText(/Could not pause/)).toBeInTheDocument();
    expect(
      screen.getByText(
        'deployment dep-canary is rolling-back: pause is possible only while it is progressing (409 Conflict)',
      ),
    ).toBeInTheDocument();
  });

  it('shows the last deployment with its automatic rollback, evidence and a retry', async () => {
    await render(fakeApi([rolledBackCanary, succeededRolling]));
    expect(await screen.findByText('Last deployment')).toBeInTheDocument();
    expect(screen.getByTestId('deployment-phase')).toHaveTextContent(
      'rolled back',
    );
    expect(screen.getByTestId('deployment-message')).toHaveTextContent(
      /analysis failed: error rate 100 %/,
    );
    expect(
      within(screen.getByTestId('evidence-2.1.0')).getByText('21 / 5'),
    ).toBeInTheDocument();
    expect(screen.getByTestId('analysis-verdict')).toHaveTextContent('fail');
    const actions = within(await screen.findByTestId('deployment-actions'));
    await waitFor(() =>
      expect(actions.getAllByRole('button').map(b => b.textContent)).toEqual([
        'Retry',
      ]),
    );
  });

  it('lists past deployments with strategy, versions, outcome, duration and who', async () => {
    await render(
      fakeApi([analysingCanary, rolledBackCanary, succeededRolling]),
    );
    const table = within(await screen.findByTestId('past-deployments'));
    const rows = table
      .getAllByRole('row')
      .filter(r => within(r).queryAllByRole('cell').length > 1);
    expect(rows).toHaveLength(2);
    expect(rows[0]).toHaveTextContent(
      /canary.*1\.0\.0 → 2\.1\.0.*rolled back.*1 h.*user:default\/guest/,
    );
    expect(rows[1]).toHaveTextContent(
      /rolling.*0\.9\.0 → 1\.0\.0.*succeeded.*30 s.*user:default\/alice/,
    );
  });

  it('says so when the plugin was never installed', async () => {
    const notFound = await responseError(404, 'Not Found', 'no such plugin');
    await render(
      fakeApi([], {
        getPlugin: jest.fn(async () => {
          throw notFound;
        }),
      }),
    );
    expect(await screen.findByText('Not installed yet')).toBeInTheDocument();
  });
});

describe('the update form', () => {
  async function chooseStrategy(label: string) {
    const form = within(screen.getByRole('form', { name: 'Start an update' }));
    fireEvent.mouseDown(form.getByRole('button', { name: /Strategy/ }));
    fireEvent.click(await screen.findByRole('option', { name: label }));
  }

  it('checks the fields with the API schemas and shows each problem next to its field', async () => {
    const api = fakeApi([succeededRolling]);
    await render(api);
    await screen.findByText('Start an update');
    fireEvent.change(screen.getByLabelText('Version'), {
      target: { value: 'latest' },
    });
    await chooseStrategy('Canary');
    const step0 = within(screen.getByTestId('canary-step-0'));
    fireEvent.change(step0.getByLabelText('Weight (%)'), {
      target: { value: '150' },
    });
    const submit = screen.getByRole('button', { name: 'Start update' });
    await waitFor(() => expect(submit).toBeEnabled());
    fireEvent.click(submit);

    expect(await step0.findByText(/<=100/)).toBeInTheDocument();
    expect(
      screen.getByText('must be a semantic version such as 1.2.3'),
    ).toBeInTheDocument();
    expect(api.updatePlugin).not.toHaveBeenCalled();
  });

  it('sends the version, the strategy and its settings', async () => {
    const api = fakeApi([succeededRolling]);
    await render(api);
    await screen.findByText('Start an update');
    fireEvent.change(screen.getByLabelText('Version'), {
      target: { value: '1.1.0' },
    });
    await chooseStrategy('Canary');
    // Step 2: a pause until promoted.
    fireEvent.change(
      within(screen.getByTestId('canary-step-1')).getByLabelText('Pause (s)'),
      {
        target: { value: '' },
      },
    );
    fireEvent.click(
      screen.getByLabelText('Approval before the rollout starts'),
    );
    const submit = screen.getByRole('button', { name: 'Start update' });
    await waitFor(() => expect(submit).toBeEnabled());
    fireEvent.click(submit);

    await waitFor(() => expect(api.updatePlugin).toHaveBeenCalledTimes(1));
    expect(api.updatePlugin).toHaveBeenCalledWith('sample-http-service', {
      version: '1.1.0',
      deploymentStrategy: 'canary',
      deploymentConfig: {
        canary: {
          autoPromote: true,
          canaryReplicas: 1,
          steps: [
            { setWeight: 25 },
            { pause: {} },
            { setWeight: 50 },
            { pause: { duration: 30_000 } },
            { setWeight: 100 },
          ],
        },
        approvals: { beforeStart: { onTimeout: 'wait' } },
      },
    });
  });

  it("shows a 400's reason next to the field it names", async () => {
    const invalid = await responseError(
      400,
      'Bad Request',
      'deploymentConfig.rolling: maxSurge and maxUnavailable cannot both be 0 (with 1 replicas)',
    );
    const api = fakeApi([succeededRolling], {
      updatePlugin: jest.fn(async () => {
        throw invalid;
      }),
    });
    await render(api);
    await screen.findByText('Start an update');
    fireEvent.change(screen.getByLabelText('Version'), {
      target: { value: '1.1.0' },
    });
    fireEvent.change(screen.getByLabelText('Max. surge'), {
      target: { value: '0' },
    });
    const submit = screen.getByRole('button', { name: 'Start update' });
    await waitFor(() => expect(submit).toBeEnabled());
    fireEvent.click(submit);

    expect(
      await screen.findByTestId('error-deploymentConfig.rolling'),
    ).toHaveTextContent(
      'maxSurge and maxUnavailable cannot both be 0 (with 1 replicas)',
    );
  });

  it('cannot start while a deployment is in progress', async () => {
    await render(fakeApi([analysingCanary]));
    expect(
      await screen.findByText(
        'A deployment is in progress: it must end before another starts.',
      ),
    ).toBeInTheDocument();
    expect(screen.getByRole('button', { name: 'Start update' })).toBeDisabled();
  });
});
