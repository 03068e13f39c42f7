import Button from '@material-ui/core/Button';
import Dialog from '@material-ui/core/Dialog';
import DialogActions from '@material-ui/core/DialogActions';
import DialogContent from '@material-ui/core/DialogContent';
import DialogContentText from '@material-ui/core/DialogContentText';
import DialogTitle from '@material-ui/core/DialogTitle';

/** Props of {@link RollbackDialog}. */
export interface RollbackDialogProps {
  layer: string;
  open: boolean;
  /** The version to roll back to (kept while the dialog closes). */
  toVersion: number;
  /** The layer's latest version, which the rollback supersedes. */
  latestVersion: number;
  onConfirm: (toVersion: number) => void;
  onCancel: () => void;
}

/** Asks before a layer is rolled back to an earlier version. */
export const RollbackDialog = ({
  layer,
  open,
  toVersion,
  latestVersion,
  onConfirm,
  onCancel,
}: RollbackDialogProps) => (
  <Dialog
    open={open}
    onClose={onCancel}
    aria-labelledby="plugin-lifecycle-rollback-title"
  >
    <DialogTitle id="plugin-lifecycle-rollback-title">
      Roll back {layer} to v{toVersion}?
    </DialogTitle>
    <DialogContent>
      <DialogContentText>
        The content of v{toVersion} becomes a new version v{latestVersion + 1}{' '}
        of the {layer} layer, and running instances get it. The versions in
        between stay in the history.
      </DialogContentText>
    </DialogContent>
    <DialogActions>
      <Button onClick={onCancel}>Cancel</Button>
      <Button
        variant="contained"
        color="secondary"
        onClick={() => onConfirm(toVersion)}
      >
        Confirm rollback
      </Button>
    </DialogActions>
  </Dialog>
);
