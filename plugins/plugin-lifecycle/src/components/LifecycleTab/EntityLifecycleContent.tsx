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
import {
  Operation,
  PLUGIN_ID_ANNOTATION,
} from '@internal/plugin-lifecycle-common';
import { useCallback } from 'react';
import { HistoryTable } from './HistoryTable';
import { InstancesTable } from './InstancesTable';
import { LifecycleActions } from './LifecycleActions';
import { LifecycleSummaryCard } from './LifecycleSummaryCard';
import { OperationsTable } from './OperationsTable';
import { InstallForm, VersionChoices } from './VersionForm';
import { useConfirmation } from './ConfirmDialog';
import { lastErrorView } from './lastError';
import { rollbackCandidate } from './operationActions';
import { usePluginPermissions } from '../usePluginPermissions';
import {
  useAvailableVersions,
  versionsHint,
} from '../shared/useAvailableVersions';
import { describeError } from '../shared/describeError';
import {
  failureTitle,
  targetVersion,
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
   * @deprecated Ignored: the tab reloads on the plugin's signals and polls
   * with back-off without them (see `useLiveRefresh`).
   */
  pollIntervalMs?: number;
}

const PluginLifecycleView = (props: {
  pluginId: string;
  entityRef: string;
}) => {
  const { pluginId, entityRef } = props;
  const { value, error, busy, refresh } = usePluginLifecycle(pluginId);
  const available = useAvailableVersions(pluginId, {
    // Once the plugin is read; again when its version changes.
    skip: !value,
    key: value?.details?.currentVersion,
  });
  const onDone = useCallback(() => refresh(), [refresh]);
  const action = useLifecycleAction(pluginId, { entityRef, onDone });
  const may = usePluginPermissions(pluginId);
  const { confirm, dialog } = useConfirmation();
  const { allows } = may;
  // Cancelling needs the permission of the operation's own action. Stable
  // across renders: the table draws its cells anew when its columns change.
  const canCancel = useCallback(
    (operation: Operation) => allows(operation.type),
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [may.operate, may.deploy, may.configure],
  );

  if (error) {
    return <ResponseErrorPanel error={error} />;
  }
  if (!value) {
    return <Progress />;
  }

  const choices: VersionChoices = {
    versions: available.versions,
    loading: available.loading,
    hint: versionsHint(available.versions, available.error),
  };
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
          description={`The plugin "${pluginId}" has never been installed. Choose or enter a version to install it.`}
          action={
            // Not gated on the permission: for a plugin that does not exist
            // yet, only the backend can judge the install (the owners of
            // this entity may install it under a conditional policy).
            <InstallForm
              disabled={action.pending}
              onInstall={(version, options) =>
                action.perform('install', version, options)
              }
              {...choices}
            />
          }
        />
      </>
    );
  }

  const { details, history, operations } = value;
  const candidate = rollbackCandidate(operations, details.currentVersion);
  return (
    <Grid container spacing={3}>
      {dialog}
      <Grid item xs={12}>
        <LifecycleSummaryCard
          pluginId={pluginId}
          details={details}
          busy={busy}
          targetVersion={targetVersion(operations)}
          lastError={lastErrorView(details, history, operations)}
          onRefresh={refresh}
        >
          {actionError}
          <LifecycleActions
            pluginId={pluginId}
            available={details.availableActions}
            currentVersion={details.currentVersion}
            choices={choices}
            disabled={action.pending || busy}
            isAllowed={may.allows}
            onAction={action.perform}
            confirm={confirm}
          />
        </LifecycleSummaryCard>
      </Grid>
      <Grid item xs={12}>
        <InstancesTable
          instances={details.instances}
          endedInstances={details.endedInstances}
        />
      </Grid>
      <Grid item xs={12}>
        <OperationsTable
          operations={operations}
          disabled={action.pending}
          canCancel={canCancel}
          onCancel={action.cancel}
          rollbackId={candidate?.id}
          // Rolling back is an update: it needs deploy, and an idle plugin.
          rollbackAllowed={
            may.deploy && details.availableActions.includes('update')
          }
          onRollback={action.rollback}
          confirm={confirm}
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
 * operations and history of the managed plugin, kept current by signals (or
 * polling without them), with its lifecycle actions (the disruptive ones
 * confirmed), the versions its artifact source offers, the cancel of queued
 * operations and the rollback of its last update.
 *
 * @public
 */
export const EntityLifecycleContent = (
  _props: EntityLifecycleContentProps = {},
) => {
  const { entity } = useEntity();
  const pluginId = entity.metadata.annotations?.[PLUGIN_ID_ANNOTATION];

  if (!pluginId) {
    return <MissingAnnotationEmptyState annotation={PLUGIN_ID_ANNOTATION} />;
  }
  return (
    <PluginLifecycleView
      pluginId={pluginId}
      entityRef={stringifyEntityRef(entity)}
    />
  );
};
