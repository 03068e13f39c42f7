import { useCallback } from 'react';
import Grid from '@material-ui/core/Grid';
import Typography from '@material-ui/core/Typography';
import {
  EmptyState,
  InfoCard,
  MissingAnnotationEmptyState,
  Progress,
  ResponseErrorPanel,
  WarningPanel,
} from '@backstage/core-components';
import { useEntity } from '@backstage/plugin-catalog-react';
import {
  DeploymentAction,
  DeploymentActionRequest,
  PLUGIN_ID_ANNOTATION,
} from '@internal/plugin-lifecycle-common';
import { usePluginPermissions } from '../usePluginPermissions';
import { ACTION_LABELS } from './actions';
import { DeploymentCard } from './DeploymentCard';
import { PastDeploymentsTable } from './PastDeploymentsTable';
import { StartUpdateCard } from './UpdateForm/StartUpdateCard';
import { useDeploymentAction } from './useDeploymentAction';
import { describeError } from '../shared/describeError';
import { useDeployments } from './useDeployments';

const DeploymentsView = ({ pluginId }: { pluginId: string }) => {
  const { value, error, refresh } = useDeployments(pluginId);
  const may = usePluginPermissions(pluginId);
  const action = useDeploymentAction(refresh);
  const shown = value?.active ?? value?.recent[0];
  const onAction = useCallback(
    (a: DeploymentAction, request: DeploymentActionRequest) => {
      if (shown) {
        // The error is kept by the hook and shown in the card.
        action.run(shown.id, a, request).catch(() => undefined);
      }
    },
    [action, shown],
  );

  if (!value) {
    return error ? <ResponseErrorPanel error={error} /> : <Progress />;
  }
  if (!value.plugin) {
    return (
      <EmptyState
        missing="data"
        title="Not installed yet"
        description={`The plugin "${pluginId}" has never been installed: install it from the Lifecycle tab, then update it here.`}
      />
    );
  }
  const plugin = value.plugin;
  let blockedReason: string | undefined;
  if (!may.deploy) {
    blockedReason = 'You may not deploy this plugin.';
  } else if (value.active) {
    blockedReason =
      'A deployment is in progress: it must end before another starts.';
  }
  const past = value.recent.filter(d => d.id !== shown?.id);

  return (
    <Grid container spacing={3}>
      {error && (
        <Grid item xs={12}>
          <WarningPanel
            severity="warning"
            title="Could not reload the deployments"
            message={describeError(error)}
          />
        </Grid>
      )}
      <Grid item xs={12}>
        {shown ? (
          <DeploymentCard
            deployment={shown}
            runningVersion={plugin.currentVersion}
            mayApprove={may.approve}
            mayDeploy={may.deploy}
            actionPending={action.pending}
            onAction={onAction}
          >
            {action.error && (
              <WarningPanel
                severity="error"
                title={`Could not ${ACTION_LABELS[
                  action.lastAction ?? 'promote'
                ].toLowerCase()}`}
                message={describeError(action.error)}
                defaultExpanded
              />
            )}
          </DeploymentCard>
        ) : (
          <InfoCard title="Deployments">
            <Typography variant="body2">
              No deployments yet: an update of {pluginId} to another version
              starts one.
            </Typography>
          </InfoCard>
        )}
      </Grid>
      <Grid item xs={12}>
        <StartUpdateCard
          pluginId={pluginId}
          currentVersion={plugin.currentVersion}
          blockedReason={blockedReason}
          onStarted={refresh}
        />
      </Grid>
      <Grid item xs={12}>
        <PastDeploymentsTable deployments={past} />
      </Grid>
    </Grid>
  );
};

/**
 * The Deployments tab of a catalog entity annotated with
 * `plugin-lifecycle.backstage.io/plugin-id`: the rollout in progress (or
 * the last one) with its progress, traffic split, steps, analysis evidence,
 * approvals and actions; a form that starts an update with a strategy and
 * its settings; and the earlier deployments. It updates by itself
 * (Backstage signals, or polling without them).
 *
 * @public
 */
export const EntityDeploymentsContent = () => {
  const { entity } = useEntity();
  const pluginId = entity.metadata.annotations?.[PLUGIN_ID_ANNOTATION];
  if (!pluginId) {
    return <MissingAnnotationEmptyState annotation={PLUGIN_ID_ANNOTATION} />;
  }
  return <DeploymentsView pluginId={pluginId} />;
};
