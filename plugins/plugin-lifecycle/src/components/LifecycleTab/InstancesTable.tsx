import { useState } from 'react';
import FormControlLabel from '@material-ui/core/FormControlLabel';
import Switch from '@material-ui/core/Switch';
import Typography from '@material-ui/core/Typography';
import {
  StatusAborted,
  StatusError,
  StatusOK,
  StatusPending,
  Table,
  TableColumn,
} from '@backstage/core-components';
import {
  InstanceStatus,
  PluginInstance,
} from '@internal/plugin-lifecycle-common';
import { RelativeTime } from '../shared/RelativeTime';
import { column } from './tableStyles';

const InstanceStatusLabel = ({ status }: { status: InstanceStatus }) => {
  switch (status) {
    case 'running':
      return <StatusOK>{status}</StatusOK>;
    case 'crashed':
      return <StatusError>{status}</StatusError>;
    case 'stopped':
      return <StatusAborted>{status}</StatusAborted>;
    default:
      return <StatusPending>{status}</StatusPending>;
  }
};

const columns: TableColumn<PluginInstance>[] = [
  column({ title: 'Instance', field: 'id', minWidth: 140 }),
  column({ title: 'Version', field: 'version', minWidth: 80 }),
  column({
    title: 'Status',
    field: 'status',
    minWidth: 100,
    render: instance => <InstanceStatusLabel status={instance.status} />,
  }),
  column({
    title: 'Address',
    minWidth: 130,
    render: instance => `${instance.host}:${instance.port}`,
  }),
  column({
    title: 'PID',
    minWidth: 60,
    render: instance => instance.pid ?? '',
  }),
  column({
    title: 'Started',
    minWidth: 110,
    render: instance => <RelativeTime value={instance.startedAt} />,
  }),
  column({
    title: 'Stopped',
    minWidth: 110,
    render: instance => (
      <RelativeTime value={instance.stoppedAt} placeholder="" />
    ),
  }),
];

/** Props of {@link InstancesTable}. */
export interface InstancesTableProps {
  /** The instances that are starting, running or stopping. */
  instances: PluginInstance[];
  /** The latest ones that ended (stopped or crashed), newest first. */
  endedInstances?: PluginInstance[];
}

/**
 * The current copies of a plugin; the ones that ended lately behind a
 * toggle (the API keeps a short history of them).
 */
export const InstancesTable = ({
  instances,
  endedInstances = [],
}: InstancesTableProps) => {
  const [toggled, setShowEnded] = useState(false);
  // Off when nothing ended (after an uninstall, say), whatever was chosen.
  const showEnded = toggled && endedInstances.length > 0;
  const rows = showEnded ? [...instances, ...endedInstances] : instances;
  return (
    <div data-testid="instances-table">
      <Table<PluginInstance>
        title={
          // The toggle sits in the title bar, where the table's own actions go.
          <span
            style={{ display: 'inline-flex', alignItems: 'center', gap: 16 }}
          >
            Instances
            <FormControlLabel
              style={{ margin: 0 }}
              control={
                <Switch
                  size="small"
                  checked={showEnded}
                  disabled={endedInstances.length === 0}
                  onChange={event => setShowEnded(event.target.checked)}
                />
              }
              label={
                <Typography variant="body2" component="span">
                  Show ended ({endedInstances.length})
                </Typography>
              }
            />
          </span>
        }
        columns={columns}
        data={rows}
        options={{ paging: false, search: false, padding: 'dense' }}
        emptyContent={
          <div style={{ padding: 16 }}>
            {endedInstances.length > 0 && !showEnded
              ? 'No instance is running.'
              : 'No instances.'}
          </div>
        }
      />
    </div>
  );
};
