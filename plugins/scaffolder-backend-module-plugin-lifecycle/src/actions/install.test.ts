import { mockCredentials, mockServices } from '@backstage/backend-test-utils';
import { PluginLifecycleService } from '@internal/plugin-lifecycle-node';
import { createInstallAction } from './install';

// The service is the boundary here: its HTTP client and the backend behind it
// are tested in the backend plugin; this tests what the action does with it.
function fakeService(
  statuses: string[],
  error?: string,
): jest.Mocked<PluginLifecycleService> {
  const queue = [...statuses];
  return {
    installPlugin: jest.fn().mockResolvedValue({
      operationId: 'op-1',
      pluginId: 'sample',
      type: 'install',
      status: 'queued',
    }),
    runCommand: jest.fn(),
    getOperation: jest.fn().mockImplementation(async () => ({
      id: 'op-1',
      status: queue.length > 1 ? queue.shift() : queue[0],
      error,
    })),
    getPlugin: jest
      .fn()
      .mockResolvedValue({ state: 'running', currentVersion: '1.0.0' }),
  } as any;
}

function context(input: Record<string, unknown>) {
  return {
    input,
    logger: mockServices.logger.mock(),
    output: jest.fn(),
    getInitiatorCredentials: jest
      .fn()
      .mockResolvedValue(mockCredentials.user('user:default/alice')),
    signal: new AbortController().signal,
  } as any;
}

describe('plugin-lifecycle:install', () => {
  it('installs on behalf of the user who ran the template and waits for the operation', async () => {
    const service = fakeService(['queued', 'running', 'succeeded']);
    const action = createInstallAction({
      pluginLifecycle: service,
      pollIntervalMs: 1,
    });
    const ctx = context({ pluginId: 'sample', version: '1.0.0', start: true });
    await action.handler(ctx);
    expect(service.installPlugin).toHaveBeenCalledWith(
      'sample',
      { version: '1.0.0', start: true, replicas: undefined },
      { credentials: mockCredentials.user('user:default/alice') },
    );
    expect(service.getOperation).toHaveBeenCalledTimes(3);
    expect(ctx.output).toHaveBeenCalledWith('operationId', 'op-1');
    expect(ctx.output).toHaveBeenCalledWith('state', 'running');
  });

  it('fails the step with the operation error', async () => {
    const service = fakeService(
      ['running', 'failed'],
      'install of 9.9.9 failed: no such version',
    );
    const action = createInstallAction({
      pluginLifecycle: service,
      pollIntervalMs: 1,
    });
    await expect(
      action.handler(context({ pluginId: 'sample', version: '9.9.9' })),
    ).rejects.toThrow(
      'Installing sample@9.9.9 failed: install of 9.9.9 failed: no such version',
    );
  });

  it('gives up when the operation outlives its timeout', async () => {
    const service = fakeService(['running']);
    const action = createInstallAction({
      pluginLifecycle: service,
      pollIntervalMs: 5,
    });
    await expect(
      action.handler(
        context({ pluginId: 'sample', version: '1.0.0', timeoutSeconds: 0.02 }),
      ),
    ).rejects.toThrow(
      'Installing sample@1.0.0 did not finish in time (operation op-1)',
    );
  });

  it('reports in a dry run what it would do, and queues nothing', async () => {
    const service = fakeService(['succeeded']);
    service.getPlugin.mockRejectedValue(
      Object.assign(new Error('not found'), { response: { status: 404 } }),
    );
    const action = createInstallAction({ pluginLifecycle: service });
    const ctx = {
      ...context({ pluginId: 'sample', version: '1.0.0', start: true }),
      isDryRun: true,
    };
    await action.handler(ctx);
    expect(service.installPlugin).not.toHaveBeenCalled();
    expect(ctx.logger.info).toHaveBeenCalledWith(
      'Dry run: would install sample@1.0.0 and start it (never installed)',
    );
    expect(ctx.output).toHaveBeenCalledWith('operationId', 'dry-run');
    expect(ctx.output).toHaveBeenCalledWith('state', 'running');
  });
});
