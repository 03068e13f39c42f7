import Chip from '@material-ui/core/Chip';
import SvgIcon, { SvgIconProps } from '@material-ui/core/SvgIcon';
import Typography from '@material-ui/core/Typography';
import { makeStyles } from '@material-ui/core/styles';
import {
  CONFIG_SECRET_MASK,
  ConfigEntryView,
} from '@internal/plugin-lifecycle-common';
import { formatTime } from '../LifecycleTab/format';
import { isSecretLike } from './draft';

/** The Material "Lock" icon (the plugin does not depend on the icon package). */
export const LockIcon = (props: SvgIconProps) => (
  <SvgIcon {...props}>
    <path d="M18 8h-1V6c0-2.76-2.24-5-5-5S7 3.24 7 6v2H6c-1.1 0-2 .9-2 2v10c0 1.1.9 2 2 2h12c1.1 0 2-.9 2-2V10c0-1.1-.9-2-2-2zm-6 9c-1.1 0-2-.9-2-2s.9-2 2-2 2 .9 2 2-.9 2-2 2zm3.1-9H8.9V6c0-1.71 1.39-3.1 3.1-3.1 1.71 0 3.1 1.39 3.1 3.1v2z" />
  </SvgIcon>
);

const useStyles = makeStyles(theme => ({
  masked: {
    display: 'inline-flex',
    alignItems: 'center',
    gap: theme.spacing(0.5),
    // The dots and the chip stay on one line in a narrow column.
    whiteSpace: 'nowrap',
  },
  value: {
    fontFamily: 'monospace',
    whiteSpace: 'pre-wrap',
    overflowWrap: 'anywhere',
  },
}));

/** Whether the API hid an entry's value. */
export function isMasked(entry: ConfigEntryView): boolean {
  return (
    entry.masked === true ||
    (isSecretLike(entry) && entry.value === CONFIG_SECRET_MASK)
  );
}

/** A value for display: JSON for anything but a string. */
export function formatValue(value: unknown): string {
  if (typeof value === 'string') {
    return value;
  }
  return value === undefined ? '' : JSON.stringify(value);
}

/** Props of {@link ConfigValue}. */
export interface ConfigValueProps {
  entry: ConfigEntryView;
}

/**
 * The value of an entry; a masked one as dots with a lock and a chip saying
 * why it is hidden (and when a secret is due to be rotated).
 */
export const ConfigValue = ({ entry }: ConfigValueProps) => {
  const classes = useStyles();

  if (!isMasked(entry)) {
    return (
      <span className={classes.value} data-testid="config-value">
        {formatValue(entry.value)}
      </span>
    );
  }
  return (
    <span className={classes.masked} data-testid="config-value-masked">
      <LockIcon fontSize="small" titleAccess="hidden" />
      <span aria-hidden>••••</span>
      <Chip
        size="small"
        variant="outlined"
        label={entry.type === 'secret' ? 'secret' : 'sensitive'}
      />
      {entry.rotateAt && (
        <Typography variant="caption" color="textSecondary">
          rotate by {formatTime(entry.rotateAt)}
        </Typography>
      )}
    </span>
  );
};
