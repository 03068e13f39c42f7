import { StateTransition } from '@internal/plugin-lifecycle-common';
import { history, makeOperation } from './__testUtils__/lifecycle';
import { lastErrorView } from './lastError';

const failed: StateTransition = {
  id: 3,
  pluginId: 'sample-http-service',
  fromState: 'running',
  toState: 'error',
  action: 'crash',
  reason: 'instance i-1 exited unexpectedly with code 1',
  createdAt: '2025-01-01T10:10:00.000Z',
};

describe('lastErrorView', () => {
  it('shows nothing without a last error', () => {
    expect(lastErrorView({ state: 'running' }, history, [])).toBeUndefined();
  });

  it('is an error, with the time of the state change that recorded it, while the plugin is in error', () => {
    expect(
      lastErrorView(
        {
          state: 'error',
          lastError: `${failed.reason}; gave up after 5 crashes`,
        },
        [...history, failed],
        // A success after it does not hide it while the plugin is in error.
        [makeOperation({ finishedAt: '2025-01-01T10:20:00.000Z' })],
      ),
    ).toEqual({
      message: `${failed.reason}; gave up after 5 crashes`,
      at: '2025-01-01T10:10:00.000Z',
      severity: 'error',
    });
  });

  it('is hidden once an operation succeeded after it on a plugin not in error', () => {
    expect(
      lastErrorView(
        { state: 'running', lastError: failed.reason },
        [...history, failed],
        [makeOperation({ finishedAt: '2025-01-01T10:20:00.000Z' })],
      ),
    ).toBeUndefined();
  });

  it('is a warning when nothing succeeded since, or when its time is unknown', () => {
    expect(
      lastErrorView(
        { state: 'running', lastError: failed.reason },
        [...history, failed],
        [makeOperation({ finishedAt: '2025-01-01T10:05:00.000Z' })],
      ),
    ).toMatchObject({ severity: 'warning', at: failed.createdAt });
    expect(
      lastErrorView(
        { state: 'installed', lastError: 'something we never recorded' },
        history,
        [makeOperation({ finishedAt: '2025-01-01T10:20:00.000Z' })],
      ),
    ).toEqual({
      message: 'something we never recorded',
      at: undefined,
      severity: 'warning',
    });
  });

  it('does not take a short reason contained in the error for its record', () => {
    const short = { ...failed, id: 4, reason: 'code 1' };
    expect(
      lastErrorView({ state: 'error', lastError: failed.reason! }, [short], [])
        ?.at,
    ).toBeUndefined();
  });
});
