import Button from '@material-ui/core/Button';
import { makeStyles } from '@material-ui/core/styles';
import {
  LifecycleAction,
  pluginLifecyclePermissionForAction,
} from '@internal/plugin-lifecycle-common';
import { InstallForm, UpdateForm } from './VersionForm';
import { SUPPORTED_ACTIONS, SupportedAction } from './usePluginLifecycle';

const LABELS: Record<Exclude<SupportedAction, 'install' | 'update'>, string> = {
  start: 'Start',
  stop: 'Stop',
  restart: 'Restart',
  uninstall: 'Uninstall',
};

const useStyles = makeStyles(theme => ({
  root: {
    display: 'flex',
    flexWrap: 'wrap',
    alignItems: 'center',
    gap: theme.spacing(1),
  },
}));

/** Props of {@link LifecycleActions}. */
export interface LifecycleActionsProps {
  /** The actions the API says may begin from the current state. */
  available: readonly LifecycleAction[];
  /** The version the plugin is at (the placeholder of the update field). */
  currentVersion?: string;
  disabled?: boolean;
  /**
   * Whether the user may carry out an action (by the permission it needs:
   * operate for start, stop and restart, deploy for install, update and
   * uninstall); every action is allowed when not given.
   */
  isAllowed?: (action: SupportedAction) => boolean;
  onAction: (action: SupportedAction, version?: string) => void;
}

/** The permission an action needs, as a button's tooltip when it is refused. */
const notAllowed = (action: SupportedAction) =>
  `Not allowed: ${pluginLifecyclePermissionForAction(action).name}`;

/**
 * Buttons for the supported actions that are currently available, with a
 * version field for install and update.
 */
export const LifecycleActions = ({
  available,
  currentVersion,
  disabled,
  isAllowed = () => true,
  onAction,
}: LifecycleActionsProps) => {
  const classes = useStyles();
  const actions = SUPPORTED_ACTIONS.filter(a => available.includes(a));

  if (actions.length === 0) {
    return null;
  }

  return (
    <div className={classes.root}>
      {actions.map(action => {
        const allowed = isAllowed(action);
        if (action === 'install') {
          return (
            <InstallForm
              key={action}
              disabled={disabled || !allowed}
              onInstall={version => onAction('install', version)}
            />
          );
        }
        if (action === 'update') {
          return (
            <UpdateForm
              key={action}
              currentVersion={currentVersion}
              disabled={disabled || !allowed}
              onUpdate={version => onAction('update', version)}
            />
          );
        }
        // A span keeps the tooltip of a disabled button.
        return (
          <span key={action} title={allowed ? undefined : notAllowed(action)}>
            <Button
              variant="outlined"
              color={action === 'uninstall' ? 'secondary' : 'primary'}
              disabled={disabled || !allowed}
              onClick={() => onAction(action)}
            >
              {LABELS[action]}
            </Button>
          </span>
        );
      })}
    </div>
  );
};
