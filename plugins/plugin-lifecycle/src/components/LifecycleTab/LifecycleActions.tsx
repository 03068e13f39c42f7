import Button from '@material-ui/core/Button';
import { makeStyles } from '@material-ui/core/styles';
import {
  LifecycleAction,
  pluginLifecyclePermissionForAction,
} from '@internal/plugin-lifecycle-common';
import { ConfirmRequest } from './ConfirmDialog';
import { InstallForm, UpdateForm, VersionChoices } from './VersionForm';
import {
  InstallOptions,
  SUPPORTED_ACTIONS,
  SupportedAction,
} from './usePluginLifecycle';

type ButtonAction = Exclude<SupportedAction, 'install' | 'update'>;

const LABELS: Record<ButtonAction, string> = {
  start: 'Start',
  stop: 'Stop',
  restart: 'Restart',
  uninstall: 'Uninstall',
  'maintenance-on': 'Maintenance on',
  'maintenance-off': 'End maintenance',
};

/** What each disruptive action does, for its confirmation. */
const CONSEQUENCES: Partial<Record<ButtonAction, string>> = {
  stop: 'Every instance stops: the plugin serves nothing until it is started again.',
  restart:
    'Every instance stops and new ones start: requests may fail while they come up.',
  uninstall:
    'Every instance stops and every installed version is removed (its configuration is kept). Installing again starts from scratch.',
  'maintenance-on':
    'Its instances keep running but get no traffic (the proxy answers 503), and nothing restarts, repairs or reconfigures them until maintenance ends.',
};

const useStyles = makeStyles(theme => ({
  root: {
    display: 'flex',
    flexWrap: 'wrap',
    alignItems: 'flex-start',
    gap: theme.spacing(1),
  },
  button: {
    minHeight: 40,
  },
}));

/** Props of {@link LifecycleActions}. */
export interface LifecycleActionsProps {
  pluginId: string;
  /** The actions the API says may begin from the current state. */
  available: readonly LifecycleAction[];
  /** The version the plugin is at (the placeholder of the update field). */
  currentVersion?: string;
  /** The versions offered by the install and update fields. */
  choices?: VersionChoices;
  disabled?: boolean;
  /**
   * Whether the user may carry out an action (by the permission it needs:
   * operate for start, stop and restart, deploy for install, update and
   * uninstall); every action is allowed when not given.
   */
  isAllowed?: (action: SupportedAction) => boolean;
  onAction: (
    action: SupportedAction,
    version?: string,
    install?: InstallOptions,
  ) => void;
  /** Asks before a disruptive action runs. */
  confirm: (request: ConfirmRequest) => void;
}

/** The permission an action needs, as a button's tooltip when it is refused. */
const notAllowed = (action: SupportedAction) =>
  `Not allowed: ${pluginLifecyclePermissionForAction(action).name}`;

/**
 * Buttons for the supported actions that are currently available (stop,
 * restart and uninstall ask first), with a version field for install and
 * update.
 */
export const LifecycleActions = ({
  pluginId,
  available,
  currentVersion,
  choices,
  disabled,
  isAllowed = () => true,
  onAction,
  confirm,
}: LifecycleActionsProps) => {
  const classes = useStyles();
  const actions = SUPPORTED_ACTIONS.filter(a => available.includes(a));

  if (actions.length === 0) {
    return null;
  }

  const press = (action: ButtonAction) => {
    const consequence = CONSEQUENCES[action];
    if (!consequence) {
      onAction(action);
      return;
    }
    confirm({
      title: `${LABELS[action]} ${pluginId}?`,
      message: consequence,
      confirmText: LABELS[action],
      onConfirm: () => onAction(action),
    });
  };

  return (
    <div className={classes.root}>
      {actions.map(action => {
        const allowed = isAllowed(action);
        if (action === 'install') {
          return (
            <InstallForm
              key={action}
              disabled={disabled || !allowed}
              onInstall={(version, options) =>
                onAction('install', version, options)
              }
              {...choices}
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
              {...choices}
            />
          );
        }
        // A span keeps the tooltip of a disabled button.
        return (
          <span key={action} title={allowed ? undefined : notAllowed(action)}>
            <Button
              variant="outlined"
              className={classes.button}
              color={
                action === 'uninstall' || action === 'maintenance-on'
                  ? 'secondary'
                  : 'primary'
              }
              disabled={disabled || !allowed}
              onClick={() => press(action)}
            >
              {LABELS[action]}
            </Button>
          </span>
        );
      })}
    </div>
  );
};
