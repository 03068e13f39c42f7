import { Table, TableColumn } from '@backstage/core-components';
import { Deployment } from '@internal/plugin-lifecycle-common';
import { RelativeTime } from '../shared/RelativeTime';
import { deploymentDuration, formatDuration } from './format';
import { PhaseStatus } from './PhaseStatus';

// Headers and short cells never wrap: at 800 px a narrow column would
// otherwise print one letter per line.
const nowrap = { whiteSpace: 'nowrap' as const };

const columns: TableColumn<Deployment>[] = [
  {
    title: 'Started',
    field: 'createdAt',
    headerStyle: nowrap,
    cellStyle: nowrap,
    render: d => <RelativeTime value={d.createdAt} />,
  },
  {
    title: 'Strategy',
    field: 'strategy',
    headerStyle: nowrap,
    cellStyle: nowrap,
  },
  {
    title: 'Versions',
    headerStyle: nowrap,
    cellStyle: nowrap,
    render: d => `${d.fromVersion} → ${d.toVersion}`,
  },
  {
    title: 'Outcome',
    field: 'phase',
    headerStyle: nowrap,
    cellStyle: nowrap,
    render: d => <PhaseStatus phase={d.phase} />,
  },
  {
    title: 'Duration',
    headerStyle: nowrap,
    cellStyle: nowrap,
    render: d => formatDuration(deploymentDuration(d)),
  },
  { title: 'By', field: 'createdBy', headerStyle: nowrap, cellStyle: nowrap },
  {
    title: 'Why',
    field: 'message',
    headerStyle: nowrap,
    cellStyle: { minWidth: 200 },
  },
];

/** The plugin's earlier deployments, newest first, with their outcome. */
export const PastDeploymentsTable = ({
  deployments,
}: {
  deployments: Deployment[];
}) => (
  <div data-testid="past-deployments">
    <Table<Deployment>
      title="Past deployments"
      options={{
        paging: deployments.length > 10,
        pageSize: 10,
        search: false,
        padding: 'dense',
      }}
      columns={columns}
      data={deployments}
      emptyContent={<div style={{ padding: 16 }}>No earlier deployments.</div>}
    />
  </div>
);
