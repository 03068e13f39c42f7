import { useEffect, useState } from 'react';
import Button from '@material-ui/core/Button';
import Checkbox from '@material-ui/core/Checkbox';
import Dialog from '@material-ui/core/Dialog';
import DialogActions from '@material-ui/core/DialogActions';
import DialogContent from '@material-ui/core/DialogContent';
import DialogContentText from '@material-ui/core/DialogContentText';
import DialogTitle from '@material-ui/core/DialogTitle';
import FormControlLabel from '@material-ui/core/FormControlLabel';
import TextField from '@material-ui/core/TextField';
import {
  Deployment,
  DeploymentAction,
  DeploymentActionRequest,
} from '@internal/plugin-lifecycle-common';
import { ACTION_LABELS, describeAction, promoteNeedsFull } from './actions';

/** Props of {@link ConfirmActionDialog}. */
export interface ConfirmActionDialogProps {
  deployment: Deployment;
  /** The action to confirm; the dialog is closed without one. */
  action?: DeploymentAction;
  onConfirm: (
    action: DeploymentAction,
    request: DeploymentActionRequest,
  ) => void;
  onClose: () => void;
}

/**
 * Asks before an action on a deployment: what it will do, an optional
 * reason (recorded on the deployment), and for promote whether to skip
 * every remaining step.
 */
export const ConfirmActionDialog = (props: ConfirmActionDialogProps) => {
  const { deployment, action, onConfirm, onClose } = props;
  const [reason, setReason] = useState('');
  const onlyFull = action === 'promote' && promoteNeedsFull(deployment);
  const [full, setFull] = useState(false);
  useEffect(() => {
    setReason('');
    setFull(false);
  }, [action]);

  if (!action) {
    return null;
  }
  const label = ACTION_LABELS[action];
  const confirm = () => {
    const request: DeploymentActionRequest = {};
    if (reason.trim()) request.reason = reason.trim();
    if (action === 'promote' && (full || onlyFull)) request.full = true;
    onConfirm(action, request);
  };
  return (
    <Dialog open onClose={onClose} aria-labelledby="deployment-action-title">
      <DialogTitle id="deployment-action-title">
        {label} the deployment of {deployment.toVersion}?
      </DialogTitle>
      <DialogContent>
        <DialogContentText>
          {onlyFull
            ? 'The current step does not wait to be promoted: promoting skips every remaining step up to the switch to the new version.'
            : describeAction(action, deployment)}
        </DialogContentText>
        {action === 'promote' && !onlyFull && (
          <FormControlLabel
            control={
              <Checkbox
                checked={full}
                onChange={e => setFull(e.target.checked)}
                color="primary"
              />
            }
            label="Skip every remaining step (full promotion)"
          />
        )}
        <TextField
          id="deployment-action-reason"
          label="Reason (optional)"
          value={reason}
          onChange={e => setReason(e.target.value)}
          fullWidth
          margin="dense"
          inputProps={{ maxLength: 1000 }}
        />
      </DialogContent>
      <DialogActions>
        <Button onClick={onClose}>Cancel</Button>
        <Button
          onClick={confirm}
          color={
            action === 'approve' ||
            action === 'promote' ||
            action === 'resume' ||
            action === 'retry'
              ? 'primary'
              : 'secondary'
          }
          variant="contained"
        >
          {label}
        </Button>
      </DialogActions>
    </Dialog>
  );
};
