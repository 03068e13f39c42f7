import Box from '@material-ui/core/Box';
import Typography from '@material-ui/core/Typography';
import { Deployment } from '@internal/plugin-lifecycle-common';
import { RelativeTime } from '../shared/RelativeTime';

const GATES = {
  start: 'before the rollout starts',
  promotion: 'before the new version takes all traffic',
  'insufficient-data': 'the analysis had too little traffic for a verdict',
};

/**
 * The approvals of a deployment: the one waiting (telling an approver to
 * decide, and anyone else whom it waits for) and the decisions taken.
 */
export const ApprovalsPanel = ({
  deployment,
  mayApprove,
}: {
  deployment: Deployment;
  mayApprove: boolean;
}) => {
  if (deployment.approvals.length === 0) {
    return null;
  }
  const waiting =
    deployment.phase === 'awaiting-approval'
      ? deployment.approvals.filter(a => !a.decision)
      : [];
  const decided = deployment.approvals.filter(a => a.decision);
  return (
    <Box data-testid="deployment-approvals">
      {waiting.map(a => (
        <Typography
          key={`w-${a.step}`}
          variant="body1"
          data-testid="approval-waiting"
        >
          <strong>Approval needed</strong> at step {a.step + 1} ({GATES[a.gate]}
          ), requested <RelativeTime value={a.requestedAt} />.{' '}
          {mayApprove
            ? 'You may approve or reject it.'
            : 'Waiting for someone with the deployment.approve permission.'}
        </Typography>
      ))}
      {decided.map(a => (
        <Typography
          key={`d-${a.step}-${a.decidedAt}`}
          variant="body2"
          color="textSecondary"
        >
          Step {a.step + 1}: {a.decision} by {a.decidedBy ?? 'unknown'}{' '}
          <RelativeTime value={a.decidedAt} />
          {a.reason ? `: ${a.reason}` : ''}
        </Typography>
      ))}
    </Box>
  );
};
