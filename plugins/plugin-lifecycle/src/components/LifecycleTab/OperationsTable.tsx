import { useMemo } from 'react';
import Button from '@material-ui/core/Button';
import Typography from '@material-ui/core/Typography';
import {
  StatusAborted,
  StatusError,
  StatusOK,
  StatusPending,
  StatusRunning,
  Table,
  TableColumn,
} from '@backstage/core-components';
import { Operation, OperationStatus } from '@internal/plugin-lifecycle-common';
import { RelativeTime } from '../shared/RelativeTime';
import { ConfirmRequest } from './ConfirmDialog';
import { updateVersions } from './operationActions';
import { column } from './tableStyles';

const TEST_ID = 'operation-status';

const OperationStatusLabel = ({ status }: { status: OperationStatus }) => {
  switch (status) {
    case 'queued':
      return <StatusPending data-testid={TEST_ID}>{status}</StatusPending>;
    case 'running':
      return <StatusRunning data-testid={TEST_ID}>{status}</StatusRunning>;
    case 'succeeded':
      return <StatusOK data-testid={TEST_ID}>{status}</StatusOK>;
    case 'failed':
      return <StatusError data-testid={TEST_ID}>{status}</StatusError>;
    default:
      return <StatusAborted data-testid={TEST_ID}>{status}</StatusAborted>;
  }
};

/** "2 of 3", or just the count when the operation has no limit. */
export function formatAttempts(operation: Operation): string {
  return operation.maxAttempts
    ? `${operation.attempts} of ${operation.maxAttempts}`
    : String(operation.attempts);
}

/** The operation with its versions, e.g. "update 1.0.0 → 1.1.0". */
function describeType(operation: Operation): string {
  const versions = updateVersions(operation);
  if (versions) {
    return `${operation.type} ${versions.fromVersion} → ${versions.toVersion}`;
  }
  const version = operation.params.version;
  return typeof version === 'string'
    ? `${operation.type} ${version}`
    : operation.type;
}

/** Rows a page shows: enough to see what just happened, not a wall. */
export const OPERATIONS_PAGE_SIZE = 5;

/** Props of {@link OperationsTable}. */
export interface OperationsTableProps {
  /** The operations of the plugin, newest first (as the API lists them). */
  operations: Operation[];
  /** Disables the buttons, e.g. while a request is under way. */
  disabled?: boolean;
  /** Whether the user may cancel this queued operation (default: yes). */
  canCancel?: (operation: Operation) => boolean;
  onCancel: (operationId: string) => void;
  /** The update that may be rolled back now (a Roll back button in its row). */
  rollbackId?: string;
  /** Whether the user may roll it back (the button is disabled otherwise). */
  rollbackAllowed?: boolean;
  onRollback?: (operationId: string) => void;
  /** Asks before a cancel or a rollback runs. */
  confirm: (request: ConfirmRequest) => void;
}

/** The queued, running and finished operations of a plugin, a page at a time. */
export const OperationsTable = ({
  operations,
  disabled,
  canCancel = () => true,
  onCancel,
  rollbackId,
  rollbackAllowed = true,
  onRollback,
  confirm,
}: OperationsTableProps) => {
  const columns = useMemo<TableColumn<Operation>[]>(() => {
    const actionFor = (operation: Operation) => {
      if (operation.status === 'queued') {
        const allowed = canCancel(operation);
        return (
          <span title={allowed ? undefined : 'Not allowed'}>
            <Button
              size="small"
              variant="outlined"
              color="secondary"
              disabled={disabled || !allowed}
              onClick={() =>
                confirm({
                  title: `Cancel the queued ${operation.type}?`,
                  message:
                    'It has not started: it will not run, and nothing changes.',
                  confirmText: 'Cancel operation',
                  onConfirm: () => onCancel(operation.id),
                })
              }
            >
              Cancel
            </Button>
          </span>
        );
      }
      const versions = updateVersions(operation);
      if (rollbackId === operation.id && versions && onRollback) {
        return (
          <span title={rollbackAllowed ? undefined : 'Not allowed'}>
            <Button
              size="small"
              variant="outlined"
              color="secondary"
              disabled={disabled || !rollbackAllowed}
              onClick={() =>
                confirm({
                  title: `Roll back to ${versions.fromVersion}?`,
                  message: `${versions.fromVersion} runs again in place of ${versions.toVersion}, with the configuration it ran with (restored as new configuration versions).`,
                  confirmText: 'Roll back',
                  onConfirm: () => onRollback(operation.id),
                })
              }
            >
              Roll back
            </Button>
          </span>
        );
      }
      return null;
    };
    return [
      column({
        title: 'Type',
        field: 'type',
        minWidth: 110,
        render: describeType,
      }),
      column({
        title: 'Status',
        field: 'status',
        minWidth: 110,
        render: operation => <OperationStatusLabel status={operation.status} />,
      }),
      column({
        title: 'Attempts',
        minWidth: 80,
        render: formatAttempts,
      }),
      column({
        title: 'Actor',
        minWidth: 120,
        render: operation => operation.actor ?? '',
      }),
      column({
        title: 'Created',
        minWidth: 110,
        render: operation => <RelativeTime value={operation.createdAt} />,
      }),
      column({
        title: 'Finished',
        minWidth: 110,
        render: operation => (
          <RelativeTime value={operation.finishedAt} placeholder="" />
        ),
      }),
      column({
        title: 'Error',
        minWidth: 200,
        wrap: true,
        render: operation =>
          operation.error ? (
            <Typography
              variant="body2"
              component="span"
              style={{ whiteSpace: 'pre-wrap', overflowWrap: 'anywhere' }}
            >
              {operation.error}
            </Typography>
          ) : (
            ''
          ),
      }),
      column({ title: '', minWidth: 100, render: actionFor }),
    ];
  }, [
    disabled,
    canCancel,
    onCancel,
    rollbackId,
    rollbackAllowed,
    onRollback,
    confirm,
  ]);

  return (
    <div data-testid="operations-table">
      <Table<Operation>
        title="Operations"
        columns={columns}
        data={operations}
        options={{
          paging: operations.length > OPERATIONS_PAGE_SIZE,
          pageSize: OPERATIONS_PAGE_SIZE,
          pageSizeOptions: [5, 10, 25, 50],
          search: false,
          padding: 'dense',
        }}
        emptyContent={<div style={{ padding: 16 }}>No operations yet.</div>}
      />
    </div>
  );
};
