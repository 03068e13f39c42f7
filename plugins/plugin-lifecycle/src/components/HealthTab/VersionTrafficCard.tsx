import Typography from '@material-ui/core/Typography';
import { InfoCard, WarningPanel } from '@backstage/core-components';
import { PluginVersionMetrics } from '@internal/plugin-lifecycle-common';
import { describeError } from '../shared/describeError';
import { VersionMetricsChart } from './charts/VersionMetricsChart';

/** Props of {@link VersionTrafficCard}. */
export interface VersionTrafficCardProps {
  pluginId: string;
  metrics?: PluginVersionMetrics;
  error?: Error;
}

const minutes = (ms: number) => Math.round(ms / 60_000);

/**
 * Request rate, error rate and latency per version of the plugin over the
 * last minutes, from what the backend's proxy served; says where the
 * numbers come from, and that they start afresh with the backend.
 */
export const VersionTrafficCard = ({
  pluginId,
  metrics,
  error,
}: VersionTrafficCardProps) => {
  const withTraffic = metrics?.versions.filter(v => v.points.length > 0) ?? [];
  return (
    <div data-testid="version-traffic">
      <InfoCard
        title="Traffic per version"
        subheader={
          metrics
            ? `Requests through the plugin-lifecycle proxy, sampled every ${
                metrics.sampleIntervalMs / 1000
              } s over the last ${minutes(
                metrics.retentionMs,
              )} minutes by the backend that answered (kept in memory: a restart starts afresh)`
            : undefined
        }
      >
        {error && (
          <WarningPanel
            severity="warning"
            title="The traffic history could not be loaded"
            message={describeError(error)}
          />
        )}
        {!error && metrics && withTraffic.length === 0 && (
          <Typography variant="body2" color="textSecondary">
            No requests to {pluginId} through the proxy
            (/api/plugin-lifecycle/proxy/{pluginId}/) or the data plane in the
            last {minutes(metrics.retentionMs)} minutes.
          </Typography>
        )}
        {!error && withTraffic.length > 0 && (
          <VersionMetricsChart versions={withTraffic} />
        )}
      </InfoCard>
    </div>
  );
};
