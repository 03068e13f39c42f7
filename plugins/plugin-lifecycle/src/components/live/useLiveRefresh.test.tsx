import { ReactNode } from 'react';
import { act, renderHook } from '@testing-library/react';
import { TestApiProvider } from '@backstage/test-utils';
import { signalApiRef } from '@backstage/plugin-signals-react';
import {
  PLUGIN_LIFECYCLE_FLEET_CHANNEL,
  pluginLifecycleSignalChannel,
} from '@internal/plugin-lifecycle-common';
import {
  BUSY_POLL_MS,
  IDLE_POLL_MAX_MS,
  IDLE_POLL_MIN_MS,
  LiveRefreshOptions,
  SIGNAL_DEBOUNCE_MS,
  SIGNALS_BUSY_POLL_MS,
  SIGNALS_IDLE_POLL_MS,
  useLiveRefresh,
} from './useLiveRefresh';
import { FakeSignalApi } from './__fixtures__/FakeSignalApi';

const PLUGIN = 'sample-http-service';

function render(
  options: Omit<LiveRefreshOptions, 'refresh'>,
  signalApi?: FakeSignalApi,
) {
  const refresh = jest.fn();
  const wrapper = ({ children }: { children: ReactNode }) =>
    signalApi ? (
      <TestApiProvider apis={[[signalApiRef, signalApi]]}>
        {children}
      </TestApiProvider>
    ) : (
      <TestApiProvider apis={[]}>{children}</TestApiProvider>
    );
  const hook = renderHook(
    (props: Omit<LiveRefreshOptions, 'refresh'>) =>
      useLiveRefresh({ ...props, refresh }),
    { wrapper, initialProps: options },
  );
  return { refresh, hook };
}

/** Advances fake time in one step (timers scheduled meanwhile included). */
function advance(ms: number) {
  act(() => {
    jest.advanceTimersByTime(ms);
  });
}

