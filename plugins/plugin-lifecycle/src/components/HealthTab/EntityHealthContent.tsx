import Grid from '@material-ui/core/Grid';
import {
  EmptyState,
  MissingAnnotationEmptyState,
  Progress,
  ResponseErrorPanel,
} from '@backstage/core-components';
import { useEntity } from '@backstage/plugin-catalog-react';
import { PLUGIN_ID_ANNOTATION } from '@internal/plugin-lifecycle-common';
import { HealthSummaryCard } from './HealthSummaryCard';
import { InstanceHealthCard } from './InstanceHealthCard';
import { usePluginHealth } from './usePluginHealth';

/**
 * Props of {@link EntityHealthContent}.
 *
 * @public
 */
export interface EntityHealthContentProps {
  /** How often to reload the health. Defaults to 5000 ms. */
  refreshIntervalMs?: number;
}

const PluginHealthView = (props: {
  pluginId: string;
  refreshIntervalMs: number;
}) => {
  const { pluginId, refreshIntervalMs } = props;
  const { value, error, refresh } = usePluginHealth(
    pluginId,
    refreshIntervalMs,
  );

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
        <HealthSummaryCard health={health} onRefresh={refresh} />
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
    </Grid>
  );
};

/**
 * The health tab of a catalog entity that is annotated with
 * `plugin-lifecycle.backstage.io/plugin-id`: the health monitor's verdict on
 * each running instance of the managed plugin, and the status, latency and
 * trend of each of its probes, reloaded every few seconds.
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
      refreshIntervalMs={props.refreshIntervalMs ?? 5000}
    />
  );
};
