import { ReactNode } from 'react';
import Button from '@material-ui/core/Button';
import Typography from '@material-ui/core/Typography';
import { makeStyles } from '@material-ui/core/styles';
import { InfoCard } from '@backstage/core-components';
import { PluginHealth } from '@internal/plugin-lifecycle-common';
import { formatTime } from '../LifecycleTab/format';
import { VerdictLabel } from './HealthStatus';
import { formatCounts } from './format';

const useStyles = makeStyles(theme => ({
  facts: {
    display: 'grid',
    gridTemplateColumns: 'max-content auto',
    columnGap: theme.spacing(2),
    rowGap: theme.spacing(1),
    alignItems: 'center',
  },
}));

const Fact = ({
  label,
  testId,
  children,
}: {
  label: string;
  testId?: string;
  children: ReactNode;
}) => (
  <>
    <Typography variant="body2" color="textSecondary">
      {label}
    </Typography>
    <Typography variant="body2" component="div" data-testid={testId}>
      {children}
    </Typography>
  </>
);

/** Props of {@link HealthSummaryCard}. */
export interface HealthSummaryCardProps {
  health: PluginHealth;
  onRefresh: () => void;
}

/** The verdict on a plugin as a whole, its instances and its probes. */
export const HealthSummaryCard = ({
  health,
  onRefresh,
}: HealthSummaryCardProps) => {
  const classes = useStyles();

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
          <VerdictLabel
            verdict={health.verdict}
            testId="plugin-health-verdict"
          />
        </Fact>
        <Fact label="Instances" testId="plugin-health-instances">
          {health.instances.length}
          {health.instances.length > 0 && ` (${formatCounts(health.counts)})`}
        </Fact>
        <Fact label="Probes">
          {health.probes.map(probe => probe.name).join(', ') || 'none'}
        </Fact>
        <Fact label="As of">{formatTime(health.generatedAt)}</Fact>
      </div>
    </InfoCard>
  );
};