describe('useLiveRefresh', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  describe('without signals', () => {
    it('polls while idle with back-off, doubling up to the maximum', () => {
      const { refresh, hook } = render({ pluginId: PLUGIN });
      expect(hook.result.current.mode).toBe('polling');
      // Fake timers move Date.now() along.
      const start = Date.now();
      const times: number[] = [];
      refresh.mockImplementation(() => times.push(Date.now() - start));
      advance(300_000);
      const gaps = times.map((t, i) => t - (i ? times[i - 1] : 0));
      expect(gaps.slice(0, 5)).toEqual([
        IDLE_POLL_MIN_MS,
        IDLE_POLL_MIN_MS * 2,
        IDLE_POLL_MIN_MS * 4,
        IDLE_POLL_MIN_MS * 8,
        IDLE_POLL_MAX_MS,
      ]);
      expect(new Set(gaps.slice(4))).toEqual(new Set([IDLE_POLL_MAX_MS]));
    });

    it('polls at a steady pace while busy, and backs off again when it is not', () => {
      const { refresh, hook } = render({ pluginId: PLUGIN, busy: true });
      advance(BUSY_POLL_MS * 5);
      expect(refresh).toHaveBeenCalledTimes(5);

      refresh.mockClear();
      hook.rerender({ pluginId: PLUGIN, busy: false });
      advance(IDLE_POLL_MIN_MS - 1);
      expect(refresh).not.toHaveBeenCalled();
      advance(1);
      expect(refresh).toHaveBeenCalledTimes(1);
    });
  });

  describe('with signals', () => {
    it("listens on the plugin's channel, or the fleet's without a plugin, and polls only now and then while idle", () => {
      const signals = new FakeSignalApi();
      const { refresh, hook } = render({ pluginId: PLUGIN }, signals);
      expect(hook.result.current.mode).toBe('signals');
      expect(signals.channels()).toEqual([
        pluginLifecycleSignalChannel(PLUGIN),
      ]);
      advance(SIGNALS_IDLE_POLL_MS - 1);
      expect(refresh).not.toHaveBeenCalled();
      // In case signals were lost while the websocket was down.
      advance(1);
      expect(refresh).toHaveBeenCalledTimes(1);
      advance(SIGNALS_IDLE_POLL_MS * 3);
      expect(refresh).toHaveBeenCalledTimes(4);

      hook.unmount();
      expect(signals.channels()).toEqual([]);
      render({}, signals);
      expect(signals.channels()).toEqual([PLUGIN_LIFECYCLE_FLEET_CHANNEL]);
    });

    it('reloads once for a burst of signals, after the debounce', () => {
      const signals = new FakeSignalApi();
      const { refresh, hook } = render({ pluginId: PLUGIN }, signals);
      const channel = pluginLifecycleSignalChannel(PLUGIN);
      act(() => {
        for (const kind of ['state', 'operation', 'instances', 'state']) {
          signals.emit(channel, { kind, pluginId: PLUGIN, at: 'now' });
        }
      });
      expect(refresh).not.toHaveBeenCalled();
      expect(hook.result.current.lastSignal).toMatchObject({ kind: 'state' });
      advance(SIGNAL_DEBOUNCE_MS);
      expect(refresh).toHaveBeenCalledTimes(1);

      // A later signal reloads again.
      act(() => signals.emit(channel, { kind: 'health', pluginId: PLUGIN }));
      advance(SIGNAL_DEBOUNCE_MS);
      expect(refresh).toHaveBeenCalledTimes(2);
    });

    it('reloads only for the kinds asked for', () => {
      const signals = new FakeSignalApi();
      const { refresh } = render(
        { pluginId: PLUGIN, kinds: ['configuration'] },
        signals,
      );
      const channel = pluginLifecycleSignalChannel(PLUGIN);
      act(() => signals.emit(channel, { kind: 'health', pluginId: PLUGIN }));
      advance(SIGNAL_DEBOUNCE_MS * 4);
      expect(refresh).not.toHaveBeenCalled();
      act(() =>
        signals.emit(channel, { kind: 'configuration', pluginId: PLUGIN }),
      );
      advance(SIGNAL_DEBOUNCE_MS);
      expect(refresh).toHaveBeenCalledTimes(1);
    });

    it('polls now and then while busy, in case a signal was missed', () => {
      const signals = new FakeSignalApi();
      const { refresh, hook } = render(
        { pluginId: PLUGIN, busy: true },
        signals,
      );
      advance(SIGNALS_BUSY_POLL_MS - 1);
      expect(refresh).not.toHaveBeenCalled();
      advance(1);
      expect(refresh).toHaveBeenCalledTimes(1);
      advance(SIGNALS_BUSY_POLL_MS);
      expect(refresh).toHaveBeenCalledTimes(2);

      // Idle again: only the slow safety poll.
      hook.rerender({ pluginId: PLUGIN, busy: false });
      advance(SIGNALS_IDLE_POLL_MS - 1);
      expect(refresh).toHaveBeenCalledTimes(2);
    });

    it('uses the latest refresh without subscribing again', () => {
      const signals = new FakeSignalApi();
      const first = jest.fn();
      const second = jest.fn();
      const wrapper = ({ children }: { children: ReactNode }) => (
        <TestApiProvider apis={[[signalApiRef, signals]]}>
          {children}
        </TestApiProvider>
      );
      const hook = renderHook(
        ({ refresh }: { refresh: () => void }) =>
          useLiveRefresh({ pluginId: PLUGIN, refresh }),
        { wrapper, initialProps: { refresh: first } },
      );
      hook.rerender({ refresh: second });
      act(() =>
        signals.emit(pluginLifecycleSignalChannel(PLUGIN), {
          kind: 'state',
          pluginId: PLUGIN,
        }),
      );
      advance(SIGNAL_DEBOUNCE_MS);
      expect(first).not.toHaveBeenCalled();
      expect(second).toHaveBeenCalledTimes(1);
    });
  });
});
