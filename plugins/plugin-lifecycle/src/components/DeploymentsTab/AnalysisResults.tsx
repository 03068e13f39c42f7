import Box from '@material-ui/core/Box';
import Table from '@material-ui/core/Table';
import TableBody from '@material-ui/core/TableBody';
import TableCell from '@material-ui/core/TableCell';
import TableHead from '@material-ui/core/TableHead';
import TableRow from '@material-ui/core/TableRow';
import Typography from '@material-ui/core/Typography';
import { makeStyles } from '@material-ui/core/styles';
import {
  AnalysisCriteria,
  AnalysisRun,
  Deployment,
} from '@internal/plugin-lifecycle-common';
import { RelativeTime } from '../shared/RelativeTime';
import { formatLatency, formatPercent } from './format';
import { VerdictStatus } from './PhaseStatus';

const useStyles = makeStyles(theme => ({
  run: { '& + &': { marginTop: theme.spacing(3) } },
  // Compact, unwrapped cells: the table fits the card at 800 px.
  table: {
    '& td, & th': { padding: theme.spacing(0.75, 1), whiteSpace: 'nowrap' },
  },
  nowrap: { whiteSpace: 'nowrap' },
  header: { whiteSpace: 'nowrap', verticalAlign: 'bottom' },
  breach: { color: theme.palette.error.main, fontWeight: 'bold' },
}));

/** The criteria of the analysis step a run belongs to. */
function criteriaOf(
  d: Deployment,
  run: AnalysisRun,
): AnalysisCriteria | undefined {
  const step = d.steps[run.step];
  return step?.kind === 'analysis' ? step.criteria : undefined;
}

const AnalysisRunView = ({
  deployment,
  run,
}: {
  deployment: Deployment;
  run: AnalysisRun;
}) => {
  const classes = useStyles();
  const criteria = criteriaOf(deployment, run);
  // A header and its threshold on two lines: narrow columns at 800 px
  // without breaking words.
  const th = (text: string, limit?: string) => (
    <TableCell className={classes.header}>
      {text}
      {limit && (
        <Typography variant="caption" component="div" color="textSecondary">
          {limit}
        </Typography>
      )}
    </TableCell>
  );
  const max = (value: number | undefined, unit: string) =>
    value === undefined ? undefined : `max ${value}${unit}`;
  return (
    <Box className={classes.run} data-testid="analysis-run">
      <Box
        display="flex"
        flexWrap="wrap"
        alignItems="center"
        style={{ gap: 16 }}
      >
        <Typography variant="subtitle2">Step {run.step + 1}</Typography>
        <span data-testid="analysis-verdict">
          <VerdictStatus verdict={run.verdict} />
        </span>
        <Typography variant="body2" color="textSecondary">
          window from <RelativeTime value={run.startedAt} />
          {run.extensions > 0 &&
            `, extended ${run.extensions} time${
              run.extensions > 1 ? 's' : ''
            } for too little traffic`}
        </Typography>
      </Box>
      <Box style={{ overflowX: 'auto' }}>
        <Table size="small" className={classes.table}>
          <TableHead>
            <TableRow>
              {th('Version')}
              {th('Requests', 'seen / needed')}
              {th(
                'Success',
                criteria?.successThreshold === undefined
                  ? undefined
                  : `min ${criteria.successThreshold} %`,
              )}
              {th('Errors', max(criteria?.errorThreshold, ' %'))}
              {th('p99', max(criteria?.maxLatencyP99Ms, ' ms'))}
              {th('Unhealthy')}
            </TableRow>
          </TableHead>
          <TableBody>
            {run.evidence.map(e => {
              const isNew = e.version === deployment.toVersion;
              const bad = (broken: boolean) =>
                isNew && broken ? classes.breach : undefined;
              return (
                <TableRow key={e.version} data-testid={`evidence-${e.version}`}>
                  <TableCell className={classes.nowrap}>
                    {e.version}
                    {isNew ? ' (new)' : ''}
                  </TableCell>
                  <TableCell
                    className={`${classes.nowrap} ${
                      bad(e.requests < run.minRequests) ?? ''
                    }`}
                  >
                    {isNew ? `${e.requests} / ${run.minRequests}` : e.requests}
                  </TableCell>
                  <TableCell
                    className={bad(
                      criteria?.successThreshold !== undefined &&
                        e.successRate !== undefined &&
                        e.successRate < criteria.successThreshold,
                    )}
                  >
                    {formatPercent(e.successRate)}
                  </TableCell>
                  <TableCell
                    className={bad(
                      criteria?.errorThreshold !== undefined &&
                        e.errorRate !== undefined &&
                        e.errorRate > criteria.errorThreshold,
                    )}
                  >
                    {formatPercent(e.errorRate)}
                  </TableCell>
                  <TableCell
                    className={bad(
                      criteria?.maxLatencyP99Ms !== undefined &&
                        e.p99Ms !== undefined &&
                        e.p99Ms > criteria.maxLatencyP99Ms,
                    )}
                  >
                    {formatLatency(e.p99Ms)}
                  </TableCell>
                  <TableCell className={bad(e.unhealthyInstances > 0)}>
                    {e.unhealthyInstances}
                  </TableCell>
                </TableRow>
              );
            })}
          </TableBody>
        </Table>
      </Box>
      {run.reasons.length > 0 && (
        <ul data-testid="analysis-reasons">
          {run.reasons.map(reason => (
            <li key={reason}>
              <Typography variant="body2">{reason}</Typography>
            </li>
          ))}
        </ul>
      )}
      {run.providers?.map(p => (
        <Typography key={p.name} variant="body2">
          {p.name}: {p.verdict}
          {p.message ? ` (${p.message})` : ''}
        </Typography>
      ))}
    </Box>
  );
};

/** Every analysis window of the deployment, newest first, with its evidence and verdict. */
export const AnalysisResults = ({ deployment }: { deployment: Deployment }) => {
  if (deployment.analysis.length === 0) {
    return (
      <Typography variant="body2" color="textSecondary">
        No analysis has run yet.
      </Typography>
    );
  }
  const runs = [...deployment.analysis].reverse();
  return (
    <>
      {runs.map(run => (
        <AnalysisRunView
          key={`${run.step}-${run.startedAt}`}
          deployment={deployment}
          run={run}
        />
      ))}
    </>
  );
};
