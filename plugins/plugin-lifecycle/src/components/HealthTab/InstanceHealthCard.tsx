import { ReactNode } from 'react';
import Typography from '@material-ui/core/Typography';
import { makeStyles } from '@material-ui/core/styles';
import { InfoCard } from '@backstage/core-components';
import { InstanceHealth } from '@internal/plugin-lifecycle-common';
import { formatTime } from '../LifecycleTab/format';
import { VerdictLabel, YesNoStatus } from './HealthStatus';
import { ProbesTable } from './ProbesTable';
import { formatAddress, formatScore } from './format';

const useStyles = makeStyles(theme => ({
  facts: {
    display: 'flex',
    flexWrap: 'wrap',
    gap: theme.spacing(4),
    marginBottom: theme.spacing(2),
  },
  reasons: {
    margin: theme.spacing(0, 0, 2),
    paddingLeft: theme.spacing(3),
  },
}));

const Fact = (props: {
  label: string;
  testId?: string;
  children: ReactNode;
}) => (
  <div>
    <Typography variant="body2" color="textSecondary">
      {props.label}
    </Typography>
    <Typography variant="body1" component="div" data-testid={props.testId}>
      {props.children}
    </Typography>
  </div>
);

/** Props of {@link InstanceHealthCard}. */
export interface InstanceHealthCardProps {
  instance: InstanceHealth;
}

/**
 * The health of one instance: the monitor's verdict, whether it may take
 * traffic (ready) and is alive (live), why, and each of its probes.
 */
export const InstanceHealthCard = ({ instance }: InstanceHealthCardProps) => {
  const classes = useStyles();
  const address = formatAddress(instance);

  return (
    <div data-testid="instance-health">
      <InfoCard title={instance.instanceId} subheader={address || undefined}>
        <div className={classes.facts}>
          <Fact label="Verdict">
            <VerdictLabel
              verdict={instance.verdict}
              testId="instance-verdict"
            />
          </Fact>
          <Fact label="Ready">
            <YesNoStatus value={instance.ready} testId="instance-ready" />
          </Fact>
          <Fact label="Live">
            <YesNoStatus value={instance.live} testId="instance-live" />
          </Fact>
          <Fact label="Health score" testId="instance-health-score">
            {formatScore(instance.healthScore)}
          </Fact>
          {instance.reportedBy && (
            <Fact label="Probed by">{instance.reportedBy}</Fact>
          )}
          {instance.updatedAt && (
            <Fact label="Updated">{formatTime(instance.updatedAt)}</Fact>
          )}
        </div>
        {instance.reasons.length > 0 && (
          <ul className={classes.reasons} data-testid="instance-reasons">
            {instance.reasons.map(reason => (
              <Typography key={reason} component="li" variant="body2">
                {reason}
              </Typography>
            ))}
          </ul>
        )}
        <ProbesTable probes={instance.probes} />
      </InfoCard>
    </div>
  );
};
