import Grid from '@material-ui/core/Grid';
import {
  EmptyState,
  MissingAnnotationEmptyState,
  Progress,
  ResponseErrorPanel,
  WarningPanel,
} from '@backstage/core-components';
import { stringifyEntityRef } from '@backstage/catalog-model';
import { useEntity } from '@backstage/plugin-catalog-react';
import { PLUGIN_ID_ANNOTATION } from '@internal/plugin-lifecycle-common';
import { HistoryTable } from './HistoryTable';
import { InstancesTable } from './InstancesTable';
import { LifecycleActions } from './LifecycleActions';
import { LifecycleSummaryCard } from './LifecycleSummaryCard';
import { OperationsTable } from './OperationsTable';
import { InstallForm } from './VersionForm';
import { usePluginPermissions } from '../usePluginPermissions';
import {
  describeError,
  failureTitle,
  useLifecycleAction,
  usePluginLifecycle,
} from './usePluginLifecycle';

/**
 * Props of {@link EntityLifecycleContent}.
 *
 * @public
 */
export interface EntityLifecycleContentProps {
  /**
   * How often to reload while the plugin is in a transitional state
   * (installing, starting, stopping, ...) or any of its operations is queued
   * or running. Defaults to 2000 ms.
   */
  pollIntervalMs?: number;
}

const PluginLifecycleView = (props: {
  pluginId: string;
  entityRef: string;
  pollIntervalMs: number;
}) => {
  const { pluginId, entityRef, pollIntervalMs } = props;
  const { value, error, polling, refresh } = usePluginLifecycle(
    pluginId,
    pollIntervalMs,
  );
  const action = useLifecycleAction(pluginId, { entityRef, onDone: refresh });
  const may = usePluginPermissions(pluginId);

  if (error) {
    return <ResponseErrorPanel error={error} />;
  }
  if (!value) {
    return <Progress />;
  }

  const actionError = action.error && (
    <WarningPanel
      severity="error"
      title={failureTitle(action.lastAction)}
      message={describeError(action.error)}
      defaultExpanded
    />
  );

  if (!value.details) {
    return (
      <>
        {actionError}
        <EmptyState
          missing="data"
          title="Not installed yet"
          description={`The plugin "${pluginId}" has never been installed. Enter a version to install it.`}
          action={
            // Not gated on the permission: for a plugin that does not exist
            // yet, only the backend can judge the install (the owners of
            // this entity may install it under a conditional policy).
            <InstallForm
              disabled={action.pending}
              onInstall={version => action.perform('install', version)}
            />
          }
        />
      </>
    );
  }

  const { details, history, operations } = value;
  return (
    <Grid container spacing={3}>
      <Grid item xs={12}>
        <LifecycleSummaryCard
          pluginId={pluginId}
          details={details}
          polling={polling}
          onRefresh={refresh}
        >
          {actionError}
          <LifecycleActions
            available={details.availableActions}
            currentVersion={details.currentVersion}
            disabled={action.pending || polling}
            isAllowed={may.allows}
            onAction={action.perform}
          />
        </LifecycleSummaryCard>
      </Grid>
      <Grid item xs={12}>
        <InstancesTable instances={details.instances} />
      </Grid>
      <Grid item xs={12}>
        <OperationsTable
          operations={operations}
          disabled={action.pending}
          onCancel={action.cancel}
        />
      </Grid>
      <Grid item xs={12}>
        <HistoryTable history={history} />
      </Grid>
    </Grid>
  );
};

/**
 * The lifecycle tab of a catalog entity that is annotated with
 * `plugin-lifecycle.backstage.io/plugin-id`: the state, versions, instances,
 * operations and history of the managed plugin, and buttons for its lifecycle
 * actions and for cancelling its queued operations.
 *
 * @public
 */
export const EntityLifecycleContent = (props: EntityLifecycleContentProps) => {
  const { entity } = useEntity();
  const pluginId = entity.metadata.annotations?.[PLUGIN_ID_ANNOTATION];

  if (!pluginId) {
    return <MissingAnnotationEmptyState annotation={PLUGIN_ID_ANNOTATION} />;
  }
  return (
    <PluginLifecycleView
      pluginId={pluginId}
      entityRef={stringifyEntityRef(entity)}
      pollIntervalMs={props.pollIntervalMs ?? 2000}
    />
  );
};
