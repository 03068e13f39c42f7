import { useCallback, useState } from 'react';
import useAsyncFn from 'react-use/esm/useAsyncFn';
import useAsyncRetry from 'react-use/esm/useAsyncRetry';
import useInterval from 'react-use/esm/useInterval';
import { useApi } from '@backstage/frontend-plugin-api';
import { ResponseError } from '@backstage/errors';
import {
  Operation,
  PluginDetails,
  StateTransition,
  isTransitional,
} from '@internal/plugin-lifecycle-common';
import { pluginLifecycleApiRef } from '../../api';

/** The actions the lifecycle tab offers (as buttons, or forms for a version). */
export const SUPPORTED_ACTIONS = [
  'install',
  'start',
  'stop',
  'restart',
  'uninstall',
  'update',
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
 * Whether the tab should keep reloading: the plugin is in a transitional
 * state, or one of its operations is still queued or running.
 */
export function shouldPoll(data?: PluginLifecycleData): boolean {
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
 * The message of an error for display: for an error response of the API, the
 * reason the backend gave (e.g. why it refused to cancel an operation) rather
 * than just its status.
 */
export function describeError(error: Error): string {
  if (ResponseError.is(error)) {
    const reason = error.body?.error?.message;
    if (reason) {
      return `${reason} (${error.statusCode} ${error.statusText})`;
    }
  }
  return error.message;
}

/**
 * Loads the details, history and operations of a plugin, and reloads them
 * every `pollIntervalMs` while the plugin is in a transitional state or any of
 * its operations is queued or running.
 */
export function usePluginLifecycle(pluginId: string, pollIntervalMs: number) {
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

  const polling = shouldPoll(value);
  useInterval(retry, polling ? pollIntervalMs : null);

  return { value, loading, error, polling, refresh: retry };
}

/** What {@link useLifecycleAction} last tried: an action or a cancellation. */
export type LastAction = SupportedAction | 'cancel';

/** The title of the error panel of a failed {@link LastAction}. */
export function failureTitle(lastAction?: LastAction): string {
  if (lastAction === 'cancel') {
    return 'Could not cancel the operation';
  }
  return `Could not ${lastAction ?? 'run the action'}`;
}

type ActionRequest =
  | { action: SupportedAction; version?: string }
  | { action: 'cancel'; operationId: string };

/**
 * Runs a lifecycle action against a plugin, or cancels one of its queued
 * operations, and calls `onDone` once the API answered (accepted or refused),
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
        } else if (request.action === 'install') {
          await api.installPlugin(pluginId, {
            version: request.version ?? '',
            ...(entityRef ? { entityRef } : {}),
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
    (action: SupportedAction, version?: string) => run({ action, version }),
    [run],
  );
  const cancel = useCallback(
    (operationId: string) => run({ action: 'cancel', operationId }),
    [run],
  );

  return {
    pending: state.loading,
    error: state.error,
    lastAction,
    perform,
    cancel,
  };
}
