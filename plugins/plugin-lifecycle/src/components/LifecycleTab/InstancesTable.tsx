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
import { formatTime } from './format';

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
  { title: 'Instance', field: 'id' },
  { title: 'Version', field: 'version' },
  {
    title: 'Status',
    field: 'status',
    render: instance => <InstanceStatusLabel status={instance.status} />,
  },
  {
    title: 'Address',
    render: instance => `${instance.host}:${instance.port}`,
  },
  { title: 'PID', render: instance => instance.pid ?? '' },
  { title: 'Started', render: instance => formatTime(instance.startedAt) },
];

/** Props of {@link InstancesTable}. */
export interface InstancesTableProps {
  instances: PluginInstance[];
}

/** The running (and recently stopped) copies of a plugin. */
export const InstancesTable = ({ instances }: InstancesTableProps) => (
  <Table<PluginInstance>
    title="Instances"
    columns={columns}
    data={instances}
    options={{ paging: false, search: false, padding: 'dense' }}
    emptyContent={<div style={{ padding: 16 }}>No instances.</div>}
  />
);
