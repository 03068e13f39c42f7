import LinearProgress from '@material-ui/core/LinearProgress';
import Typography from '@material-ui/core/Typography';
import { makeStyles } from '@material-ui/core/styles';
import { Deployment } from '@internal/plugin-lifecycle-common';
import { deploymentProgress, newVersionTraffic } from './fleetRows';

const useStyles = makeStyles(theme => ({
  root: { minWidth: 160 },
  bar: { marginTop: theme.spacing(0.5), height: 6, borderRadius: 3 },
}));

/** Props of {@link RolloutSummary}. */
export interface RolloutSummaryProps {
  deployment: Deployment;
}

/**
 * An active rollout in a few words: its phase and strategy, the versions,
 * the new version's share of traffic and a bar of the steps done.
 */
export const RolloutSummary = ({ deployment }: RolloutSummaryProps) => {
  const classes = useStyles();
  const progress = deploymentProgress(deployment);
  const traffic = newVersionTraffic(deployment);
  const total = deployment.steps.length;
  const step = Math.min(deployment.currentStep + 1, total);
  return (
    <div className={classes.root} data-testid="rollout-summary">
      <Typography variant="body2" component="div">
        <strong data-testid="rollout-phase">{deployment.phase}</strong>
        {' · '}
        {deployment.strategy} {deployment.fromVersion} →{' '}
        <span data-testid="rollout-to-version">{deployment.toVersion}</span>
      </Typography>
      <Typography
        variant="caption"
        color="textSecondary"
        component="div"
        data-testid="rollout-progress"
      >
        {total > 0 ? `step ${step} of ${total}, ${progress}% done` : 'queued'}
        {traffic !== undefined
          ? ` · ${traffic}% of traffic on the new version`
          : ''}
      </Typography>
      <LinearProgress
        className={classes.bar}
        variant="determinate"
        value={progress}
        aria-label={`Rollout to ${deployment.toVersion}: ${progress}% done`}
      />
    </div>
  );
};
