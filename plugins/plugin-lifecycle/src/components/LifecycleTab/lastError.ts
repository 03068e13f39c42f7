import {
  Operation,
  PluginDetails,
  StateTransition,
} from '@internal/plugin-lifecycle-common';

/** How the tab shows a plugin's last error. */
export interface LastErrorView {
  message: string;
  /** When it was recorded (the state change that carried it), if found. */
  at?: string;
  /**
   * `error` while the plugin is in error; `warning` when it is not (an
   * update that failed and restored the previous version, say).
   */
  severity: 'error' | 'warning';
}

/**
 * The last error to show, if any: the backend keeps a plugin's last error
 * until its next successful operation of some kinds, so an error older than
 * the newest success is history (the history table keeps it) and hidden.
 */
export function lastErrorView(
  details: Pick<PluginDetails, 'lastError' | 'state'>,
  history: StateTransition[],
  operations: Operation[],
): LastErrorView | undefined {
  const message = details.lastError;
  if (!message) return undefined;
  const at = history
    .filter(
      t =>
        t.reason === message ||
        // The error may add to the reason ("...; gave up after 5 crashes").
        (t.reason !== undefined &&
          t.reason.length >= 20 &&
          message.includes(t.reason)),
    )
    .reduce<string | undefined>(
      (latest, t) => (!latest || t.createdAt > latest ? t.createdAt : latest),
      undefined,
    );
  if (details.state === 'error') {
    return { message, at, severity: 'error' };
  }
  const lastSuccess = operations
    .filter(o => o.status === 'succeeded' && o.finishedAt)
    .reduce<string | undefined>(
      (latest, o) =>
        !latest || o.finishedAt! > latest ? o.finishedAt : latest,
      undefined,
    );
  if (at && lastSuccess && Date.parse(lastSuccess) > Date.parse(at)) {
    return undefined;
  }
  return { message, at, severity: 'warning' };
}
