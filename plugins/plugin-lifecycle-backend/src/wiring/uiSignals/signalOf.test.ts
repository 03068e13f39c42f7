import { Deployment } from '@internal/plugin-lifecycle-common';
import { signalOf } from './signalOf';

describe('signalOf', () => {
  it('maps the events of each component to the kind the views reload on', () => {
    expect(
      signalOf(
        'stateMachine:stateChanged',
        {
          pluginId: 'p',
          from: 'installed',
          to: 'starting',
          revision: 2,
          operationId: 'op',
        },
        'me',
      ),
    ).toEqual({ pluginId: 'p', kind: 'state', operationId: 'op' });
    expect(
      signalOf(
        'orchestrator:operationQueued',
        { operationId: 'op', pluginId: 'p', type: 'start' },
        'me',
      ),
    ).toEqual({ pluginId: 'p', kind: 'operation', operationId: 'op' });
    expect(
      signalOf(
        'deploymentManager:deploymentStepCompleted',
        {
          deployment: { id: 'd', pluginId: 'p' } as Deployment,
          step: {},
        },
        'me',
      ),
    ).toEqual({ pluginId: 'p', kind: 'deployment', deploymentId: 'd' });
    expect(
      signalOf('configurationManager:changed', { pluginId: 'p' }, 'me'),
    ).toEqual({
      pluginId: 'p',
      kind: 'configuration',
    });
    expect(signalOf('runtime:instanceExited', { pluginId: 'p' }, 'me')).toEqual(
      { pluginId: 'p', kind: 'instances' },
    );
  });

  it('signals a health verdict only on the replica that probed it', () => {
    const change = { pluginId: 'p', reportedBy: 'replica-1' };
    expect(
      signalOf('healthMonitor:verdictChanged', change, 'replica-1'),
    ).toEqual({
      pluginId: 'p',
      kind: 'health',
    });
    expect(
      signalOf('healthMonitor:verdictChanged', change, 'replica-2'),
    ).toBeUndefined();
  });

  it('ignores routing events and names it does not know', () => {
    expect(
      signalOf('serviceDiscovery:serviceRegistered', { serviceId: 's' }, 'me'),
    ).toBeUndefined();
    expect(signalOf('someone:else', { pluginId: 'p' }, 'me')).toBeUndefined();
  });
});
