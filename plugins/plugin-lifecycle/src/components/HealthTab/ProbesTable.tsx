import Chip from '@material-ui/core/Chip';
import Typography from '@material-ui/core/Typography';
import { makeStyles } from '@material-ui/core/styles';
import { Table, TableColumn } from '@backstage/core-components';
import { ProbeHealth } from '@internal/plugin-lifecycle-common';
import { formatTime } from '../LifecycleTab/format';
import { ProbeStatusLabel } from './HealthStatus';
import { LatencySparkline } from './LatencySparkline';
import { formatLatency, formatMeanLatency, formatPercent } from './format';

const useStyles = makeStyles(theme => ({
  cell: {
    display: 'flex',
    flexWrap: 'wrap',
    alignItems: 'center',
    gap: theme.spacing(0.5),
  },
  message: {
    whiteSpace: 'pre-wrap',
    overflowWrap: 'anywhere',
  },
}));

const StatusCell = ({ probe }: { probe: ProbeHealth }) => {
  const classes = useStyles();
  return (
    <span className={classes.cell}>
      <ProbeStatusLabel probe={probe} />
      {probe.circuit && probe.circuit !== 'closed' && (
        <Chip
          size="small"
          variant="outlined"
          label={`circuit ${probe.circuit}`}
        />
      )}
    </span>
  );
};

const TrendCell = ({ trend }: { trend: ProbeHealth['trend'] }) => {
  const classes = useStyles();
  if (!trend.degrading && !trend.flapping) {
    return <>steady</>;
  }
  return (
    <span className={classes.cell}>
      {trend.degrading && <Chip size="small" label="degrading" />}
      {trend.flapping && <Chip size="small" label="flapping" />}
      {trend.reasons.map(reason => (
        <Typography key={reason} variant="caption" component="div">
          {reason}
        </Typography>
      ))}
    </span>
  );
};

const RecentCell = ({ recent }: { recent: ProbeHealth['recent'] }) => {
  const classes = useStyles();
  if (recent.length === 0) {
    return null;
  }
  const ok = recent.filter(result => result.ok).length;
  return (
    <span className={classes.cell}>
      <LatencySparkline recent={recent} />
      <Typography variant="caption" data-testid="probe-recent">
        {ok} of {recent.length} ok
      </Typography>
    </span>
  );
};

const LatencyCell = ({ probe }: { probe: ProbeHealth }) => {
  const mean = formatMeanLatency(probe.trend);
  return (
    <>
      {formatLatency(probe.lastLatencyMs)}
      {mean && (
        <Typography variant="caption" color="textSecondary" component="div">
          mean {mean}
        </Typography>
      )}
    </>
  );
};

const MessageCell = ({ probe }: { probe: ProbeHealth }) => {
  const classes = useStyles();
  return (
    <>
      {probe.lastMessage && (
        <Typography
          variant="body2"
          component="span"
          className={classes.message}
        >
          {probe.lastMessage}
        </Typography>
      )}
      {probe.lastCheckedAt && (
        <Typography variant="caption" color="textSecondary" component="div">
          checked {formatTime(probe.lastCheckedAt)}
        </Typography>
      )}
    </>
  );
};

const nowrap = { whiteSpace: 'nowrap' } as const;

const columns: TableColumn<ProbeHealth>[] = [
  { title: 'Probe', field: 'name', cellStyle: nowrap },
  {
    title: 'Type',
    cellStyle: nowrap,
    render: probe =>
      probe.method ? `${probe.type} (${probe.method})` : probe.type,
  },
  {
    title: 'Status',
    cellStyle: nowrap,
    render: probe => <StatusCell probe={probe} />,
  },
  { title: 'Latency', render: probe => <LatencyCell probe={probe} /> },
  { title: 'Success rate', render: probe => formatPercent(probe.successRate) },
  { title: 'Trend', render: probe => <TrendCell trend={probe.trend} /> },
  { title: 'Recent', render: probe => <RecentCell recent={probe.recent} /> },
  {
    title: 'Last message',
    width: '25%',
    render: probe => <MessageCell probe={probe} />,
  },
];

/** Props of {@link ProbesTable}. */
export interface ProbesTableProps {
  probes: ProbeHealth[];
}

/** The probes of one instance: status, latency, success rate and trend. */
export const ProbesTable = ({ probes }: ProbesTableProps) => (
  <div data-testid="probes-table">
    <Table<ProbeHealth>
      columns={columns}
      data={probes}
      options={{
        toolbar: false,
        paging: false,
        search: false,
        sorting: false,
        padding: 'dense',
      }}
      emptyContent={
        <div style={{ padding: 16 }}>
          No probes: the instance is not checked.
        </div>
      }
    />
  </div>
);
