import CircularProgress from '@material-ui/core/CircularProgress';
import Typography from '@material-ui/core/Typography';
import { makeStyles } from '@material-ui/core/styles';
import { StatusOK, WarningPanel } from '@backstage/core-components';
import { ConfigureResult, Operation } from '@internal/plugin-lifecycle-common';
import { formatVersion } from './EffectiveConfigCard';
import { useApplyOperation } from './useApplyOperation';

const useStyles = makeStyles(theme => ({
  applying: {
    display: 'flex',
    alignItems: 'center',
    gap: theme.spacing(1),
    marginBottom: theme.spacing(2),
  },
  panel: {
    marginBottom: theme.spacing(2),
  },
}));

/** Props of {@link ApplyStatus}. */
export interface ApplyStatusProps {
  pluginId: string;
  layer: string;
  /** The version written, which the operation brings to instances. */
  version: number;
  operationId: string;
  /** The layer's latest version as loaded now (after a rollback: the revert). */
  latestVersion: number;
  /** Reloads the layer and the effective configuration. */
  onEnded: () => void;
}

function describeResult(version: string, operation: Operation): string {
  const result = operation.result as ConfigureResult | undefined;
  if (result && 'applied' in result) {
    return `${version} is stored; running instances were not touched (${result.reason}).`;
  }
  if (result && 'instances' in result) {
    return `Applied ${version} to ${result.instances} running instance(s) by ${result.strategy}.`;
  }
  return `Applied ${version} to running instances.`;
}

/**
 * Where the change a user just wrote stands on the running instances: being
 * applied, applied, or rolled back by the server (a new instance did not
 * become ready with it), followed to the end without a Refresh.
 */
export const ApplyStatus = (props: ApplyStatusProps) => {
  const { pluginId, layer, operationId, latestVersion } = props;
  const classes = useStyles();
  const version = `${layer} ${formatVersion(props.version)}`;
  const { operation, ended, error } = useApplyOperation({
    pluginId,
    operationId,
    onEnded: props.onEnded,
  });

  if (!ended) {
    return (
      <div className={classes.applying} data-testid="config-apply-status">
        <CircularProgress size={16} aria-label="Applying" />
        <Typography variant="body2">
          Applying {version} to running instances (operation {operationId}
          {operation ? `: ${operation.status}` : ''})...
          {error && ` Could not read its progress: ${error.message}.`}
        </Typography>
      </div>
    );
  }

  if (operation!.status === 'succeeded') {
    return (
      <Typography
        variant="body2"
        paragraph
        data-testid="config-apply-status"
        data-outcome="applied"
      >
        <StatusOK>{describeResult(version, operation!)}</StatusOK>
      </Typography>
    );
  }

  const message = operation!.error ?? `the operation ${operation!.status}`;
  // The configure action restores the layer when instances refuse a change.
  const rolledBack = /configuration restored/.test(message);
  const title = rolledBack
    ? `The server rolled back ${version}: running instances could not take it`
    : `${version} was not applied (${operation!.status})`;
  return (
    <div
      className={classes.panel}
      data-testid="config-apply-status"
      data-outcome={rolledBack ? 'rolled-back' : operation!.status}
    >
      <WarningPanel
        severity="error"
        title={title}
        message={
          rolledBack
            ? `${message}. The layer is at ${formatVersion(
                latestVersion,
              )} now, with the content it had before ${formatVersion(
                props.version,
              )}.`
            : message
        }
        defaultExpanded
      />
    </div>
  );
};
