import { ReactNode } from 'react';
import Box from '@material-ui/core/Box';
import Grid from '@material-ui/core/Grid';
import LinearProgress from '@material-ui/core/LinearProgress';
import Typography from '@material-ui/core/Typography';
import { InfoCard } from '@backstage/core-components';
import {
  Deployment,
  DeploymentAction,
  DeploymentActionRequest,
} from '@internal/plugin-lifecycle-common';
import { RelativeTime } from '../shared/RelativeTime';
import { AnalysisResults } from './AnalysisResults';
import { ApprovalsPanel } from './ApprovalsPanel';
import { DeploymentActions } from './DeploymentActions';
import {
  deploymentDuration,
  formatDuration,
  isActiveDeployment,
  newVersionWeight,
  stepProgress,
} from './format';
import { PhaseStatus } from './PhaseStatus';
import { StepsList } from './StepsList';
import { CurrentSplitChart, TrafficOverTimeChart } from './TrafficCharts';

/** Props of {@link DeploymentCard}. */
export interface DeploymentCardProps {
  deployment: Deployment;
  runningVersion?: string;
  mayApprove: boolean;
  mayDeploy: boolean;
  actionPending: boolean;
  onAction: (
    action: DeploymentAction,
    request: DeploymentActionRequest,
  ) => void;
  /** Shown above the actions: the error of the last one. */
  children?: ReactNode;
}

const Field = ({ label, children }: { label: string; children: ReactNode }) => (
  <Box minWidth={110}>
    <Typography variant="caption" color="textSecondary" component="div">
      {label}
    </Typography>
    <Typography
      variant="body1"
      component="div"
      style={{ whiteSpace: 'nowrap' }}
    >
      {children}
    </Typography>
  </Box>
);

/**
 * The deployment in progress (or the last one): phase, versions, progress,
 * traffic split now and over the rollout, approvals, actions, steps and
 * analysis evidence.
 */
export const DeploymentCard = (props: DeploymentCardProps) => {
  const { deployment: d } = props;
  const active = isActiveDeployment(d);
  const { done, total } = stepProgress(d);
  const weight = newVersionWeight(d);
  const percent = total ? Math.round((done / total) * 100) : 0;
  return (
    <InfoCard title={active ? 'Deployment in progress' : 'Last deployment'}>
      <Box display="flex" flexWrap="wrap" style={{ gap: 24 }} mb={2}>
        <Field label="Phase">
          <span data-testid="deployment-phase">
            <PhaseStatus phase={d.phase} />
          </span>
        </Field>
        <Field label="Strategy">{d.strategy}</Field>
        <Field label="Version">
          <span data-testid="deployment-versions">
            {d.fromVersion} → {d.toVersion}
          </span>
        </Field>
        <Field label="Started">
          <RelativeTime value={d.createdAt} />
        </Field>
        <Field label={active ? 'Running for' : 'Took'}>
          {formatDuration(deploymentDuration(d))}
        </Field>
        <Field label="By">{d.createdBy ?? '-'}</Field>
      </Box>
      {d.message && (
        <Typography variant="body2" paragraph data-testid="deployment-message">
          {d.message}
        </Typography>
      )}
      <Box mb={2}>
        <Typography variant="body2" id={`progress-${d.id}`}>
          Step {Math.min(done + (active ? 1 : 0), total)} of {total} ({done}{' '}
          done)
          {weight !== undefined
            ? ` · ${weight}% of traffic on ${d.toVersion}`
            : ''}
        </Typography>
        <LinearProgress
          variant="determinate"
          value={percent}
          aria-labelledby={`progress-${d.id}`}
          data-testid="deployment-progress"
        />
      </Box>
      <ApprovalsPanel deployment={d} mayApprove={props.mayApprove} />
      {props.children}
      <Box my={2}>
        <DeploymentActions
          deployment={d}
          runningVersion={props.runningVersion}
          mayApprove={props.mayApprove}
          mayDeploy={props.mayDeploy}
          disabled={props.actionPending}
          onAction={props.onAction}
        />
      </Box>
      <Grid container spacing={3}>
        <Grid item xs={12} md={4}>
          <CurrentSplitChart deployment={d} />
        </Grid>
        <Grid item xs={12} md={8}>
          <TrafficOverTimeChart deployment={d} />
        </Grid>
        <Grid item xs={12}>
          <Typography variant="h6">Steps</Typography>
          <Box style={{ overflowX: 'auto' }}>
            <StepsList deployment={d} />
          </Box>
        </Grid>
        <Grid item xs={12}>
          <Typography variant="h6">Analysis</Typography>
          <AnalysisResults deployment={d} />
        </Grid>
      </Grid>
    </InfoCard>
  );
};
