import { useEffect } from 'react';
import {
  alertApiRef,
  useApi,
  useApiHolder,
} from '@backstage/frontend-plugin-api';
import { signalApiRef } from '@backstage/plugin-signals-react';
import {
  PLUGIN_LIFECYCLE_NOTICE_CHANNEL,
  PluginLifecycleNotice,
} from '@internal/plugin-lifecycle-common';
import { describeNotice } from './describeNotice';

/**
 * Shows a toast when an operation or a deployment that the signed-in user
 * started ends ("Update of sample-http-service to 1.1.0 succeeded"),
 * wherever in the app the user is. Renders nothing.
 *
 * The notices come through Backstage signals: without the signals plugin in
 * the app (`@backstage/plugin-signals`) and the signals backend plugin
 * (`@backstage/plugin-signals-backend`) there are none, and this does
 * nothing. In the new frontend system it is an app root element of the
 * plugin; in a legacy app, render it once inside the app's providers (for
 * example next to `<AlertDisplay />`).
 *
 * @public
 */
export function PluginLifecycleNotifier(): null {
  const signalApi = useApiHolder().get(signalApiRef);
  const alertApi = useApi(alertApiRef);

  useEffect(() => {
    if (!signalApi) return undefined;
    const subscription = signalApi.subscribe(
      PLUGIN_LIFECYCLE_NOTICE_CHANNEL,
      message => {
        const notice = message as unknown as PluginLifecycleNotice;
        alertApi.post({
          message: describeNotice(notice),
          severity: notice.ok ? 'success' : 'error',
          // A failure stays until read; a success goes by itself.
          display: notice.ok ? 'transient' : 'permanent',
        });
      },
    );
    return () => subscription.unsubscribe();
  }, [signalApi, alertApi]);

  return null;
}
