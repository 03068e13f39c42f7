import { useCallback, useState } from 'react';
import useAsyncFn from 'react-use/esm/useAsyncFn';
import useAsyncRetry from 'react-use/esm/useAsyncRetry';
import { useApi } from '@backstage/frontend-plugin-api';
import { ResponseError } from '@backstage/errors';
import {
  Operation,
  PluginDetails,
  StateTransition,
  isTransitional,
} from '@internal/plugin-lifecycle-common';
import { pluginLifecycleApiRef } from '../../api';
import { useLiveRefresh } from '../live/useLiveRefresh';

/** The actions the lifecycle tab offers (as buttons, or forms for a version). */
export const SUPPORTED_ACTIONS = [
  'install',
  'start',
  'stop',
  'restart',
  'uninstall',
  'update',
  'maintenance-on',
  'maintenance-off',
] as const;

/** One of {@link SUPPORTED_ACTIONS}. */
export type SupportedAction = (typeof SUPPORTED_ACTIONS)[number];

/** What the lifecycle tab shows for one plugin. */
export interface PluginLifecycleData {
  /** Undefined when the plugin has never been installed (the API answers 404). */
  details?: PluginDetails;
  history: StateTransition[];
  /** The operations of the plugin, newest first. */
  operations: Operation[];
}

/** Whether an operation has yet to finish (it is queued or running). */
export function isOperationPending(operation: Operation): boolean {
  return operation.status === 'queued' || operation.status === 'running';
}

/**
 * Whether something is under way (the live refresh then polls often): the
 * plugin is in a transitional state, or one of its operations is still
 * queued or running.
 */
export function isBusy(data?: PluginLifecycleData): boolean {
  if (!data?.details) {
    return false;
  }
  return (
    isTransitional(data.details.state) ||
    data.operations.some(isOperationPending)
  );
}

/** Whether an error is the API saying the plugin is unknown to it. */
export function isNotFoundError(error: unknown): boolean {
  return ResponseError.is(error) && error.statusCode === 404;
}

/**
 * The version an update under way moves the plugin to: the target of its
 * queued or running update operation, if any.
 */
export function targetVersion(operations: Operation[]): string | undefined {
  const update = operations.find(
    o => o.type === 'update' && isOperationPending(o),
  );
  const version = update?.params.version;
  return typeof version === 'string' ? version : undefined;
}

/**
 * Loads the details, history and operations of a plugin, and keeps them
 * current with {@link useLiveRefresh}: on the plugin's signals, and by
 * polling (often while it is in a transitional state or an operation is
 * queued or running, with back-off otherwise) when signals are absent.
 */
export function usePluginLifecycle(pluginId: string) {
  const api = useApi(pluginLifecycleApiRef);

  const { value, loading, error, retry } =
    useAsyncRetry(async (): Promise<PluginLifecycleData> => {
      try {
        const [details, history, operations] = await Promise.all([
          api.getPlugin(pluginId),
          api.getHistory(pluginId),
          api.listOperations(pluginId),
        ]);
        return { details, history, operations };
      } catch (e) {
        if (isNotFoundError(e)) {
          return { details: undefined, history: [], operations: [] };
        }
        throw e;
      }
    }, [api, pluginId]);

  const busy = isBusy(value);
  const { mode } = useLiveRefresh({ pluginId, refresh: retry, busy });

  return { value, loading, error, busy, mode, refresh: retry };
}

/** What {@link useLifecycleAction} last tried: an action, a cancellation or an update's rollback. */
export type LastAction = SupportedAction | 'cancel' | 'rollback';

/** The title of the error panel of a failed {@link LastAction}. */
export function failureTitle(lastAction?: LastAction): string {
  if (lastAction === 'cancel') {
    return 'Could not cancel the operation';
  }
  if (lastAction === 'rollback') {
    return 'Could not roll the update back';
  }
  if (lastAction === 'maintenance-on') {
    return 'Could not start maintenance';
  }
  if (lastAction === 'maintenance-off') {
    return 'Could not end maintenance';
  }
  return `Could not ${lastAction ?? 'run the action'}`;
}

/** Options of an install: how many instances to run. */
export interface InstallOptions {
  replicas?: number;
}

type ActionRequest =
  | { action: SupportedAction; version?: string; install?: InstallOptions }
  | { action: 'cancel' | 'rollback'; operationId: string };

/**
 * Runs a lifecycle action against a plugin, cancels one of its queued
 * operations or rolls one of its updates back, and calls `onDone` once the API answered (accepted or refused),
 * so that the caller can reload.
 */
export function useLifecycleAction(
  pluginId: string,
  options: { entityRef?: string; onDone: () => void },
) {
  const api = useApi(pluginLifecycleApiRef);
  const { entityRef, onDone } = options;
  const [lastAction, setLastAction] = useState<LastAction>();

  const [state, run] = useAsyncFn(
    async (request: ActionRequest) => {
      setLastAction(request.action);
      try {
        if (request.action === 'cancel') {
          await api.cancelOperation(request.operationId);
        } else if (request.action === 'rollback') {
          await api.rollbackUpdate(pluginId, request.operationId);
        } else if (request.action === 'install') {
          await api.installPlugin(pluginId, {
            version: request.version ?? '',
            ...(entityRef ? { entityRef } : {}),
            ...request.install,
          });
        } else if (request.action === 'update') {
          await api.updatePlugin(pluginId, { version: request.version ?? '' });
        } else {
          await api.runCommand(pluginId, request.action);
        }
      } finally {
        onDone();
      }
    },
    [api, pluginId, entityRef, onDone],
  );

  const perform = useCallback(
    (action: SupportedAction, version?: string, install?: InstallOptions) =>
      run({ action, version, install }),
    [run],
  );
  const cancel = useCallback(
    (operationId: string) => run({ action: 'cancel', operationId }),
    [run],
  );
  const rollback = useCallback(
    (operationId: string) => run({ action: 'rollback', operationId }),
    [run],
  );

  return {
    pending: state.loading,
    error: state.error,
    lastAction,
    perform,
    cancel,
    rollback,
  };
}
