import { PluginLifecycleNotice } from '@internal/plugin-lifecycle-common';

const ACTIONS: Record<string, string> = {
  'maintenance-on': 'Entering maintenance',
  'maintenance-off': 'Leaving maintenance',
};

const OUTCOMES: Record<string, string> = {
  cancelled: 'was cancelled',
  'rolled-back': 'was rolled back',
  aborted: 'was aborted',
};

/**
 * The sentence a notice is shown as: "Update of sample-http-service to
 * 1.1.0 succeeded", "Install of sample-http-service 9.9.9 failed: ...".
 */
export function describeNotice(notice: PluginLifecycleNotice): string {
  const action =
    ACTIONS[notice.what] ??
    `${notice.what.charAt(0).toUpperCase()}${notice.what.slice(1)} of`;
  let subject = ACTIONS[notice.what]
    ? `${action}: ${notice.pluginId}`
    : `${action} ${notice.pluginId}`;
  if (notice.version) {
    subject +=
      notice.what === 'install'
        ? ` ${notice.version}`
        : ` to ${notice.version}`;
  }
  const outcome = OUTCOMES[notice.outcome] ?? notice.outcome;
  return `${subject} ${outcome}${notice.message ? `: ${notice.message}` : ''}`;
}
