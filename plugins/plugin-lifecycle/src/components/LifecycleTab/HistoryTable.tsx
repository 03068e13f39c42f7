import { useMemo, useState } from 'react';
import Accordion from '@material-ui/core/Accordion';
import AccordionDetails from '@material-ui/core/AccordionDetails';
import AccordionSummary from '@material-ui/core/AccordionSummary';
import Typography from '@material-ui/core/Typography';
import ExpandMoreIcon from '@material-ui/icons/ExpandMore';
import { Table, TableColumn } from '@backstage/core-components';
import { StateTransition } from '@internal/plugin-lifecycle-common';
import { RelativeTime } from '../shared/RelativeTime';
import { column } from './tableStyles';

const columns: TableColumn<StateTransition>[] = [
  column({
    title: 'Time',
    minWidth: 110,
    render: row => <RelativeTime value={row.createdAt} />,
  }),
  column({
    title: 'Transition',
    minWidth: 180,
    render: row => `${row.fromState} → ${row.toState}`,
  }),
  column({ title: 'Action', field: 'action', minWidth: 90 }),
  column({ title: 'Actor', minWidth: 120, render: row => row.actor ?? '' }),
  column({
    title: 'Reason',
    minWidth: 200,
    wrap: true,
    render: row => row.reason ?? '',
  }),
];

function newestFirst(a: StateTransition, b: StateTransition): number {
  if (a.createdAt !== b.createdAt) {
    return a.createdAt < b.createdAt ? 1 : -1;
  }
  return b.id - a.id;
}

/** Rows a page of the history shows. */
export const HISTORY_PAGE_SIZE = 10;

/** Props of {@link HistoryTable}. */
export interface HistoryTableProps {
  history: StateTransition[];
}

/**
 * The recorded state changes of a plugin, newest first, a page at a time,
 * folded away until asked for (it grows with every action).
 */
export const HistoryTable = ({ history }: HistoryTableProps) => {
  const [open, setOpen] = useState(false);
  const rows = useMemo(() => [...history].sort(newestFirst), [history]);
  return (
    <Accordion
      expanded={open}
      onChange={(_event, expanded) => setOpen(expanded)}
      TransitionProps={{ unmountOnExit: true }}
    >
      <AccordionSummary
        expandIcon={<ExpandMoreIcon />}
        aria-controls="plugin-lifecycle-history"
        id="plugin-lifecycle-history-header"
      >
        <Typography variant="h6" component="h2">
          History ({rows.length} state{' '}
          {rows.length === 1 ? 'change' : 'changes'})
        </Typography>
      </AccordionSummary>
      <AccordionDetails
        id="plugin-lifecycle-history"
        style={{ display: 'block', padding: 0 }}
      >
        <Table<StateTransition>
          columns={columns}
          data={rows}
          options={{
            toolbar: false,
            paging: rows.length > HISTORY_PAGE_SIZE,
            pageSize: HISTORY_PAGE_SIZE,
            pageSizeOptions: [10, 25, 50],
            search: false,
            padding: 'dense',
          }}
          emptyContent={
            <div style={{ padding: 16 }}>No state changes yet.</div>
          }
        />
      </AccordionDetails>
    </Accordion>
  );
};
