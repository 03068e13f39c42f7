import Table from '@material-ui/core/Table';
import TableBody from '@material-ui/core/TableBody';
import TableCell from '@material-ui/core/TableCell';
import TableHead from '@material-ui/core/TableHead';
import TableRow from '@material-ui/core/TableRow';
import Typography from '@material-ui/core/Typography';
import { makeStyles } from '@material-ui/core/styles';
import { Deployment } from '@internal/plugin-lifecycle-common';
import { RelativeTime } from '../shared/RelativeTime';
import { describeStep, formatDuration } from './format';
import { StepStatus } from './PhaseStatus';

const useStyles = makeStyles(theme => ({
  current: {
    backgroundColor: theme.palette.action.selected,
    '& td': { fontWeight: theme.typography.fontWeightBold as number },
  },
  // Compact cells: the table fits the card at 800 px.
  table: { '& td, & th': { padding: theme.spacing(0.75, 1) } },
  nowrap: { whiteSpace: 'nowrap' },
  // The note goes under the step, so that the table fits 800 px.
  step: { minWidth: 180 },
  note: { display: 'block', overflowWrap: 'anywhere' },
}));

/** The deployment's steps in order, the current one marked, each with its status, note, start and duration. */
export const StepsList = ({ deployment }: { deployment: Deployment }) => {
  const classes = useStyles();
  const active = deployment.currentStep < deployment.steps.length;
  return (
    <Table
      size="small"
      className={classes.table}
      data-testid="deployment-steps"
    >
      <TableHead>
        <TableRow>
          <TableCell className={classes.nowrap}>#</TableCell>
          <TableCell className={classes.nowrap}>Step</TableCell>
          <TableCell className={classes.nowrap}>Status</TableCell>
          <TableCell className={classes.nowrap}>Started</TableCell>
        </TableRow>
      </TableHead>
      <TableBody>
        {deployment.steps.map(step => {
          const current = active && step.index === deployment.currentStep;
          const took =
            step.startedAt && step.finishedAt
              ? formatDuration(
                  Date.parse(step.finishedAt) - Date.parse(step.startedAt),
                )
              : '';
          return (
            <TableRow
              key={step.index}
              className={current ? classes.current : undefined}
              aria-current={current ? 'step' : undefined}
              data-testid={current ? 'current-step' : undefined}
            >
              <TableCell className={classes.nowrap}>
                {step.index + 1}
                {current ? ' ▸' : ''}
              </TableCell>
              <TableCell className={classes.step}>
                {describeStep(step)}
                {step.message && (
                  <Typography
                    variant="caption"
                    color="textSecondary"
                    className={classes.note}
                  >
                    {step.message}
                  </Typography>
                )}
              </TableCell>
              <TableCell className={classes.nowrap}>
                <StepStatus status={step.status} />
              </TableCell>
              <TableCell className={classes.nowrap}>
                <RelativeTime value={step.startedAt} placeholder="" />
                {took && (
                  <Typography
                    variant="caption"
                    color="textSecondary"
                    className={classes.note}
                  >
                    took {took}
                  </Typography>
                )}
              </TableCell>
            </TableRow>
          );
        })}
      </TableBody>
    </Table>
  );
};
