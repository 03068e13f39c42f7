import Button from '@material-ui/core/Button';
import Typography from '@material-ui/core/Typography';
import { makeStyles } from '@material-ui/core/styles';
import { InfoCard } from '@backstage/core-components';
import { PluginHealth } from '@internal/plugin-lifecycle-common';
import { RelativeTime } from '../shared/RelativeTime';
import { NotChecked, VerdictLabel } from './HealthStatus';
import { formatCounts, isPluginUnchecked, isUnchecked } from './format';
import { Fact } from '../shared/Fact';

const useStyles = makeStyles(theme => ({
  facts: {
    display: 'grid',
    gridTemplateColumns: 'max-content minmax(0, 1fr)',
    columnGap: theme.spacing(2),
    rowGap: theme.spacing(1),
    alignItems: 'center',
  },
  unchecked: {
    marginTop: theme.spacing(2),
    display: 'flex',
    flexWrap: 'wrap',
    alignItems: 'center',
    gap: theme.spacing(2),
  },
}));

/** Props of {@link HealthSummaryCard}. */
export interface HealthSummaryCardProps {
  health: PluginHealth;
  onRefresh: () => void;
  /** Offers to add a probe (the user may configure the plugin). */
  onAddProbe?: () => void;
}

/**
 * The verdict on a plugin as a whole, its instances and its probes. A
 * plugin whose instances nothing checks (no probes) is "not checked",
 * never healthy, with a way to add a probe for those who may.
 */
export const HealthSummaryCard = ({
  health,
  onRefresh,
  onAddProbe,
}: HealthSummaryCardProps) => {
  const classes = useStyles();
  const unchecked = health.instances.filter(isUnchecked).length;
  const noProbes = health.probes.length === 0;

  return (
    <InfoCard
      title="Health"
      subheader={health.pluginId}
      action={
        <Button size="small" onClick={onRefresh}>
          Refresh
        </Button>
      }
    >
      <div className={classes.facts}>
        <Fact label="Verdict">
          {isPluginUnchecked(health) ? (
            <NotChecked testId="plugin-health-verdict" />
          ) : (
            <VerdictLabel
              verdict={health.verdict}
              testId="plugin-health-verdict"
            />
          )}
        </Fact>
        <Fact label="Instances" testId="plugin-health-instances">
          {health.instances.length}
          {health.instances.length > 0 &&
            ` (${formatCounts(health.counts, unchecked)})`}
        </Fact>
        <Fact label="Probes">
          {health.probes.map(probe => probe.name).join(', ') || 'none'}
        </Fact>
        <Fact label="As of">
          <RelativeTime value={health.generatedAt} />
        </Fact>
      </div>
      {noProbes && (
        <div className={classes.unchecked} data-testid="no-probes">
          <Typography variant="body2">
            No probes: nothing checks this plugin's instances. They take traffic
            unchecked, so whether they are healthy is unknown.
            {!onAddProbe &&
              ' Someone who may configure the plugin can add probes here, or the version can bring them in its manifest (pluginLifecycle.probes).'}
          </Typography>
          {onAddProbe && (
            <Button variant="outlined" color="primary" onClick={onAddProbe}>
              Add a probe
            </Button>
          )}
        </div>
      )}
    </InfoCard>
  );
};
