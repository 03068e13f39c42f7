import { useState } from 'react';
import Grid from '@material-ui/core/Grid';
import useInterval from 'react-use/esm/useInterval';
import {
  EmptyState,
  MissingAnnotationEmptyState,
  Progress,
  ResponseErrorPanel,
} from '@backstage/core-components';
import { useEntity } from '@backstage/plugin-catalog-react';
import {
  PLUGIN_ID_ANNOTATION,
  PluginHealth,
} from '@internal/plugin-lifecycle-common';
import { useLiveRefresh } from '../live/useLiveRefresh';
import { usePluginPermissions } from '../usePluginPermissions';
import { AddProbeDialog } from './AddProbeDialog';
import { HealthSummaryCard } from './HealthSummaryCard';
import { InstanceHealthCard } from './InstanceHealthCard';
import { VersionTrafficCard } from './VersionTrafficCard';
import { usePluginHealth } from './usePluginHealth';

/**
 * Props of {@link EntityHealthContent}.
 *
 * @public
 */
export interface EntityHealthContentProps {
  /**
   * How often the tab reloads while it is open, for its charts: the probes
   * and the proxy record results all the time, but the backend signals
   * only a change of verdict. Defaults to 10000 ms; 0 turns it off.
   */
  refreshIntervalMs?: number;
}

/** Verdicts worth following closely: they are about to change. */
const UNSETTLED = new Set(['starting', 'degrading', 'flapping']);

function isBusy(health?: PluginHealth): boolean {
  return (
    health?.instances.some(instance => UNSETTLED.has(instance.verdict)) ?? false
  );
}

const PluginHealthView = (props: {
  pluginId: string;
  refreshIntervalMs: number;
}) => {
  const { pluginId, refreshIntervalMs } = props;
  const { value, error, versions, versionsError, refresh } =
    usePluginHealth(pluginId);
  const { configure } = usePluginPermissions(pluginId);
  const [addingProbe, setAddingProbe] = useState(false);

  // Reloads on the plugin's signals (verdict changes, instances coming and
  // going, state and deployments), polling without them.
  useLiveRefresh({
    pluginId,
    refresh,
    busy: isBusy(value?.health),
    kinds: ['health', 'instances', 'state', 'deployment'],
  });
  // Signals of kind `health` come on verdict changes only, while the charts
  // grow with every probe result and proxied request: a modest poll keeps
  // them current while the tab is open.
  useInterval(refresh, refreshIntervalMs > 0 ? refreshIntervalMs : null);

  if (error) {
    return <ResponseErrorPanel error={error} />;
  }
  if (!value) {
    return <Progress />;
  }
  if (!value.health) {
    return (
      <EmptyState
        missing="data"
        title="Not installed yet"
        description={`The plugin "${pluginId}" has never been installed; its health shows once it runs.`}
      />
    );
  }

  const { health } = value;
  return (
    <Grid container spacing={3}>
      <Grid item xs={12}>
        <HealthSummaryCard
          health={health}
          onRefresh={refresh}
          onAddProbe={configure ? () => setAddingProbe(true) : undefined}
        />
      </Grid>
      {health.instances.length === 0 ? (
        <Grid item xs={12}>
          <EmptyState
            missing="data"
            title="No running instances"
            description={`The plugin "${pluginId}" has no running instances to check. Start it from the Lifecycle tab.`}
          />
        </Grid>
      ) : (
        health.instances.map(instance => (
          <Grid item xs={12} key={instance.targetId}>
            <InstanceHealthCard instance={instance} />
          </Grid>
        ))
      )}
      <Grid item xs={12}>
        <VersionTrafficCard
          pluginId={pluginId}
          metrics={versions}
          error={versionsError}
        />
      </Grid>
      {configure && (
        <AddProbeDialog
          pluginId={pluginId}
          probes={health.probes}
          open={addingProbe}
          onClose={() => setAddingProbe(false)}
          onSaved={refresh}
        />
      )}
    </Grid>
  );
};

/**
 * The health tab of a catalog entity that is annotated with
 * `plugin-lifecycle.backstage.io/plugin-id`: the health monitor's verdict on
 * each running instance of the managed plugin, its checks over time, the
 * status, latency and trend of each of its probes, and the traffic per
 * version; kept current by signals and a modest poll.
 *
 * @public
 */
export const EntityHealthContent = (props: EntityHealthContentProps) => {
  const { entity } = useEntity();
  const pluginId = entity.metadata.annotations?.[PLUGIN_ID_ANNOTATION];

  if (!pluginId) {
    return <MissingAnnotationEmptyState annotation={PLUGIN_ID_ANNOTATION} />;
  }
  return (
    <PluginHealthView
      pluginId={pluginId}
      refreshIntervalMs={props.refreshIntervalMs ?? 10_000}
    />
  );
};
