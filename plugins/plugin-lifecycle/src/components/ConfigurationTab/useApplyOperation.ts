import { useEffect, useRef } from 'react';
import useAsync from 'react-use/esm/useAsync';
import useAsyncRetry from 'react-use/esm/useAsyncRetry';
import { useApi } from '@backstage/frontend-plugin-api';
import { Operation } from '@internal/plugin-lifecycle-common';
import { pluginLifecycleApiRef } from '../../api';
import { useLiveRefresh } from '../live/useLiveRefresh';

const ENDED = new Set(['succeeded', 'failed', 'cancelled']);

/** Whether an operation has ended (it will not change any more). */
export function hasEnded(operation?: Operation): boolean {
  return operation !== undefined && ENDED.has(operation.status);
}

/** Options of {@link useApplyOperation}. */
export interface ApplyOperationOptions {
  pluginId: string;
  /** The `configure` operation that brings a written version to instances. */
  operationId: string;
  /**
   * Called once when the operation ends: the layer may have changed under
   * the tab (a failed apply is rolled back by the server as a new version).
   */
  onEnded: (operation: Operation) => void;
}

/**
 * Follows the operation that applies a configuration change to running
 * instances until it ends: reloaded on the plugin's signals, or polled while
 * it runs when the app has no signals.
 */
export function useApplyOperation(options: ApplyOperationOptions) {
  const { pluginId, operationId } = options;
  const api = useApi(pluginLifecycleApiRef);
  const state = useAsyncRetry(
    () => api.getOperation(operationId),
    [api, operationId],
  );
  const operation = state.value?.id === operationId ? state.value : undefined;
  const ended = hasEnded(operation);
  const { retry } = state;

  useLiveRefresh({
    pluginId,
    busy: !ended,
    // Nothing to reload once it has ended; a failed read is tried again.
    refresh: () => {
      if (!ended) retry();
    },
    kinds: ['operation', 'configuration', 'state'],
  });

  const onEnded = useRef(options.onEnded);
  onEnded.current = options.onEnded;
  const told = useRef<string>();
  useEffect(() => {
    if (operation && ended && told.current !== operation.id) {
      told.current = operation.id;
      onEnded.current(operation);
    }
  }, [operation, ended]);

  return { operation, ended, error: ended ? undefined : state.error };
}

/** A `configure` operation of a layer that has not ended yet. */
export interface PendingApply {
  operationId: string;
  /** The layer's version it applies. */
  version: number;
}

/**
 * The apply of a layer's change still under way when the tab opens (saved
 * before a reload, or by someone else), so that it is followed too. Looked
 * up again when the layer's latest version changes.
 */
export function usePendingApply(
  pluginId: string,
  layer: string,
  latestVersion: number,
): PendingApply | undefined {
  const api = useApi(pluginLifecycleApiRef);
  const { value } = useAsync(async () => {
    const operations = await api.listOperations(pluginId, { limit: 20 });
    const pending = operations.find(
      op =>
        op.type === 'configure' &&
        !hasEnded(op) &&
        op.params.layer === layer &&
        typeof op.params.version === 'number',
    );
    return pending
      ? { operationId: pending.id, version: pending.params.version as number }
      : undefined;
  }, [api, pluginId, layer, latestVersion]);
  return value;
}
