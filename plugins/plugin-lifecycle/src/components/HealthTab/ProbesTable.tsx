import Chip from '@material-ui/core/Chip';
import Typography from '@material-ui/core/Typography';
import useMediaQuery from '@material-ui/core/useMediaQuery';
import { Theme, makeStyles } from '@material-ui/core/styles';
import { Table, TableColumn } from '@backstage/core-components';
import { ProbeHealth } from '@internal/plugin-lifecycle-common';
import { RelativeTime } from '../shared/RelativeTime';
import { ProbeStatusLabel } from './HealthStatus';
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
  // A status is one word: never broken letter by letter.
  status: {
    whiteSpace: 'nowrap',
  },
  below: {
    marginTop: theme.spacing(0.5),
  },
}));

const ProbeCell = ({ probe }: { probe: ProbeHealth }) => (
  <>
    {probe.name}
    <Typography variant="caption" color="textSecondary" component="div">
      {probe.method ? `${probe.type} (${probe.method})` : probe.type}
    </Typography>
  </>
);

/** The probe's status, its circuit, and what its trend says. */
const StatusCell = ({ probe }: { probe: ProbeHealth }) => {
  const classes = useStyles();
  const { trend } = probe;
  const steady = !trend.degrading && !trend.flapping;
  return (
    <>
      <span className={classes.cell}>
        <span className={classes.status}>
          <ProbeStatusLabel probe={probe} />
        </span>
        {probe.circuit && probe.circuit !== 'closed' && (
          <Chip
            size="small"
            variant="outlined"
            label={`circuit ${probe.circuit}`}
          />
        )}
        {trend.degrading && <Chip size="small" label="degrading" />}
        {trend.flapping && <Chip size="small" label="flapping" />}
      </span>
      {steady ? (
        <Typography variant="caption" color="textSecondary" component="div">
          steady
        </Typography>
      ) : (
        trend.reasons.map(reason => (
          <Typography key={reason} variant="caption" component="div">
            {reason}
          </Typography>
        ))
      )}
    </>
  );
};

const SuccessCell = ({ probe }: { probe: ProbeHealth }) => {
  const { recent } = probe;
  const ok = recent.filter(result => result.ok).length;
  return (
    <>
      {formatPercent(probe.successRate)}
      {recent.length > 0 && (
        <Typography
          variant="caption"
          color="textSecondary"
          component="div"
          data-testid="probe-recent"
        >
          {ok} of {recent.length} ok
        </Typography>
      )}
    </>
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
          checked <RelativeTime value={probe.lastCheckedAt} />
        </Typography>
      )}
    </>
  );
};

const NarrowMessage = ({ probe }: { probe: ProbeHealth }) => {
  const classes = useStyles();
  return (
    <div className={classes.below}>
      <MessageCell probe={probe} />
    </div>
  );
};

// Headers on one line: at 800 px a squeezed column wraps its cells, never
// its title letter by letter.
const nowrap = { whiteSpace: 'nowrap' } as const;

/**
 * The columns; on a narrow screen (below 960 px) the last message goes
 * under the probe's name rather than in a column of its own.
 */
function columnsFor(narrow: boolean): TableColumn<ProbeHealth>[] {
  return [
    {
      title: 'Probe',
      headerStyle: nowrap,
      render: probe => (
        <>
          <ProbeCell probe={probe} />
          {narrow && <NarrowMessage probe={probe} />}
        </>
      ),
    },
    {
      title: 'Status',
      headerStyle: nowrap,
      render: probe => <StatusCell probe={probe} />,
    },
    {
      title: 'Latency',
      headerStyle: nowrap,
      render: probe => <LatencyCell probe={probe} />,
    },
    {
      title: 'Success',
      headerStyle: nowrap,
      render: probe => <SuccessCell probe={probe} />,
    },
    ...(narrow
      ? []
      : [
          {
            title: 'Last message',
            headerStyle: nowrap,
            width: '30%',
            render: (probe: ProbeHealth) => <MessageCell probe={probe} />,
          },
        ]),
  ];
}

/** Props of {@link ProbesTable}. */
export interface ProbesTableProps {
  probes: ProbeHealth[];
}

/**
 * The probes of one instance: status and trend, latency, success rate and
 * the last message, in columns that fit the card down to 800 px.
 */
export const ProbesTable = ({ probes }: ProbesTableProps) => {
  const narrow = useMediaQuery((theme: Theme) => theme.breakpoints.down('sm'));
  return (
    <div data-testid="probes-table">
      <Table<ProbeHealth>
        columns={columnsFor(narrow)}
        data={probes}
        options={{
          toolbar: false,
          paging: false,
          search: false,
          sorting: false,
          padding: 'dense',
        }}
      />
    </div>
  );
};
