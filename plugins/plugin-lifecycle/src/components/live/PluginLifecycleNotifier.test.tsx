import { act, screen } from '@testing-library/react';
import { renderInTestApp, TestApiProvider } from '@backstage/test-utils';
import { AlertApi, alertApiRef } from '@backstage/frontend-plugin-api';
import { signalApiRef } from '@backstage/plugin-signals-react';
import { PLUGIN_LIFECYCLE_NOTICE_CHANNEL } from '@internal/plugin-lifecycle-common';
import { PluginLifecycleNotifier } from './PluginLifecycleNotifier';
import { FakeSignalApi } from './__fixtures__/FakeSignalApi';

function fakeAlertApi() {
  return { post: jest.fn(), alert$: jest.fn() } as unknown as AlertApi & {
    post: jest.Mock;
  };
}

describe('PluginLifecycleNotifier', () => {
  it('posts a toast for each notice: success for what went as asked, error with the reason otherwise', async () => {
    const signals = new FakeSignalApi();
    const alertApi = fakeAlertApi();
    await renderInTestApp(
      <TestApiProvider
        apis={[
          [signalApiRef, signals],
          [alertApiRef, alertApi],
        ]}
      >
        <PluginLifecycleNotifier />
        <span>page</span>
      </TestApiProvider>,
    );
    expect(screen.getByText('page')).toBeInTheDocument();
    expect(signals.channels()).toEqual([PLUGIN_LIFECYCLE_NOTICE_CHANNEL]);

    act(() =>
      signals.emit(PLUGIN_LIFECYCLE_NOTICE_CHANNEL, {
        kind: 'deployment',
        pluginId: 'sample-http-service',
        deploymentId: 'd-1',
        what: 'update',
        version: '1.1.0',
        outcome: 'succeeded',
        ok: true,
        at: '2026-12-04T12:00:00Z',
      }),
    );
    act(() =>
      signals.emit(PLUGIN_LIFECYCLE_NOTICE_CHANNEL, {
        kind: 'operation',
        pluginId: 'sample-http-service',
        operationId: 'op-1',
        what: 'install',
        version: '9.9.9',
        outcome: 'failed',
        ok: false,
        message: 'no such version',
        at: '2026-12-04T12:00:01Z',
      }),
    );
    expect(alertApi.post.mock.calls).toEqual([
      [
        {
          message: 'Update of sample-http-service to 1.1.0 succeeded',
          severity: 'success',
          display: 'transient',
        },
      ],
      [
        {
          message:
            'Install of sample-http-service 9.9.9 failed: no such version',
          severity: 'error',
          display: 'permanent',
        },
      ],
    ]);
  });

  it('does nothing without signals in the app', async () => {
    const alertApi = fakeAlertApi();
    await renderInTestApp(
      <TestApiProvider apis={[[alertApiRef, alertApi]]}>
        <PluginLifecycleNotifier />
        <span>page</span>
      </TestApiProvider>,
    );
    expect(screen.getByText('page')).toBeInTheDocument();
    expect(alertApi.post).not.toHaveBeenCalled();
  });
});
