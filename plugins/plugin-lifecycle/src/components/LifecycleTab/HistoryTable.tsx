import { useMemo } from 'react';
import { Table, TableColumn } from '@backstage/core-components';
import { StateTransition } from '@internal/plugin-lifecycle-common';
import { formatTime } from './format';

const columns: TableColumn<StateTransition>[] = [
  { title: 'Time', render: row => formatTime(row.createdAt) },
  {
    title: 'Transition',
    render: row => `${row.fromState} → ${row.toState}`,
  },
  { title: 'Action', field: 'action' },
  { title: 'Actor', render: row => row.actor ?? '' },
  { title: 'Reason', render: row => row.reason ?? '' },
];

function newestFirst(a: StateTransition, b: StateTransition): number {
  if (a.createdAt !== b.createdAt) {
    return a.createdAt < b.createdAt ? 1 : -1;
  }
  return b.id - a.id;
}

/** Props of {@link HistoryTable}. */
export interface HistoryTableProps {
  history: StateTransition[];
}

/** The recorded state changes of a plugin, newest first. */
export const HistoryTable = ({ history }: HistoryTableProps) => {
  const rows = useMemo(() => [...history].sort(newestFirst), [history]);
  return (
    <Table<StateTransition>
      title="History"
      columns={columns}
      data={rows}
      options={{
        paging: rows.length > 20,
        pageSize: 20,
        search: false,
        padding: 'dense',
      }}
      emptyContent={<div style={{ padding: 16 }}>No state changes yet.</div>}
    />
  );
};
