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
import { formatTime } from './format';

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

/** Props of {@link OperationsTable}. */
export interface OperationsTableProps {
  /** The operations of the plugin, newest first (as the API lists them). */
  operations: Operation[];
  /** Disables the Cancel buttons, e.g. while a request is under way. */
  disabled?: boolean;
  onCancel: (operationId: string) => void;
}

/** The queued, running and finished operations of a plugin. */
export const OperationsTable = ({
  operations,
  disabled,
  onCancel,
}: OperationsTableProps) => {
  const columns = useMemo<TableColumn<Operation>[]>(
    () => [
      { title: 'Type', field: 'type' },
      {
        title: 'Status',
        field: 'status',
        render: operation => <OperationStatusLabel status={operation.status} />,
      },
      { title: 'Attempts', render: operation => formatAttempts(operation) },
      { title: 'Actor', render: operation => operation.actor ?? '' },
      {
        title: 'Created',
        render: operation => formatTime(operation.createdAt),
      },
      {
        title: 'Started',
        render: operation => formatTime(operation.startedAt),
      },
      {
        title: 'Finished',
        render: operation => formatTime(operation.finishedAt),
      },
      {
        title: 'Error',
        width: '30%',
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
      },
      {
        title: '',
        render: operation =>
          operation.status === 'queued' ? (
            <Button
              size="small"
              variant="outlined"
              color="secondary"
              disabled={disabled}
              onClick={() => onCancel(operation.id)}
            >
              Cancel
            </Button>
          ) : null,
      },
    ],
    [disabled, onCancel],
  );

  return (
    <div data-testid="operations-table">
      <Table<Operation>
        title="Operations"
        columns={columns}
        data={operations}
        options={{
          paging: operations.length > 20,
          pageSize: 20,
          search: false,
          padding: 'dense',
        }}
        emptyContent={<div style={{ padding: 16 }}>No operations yet.</div>}
      />
    </div>
  );
};
