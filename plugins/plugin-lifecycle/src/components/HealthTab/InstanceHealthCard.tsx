import { ReactNode } from 'react';
import Typography from '@material-ui/core/Typography';
import { makeStyles } from '@material-ui/core/styles';
import { InfoCard } from '@backstage/core-components';
import { InstanceHealth } from '@internal/plugin-lifecycle-common';
import { RelativeTime } from '../shared/RelativeTime';
import { InstanceHealthChart } from './charts/InstanceHealthChart';
import { NotChecked, VerdictLabel, YesNoStatus } from './HealthStatus';
import { ProbesTable } from './ProbesTable';
import { formatAddress, formatScore, isUnchecked } from './format';

const useStyles = makeStyles(theme => ({
  facts: {
    display: 'flex',
    flexWrap: 'wrap',
    columnGap: theme.spacing(4),
    rowGap: theme.spacing(1),
    marginBottom: theme.spacing(2),
  },
  reasons: {
    margin: theme.spacing(0, 0, 2),
    paddingLeft: theme.spacing(3),
  },
  chart: {
    marginBottom: theme.spacing(2),
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
 * traffic (ready) and is alive (live), why, its checks over time and each
 * of its probes. An instance nothing checks shows "not checked" for all
 * three: it takes traffic, but no result says it is ready or alive.
 */
export const InstanceHealthCard = ({ instance }: InstanceHealthCardProps) => {
  const classes = useStyles();
  const address = formatAddress(instance);
  const unchecked = isUnchecked(instance);

  return (
    <div data-testid="instance-health">
      <InfoCard title={instance.instanceId} subheader={address || undefined}>
        <div className={classes.facts}>
          <Fact label="Verdict">
            {unchecked ? (
              <NotChecked testId="instance-verdict" />
            ) : (
              <VerdictLabel
                verdict={instance.verdict}
                testId="instance-verdict"
              />
            )}
          </Fact>
          <Fact label="Ready">
            {unchecked ? (
              <NotChecked testId="instance-ready" />
            ) : (
              <YesNoStatus value={instance.ready} testId="instance-ready" />
            )}
          </Fact>
          <Fact label="Live">
            {unchecked ? (
              <NotChecked testId="instance-live" />
            ) : (
              <YesNoStatus value={instance.live} testId="instance-live" />
            )}
          </Fact>
          {!unchecked && (
            <Fact label="Health score" testId="instance-health-score">
              {formatScore(instance.healthScore)}
            </Fact>
          )}
          {instance.reportedBy && !unchecked && (
            <Fact label="Probed by">{instance.reportedBy}</Fact>
          )}
          {instance.updatedAt && (
            <Fact label="Updated">
              <RelativeTime value={instance.updatedAt} />
            </Fact>
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
        {unchecked ? (
          instance.reasons.length === 0 && (
            <Typography variant="body2" color="textSecondary">
              No probes: this instance takes traffic, but nothing checks it.
            </Typography>
          )
        ) : (
          <>
            <div className={classes.chart}>
              <InstanceHealthChart instance={instance} />
            </div>
            <ProbesTable probes={instance.probes} />
          </>
        )}
      </InfoCard>
    </div>
  );
};
