import { useEffect, useRef, useState } from 'react';
import { useApiHolder } from '@backstage/frontend-plugin-api';
import { signalApiRef } from '@backstage/plugin-signals-react';
import {
  PLUGIN_LIFECYCLE_FLEET_CHANNEL,
  PluginLifecycleSignal,
  PluginLifecycleSignalKind,
  pluginLifecycleSignalChannel,
} from '@internal/plugin-lifecycle-common';

/** Options of {@link useLiveRefresh}. */
export interface LiveRefreshOptions {
  /** The managed plugin to follow; absent: every plugin (the fleet). */
  pluginId?: string;
  /** Reloads what the component shows. */
  refresh: () => void;
  /**
   * Something is in progress (a transitional state, a queued or running
   * operation, an active deployment): polls often when signals are absent,
   * and now and then even when they are, in case one was missed.
   */
  busy?: boolean;
  /** Only signals of these kinds reload (default: every kind). */
  kinds?: PluginLifecycleSignalKind[];
}

/** How {@link useLiveRefresh} learns of changes. */
export type LiveMode = 'signals' | 'polling';

/** Polling while busy without signals. */
export const BUSY_POLL_MS = 2_000;
/** Polling while idle without signals: starts here, doubles up to the max. */
export const IDLE_POLL_MIN_MS = 5_000;
export const IDLE_POLL_MAX_MS = 60_000;
/** The safety poll while busy with signals. */
export const SIGNALS_BUSY_POLL_MS = 10_000;
/**
 * The safety poll while idle with signals: signals sent while the browser's
 * websocket was down (a backend restart, a network blip) are not replayed,
 * so a view that heard nothing catches up this often at the latest.
 */
export const SIGNALS_IDLE_POLL_MS = 60_000;
/** Bursts of signals (a rollout step emits several) reload once. */
export const SIGNAL_DEBOUNCE_MS = 250;

/**
 * Keeps a view current: reloads when the backend signals a change of the
 * plugin (Backstage signals, when the app has the signals plugin), and
 * otherwise polls, often while something is in progress and with back-off
 * while nothing is.
 */
export function useLiveRefresh(options: LiveRefreshOptions): {
  mode: LiveMode;
  lastSignal?: PluginLifecycleSignal;
} {
  const { pluginId, busy = false, kinds } = options;
  const signalApi = useApiHolder().get(signalApiRef);
  const mode: LiveMode = signalApi ? 'signals' : 'polling';
  const [lastSignal, setLastSignal] = useState<PluginLifecycleSignal>();

  // The latest callbacks without resubscribing on every render.
  const refreshRef = useRef(options.refresh);
  refreshRef.current = options.refresh;
  const kindsKey = kinds?.join(',') ?? '';

  useEffect(() => {
    if (!signalApi) {
      return undefined;
    }
    const wanted = kindsKey ? new Set(kindsKey.split(',')) : undefined;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const channel = pluginId
      ? pluginLifecycleSignalChannel(pluginId)
      : PLUGIN_LIFECYCLE_FLEET_CHANNEL;
    const subscription = signalApi.subscribe(channel, message => {
      const signal = message as unknown as PluginLifecycleSignal;
      if (wanted && !wanted.has(signal.kind)) {
        return;
      }
      setLastSignal(signal);
      if (timer === undefined) {
        timer = setTimeout(() => {
          timer = undefined;
          refreshRef.current();
        }, SIGNAL_DEBOUNCE_MS);
      }
    });
    return () => {
      subscription.unsubscribe();
      if (timer !== undefined) {
        clearTimeout(timer);
      }
    };
  }, [signalApi, pluginId, kindsKey]);

  useEffect(() => {
    let delay: number | undefined;
    if (busy) {
      delay = signalApi ? SIGNALS_BUSY_POLL_MS : BUSY_POLL_MS;
    } else {
      delay = signalApi ? SIGNALS_IDLE_POLL_MS : IDLE_POLL_MIN_MS;
    }
    let timer: ReturnType<typeof setTimeout>;
    const schedule = (ms: number) => {
      timer = setTimeout(() => {
        refreshRef.current();
        // Idle polling without signals backs off; the others keep their pace.
        schedule(busy || signalApi ? ms : Math.min(ms * 2, IDLE_POLL_MAX_MS));
      }, ms);
    };
    schedule(delay);
    return () => clearTimeout(timer);
  }, [busy, signalApi]);

  return { mode, lastSignal };
}
