import Chip from '@material-ui/core/Chip';
import { makeStyles, Theme } from '@material-ui/core/styles';
import {
  LifecycleState,
  isTransitional,
} from '@internal/plugin-lifecycle-common';

type Tone = 'ok' | 'busy' | 'error' | 'idle';

function toneOf(state: LifecycleState | 'not-installed'): Tone {
  if (state === 'running') {
    return 'ok';
  }
  if (state === 'error') {
    return 'error';
  }
  if (state !== 'not-installed' && isTransitional(state)) {
    return 'busy';
  }
  return 'idle';
}

const useStyles = makeStyles((theme: Theme) => ({
  ok: {
    backgroundColor: theme.palette.success.main,
    color: theme.palette.success.contrastText,
  },
  busy: {
    backgroundColor: theme.palette.info.main,
    color: theme.palette.info.contrastText,
  },
  error: {
    backgroundColor: theme.palette.error.main,
    color: theme.palette.error.contrastText,
  },
  idle: {},
}));

/** Props of {@link LifecycleStateChip}. */
export interface LifecycleStateChipProps {
  state: LifecycleState | 'not-installed';
}

/** The lifecycle state of a plugin as a coloured chip. */
export const LifecycleStateChip = ({ state }: LifecycleStateChipProps) => {
  const classes = useStyles();
  return (
    <Chip
      data-testid="lifecycle-state"
      size="small"
      label={state === 'not-installed' ? 'not installed' : state}
      className={classes[toneOf(state)]}
    />
  );
};
