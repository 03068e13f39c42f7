import { ReactNode, useCallback, useState } from 'react';
import Button from '@material-ui/core/Button';
import Dialog from '@material-ui/core/Dialog';
import DialogActions from '@material-ui/core/DialogActions';
import DialogContent from '@material-ui/core/DialogContent';
import DialogContentText from '@material-ui/core/DialogContentText';
import DialogTitle from '@material-ui/core/DialogTitle';

/** What a confirmation asks and what it runs once confirmed. */
export interface ConfirmRequest {
  /** A question, e.g. "Stop sample-http-service?". */
  title: string;
  /** What will happen, in a sentence or two. */
  message: ReactNode;
  /** The confirming button's text, e.g. "Stop". */
  confirmText: string;
  onConfirm: () => void;
}

/** Props of {@link ConfirmDialog}. */
export interface ConfirmDialogProps {
  open: boolean;
  /** What it asks (kept while the dialog fades out). */
  request?: ConfirmRequest;
  onClose: () => void;
}

/** Asks before a disruptive action (stop, restart, uninstall, rollback, cancel). */
export const ConfirmDialog = ({
  open,
  request,
  onClose,
}: ConfirmDialogProps) => (
  <Dialog
    open={open}
    onClose={onClose}
    aria-labelledby="plugin-lifecycle-confirm-title"
  >
    <DialogTitle id="plugin-lifecycle-confirm-title">
      {request?.title}
    </DialogTitle>
    <DialogContent>
      <DialogContentText component="div">{request?.message}</DialogContentText>
    </DialogContent>
    <DialogActions>
      <Button onClick={onClose}>Keep as is</Button>
      <Button
        variant="contained"
        color="secondary"
        onClick={() => {
          onClose();
          request?.onConfirm();
        }}
      >
        {request?.confirmText}
      </Button>
    </DialogActions>
  </Dialog>
);

/**
 * One confirmation dialog for a view: `confirm(request)` opens it, and
 * `dialog` is the element to render.
 */
export function useConfirmation() {
  const [state, setState] = useState<{
    open: boolean;
    request?: ConfirmRequest;
  }>({ open: false });
  const confirm = useCallback(
    (request: ConfirmRequest) => setState({ open: true, request }),
    [],
  );
  const close = useCallback(
    () => setState(current => ({ ...current, open: false })),
    [],
  );
  return {
    confirm,
    dialog: (
      <ConfirmDialog
        open={state.open}
        request={state.request}
        onClose={close}
      />
    ),
  };
}
