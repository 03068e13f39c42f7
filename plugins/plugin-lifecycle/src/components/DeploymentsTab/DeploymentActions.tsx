import { useState } from 'react';
import Box from '@material-ui/core/Box';
import Button from '@material-ui/core/Button';
import {
  Deployment,
  DeploymentAction,
  DeploymentActionRequest,
} from '@internal/plugin-lifecycle-common';
import {
  ACTION_LABELS,
  availableDeploymentActions,
  needsApprovePermission,
} from './actions';
import { ConfirmActionDialog } from './ConfirmActionDialog';

/** Props of {@link DeploymentActions}. */
export interface DeploymentActionsProps {
  deployment: Deployment;
  /** The version the plugin runs: a succeeded deployment of it can be rolled back. */
  runningVersion?: string;
  /** May the user approve and reject (`deployment.approve`). */
  mayApprove: boolean;
  /** May the user take the other actions (deploy). */
  mayDeploy: boolean;
  disabled?: boolean;
  onAction: (
    action: DeploymentAction,
    request: DeploymentActionRequest,
  ) => void;
}

/**
 * The actions the deployment's phase allows and the user may take, each
 * behind a confirmation; actions the user lacks the permission for are
 * not offered.
 */
export const DeploymentActions = (props: DeploymentActionsProps) => {
  const { deployment, runningVersion, mayApprove, mayDeploy, disabled } = props;
  const [confirming, setConfirming] = useState<DeploymentAction>();
  const actions = availableDeploymentActions(deployment, {
    runningVersion,
  }).filter(a => (needsApprovePermission(a) ? mayApprove : mayDeploy));
  if (actions.length === 0) {
    return null;
  }
  return (
    <Box
      display="flex"
      flexWrap="wrap"
      style={{ gap: 8 }}
      data-testid="deployment-actions"
    >
      {actions.map(action => (
        <Button
          key={action}
          variant={
            action === 'approve' || action === 'promote'
              ? 'contained'
              : 'outlined'
          }
          color={
            action === 'abort' || action === 'reject' || action === 'rollback'
              ? 'secondary'
              : 'primary'
          }
          disabled={disabled}
          onClick={() => setConfirming(action)}
        >
          {ACTION_LABELS[action]}
        </Button>
      ))}
      <ConfirmActionDialog
        deployment={deployment}
        action={confirming}
        onClose={() => setConfirming(undefined)}
        onConfirm={(action, request) => {
          setConfirming(undefined);
          props.onAction(action, request);
        }}
      />
    </Box>
  );
};
