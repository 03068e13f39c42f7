import { useState } from 'react';
import Grid from '@material-ui/core/Grid';
import { makeStyles } from '@material-ui/core/styles';
import {
  EmptyState,
  MissingAnnotationEmptyState,
  Progress,
  ResponseErrorPanel,
} from '@backstage/core-components';
import { useEntity } from '@backstage/plugin-catalog-react';
import {
  CONFIG_BASE_LAYER,
  PLUGIN_ID_ANNOTATION,
} from '@internal/plugin-lifecycle-common';
import { isNotFoundError } from '../LifecycleTab/usePluginLifecycle';
import { usePluginPermissions } from '../usePluginPermissions';
import { EffectiveConfigCard } from './EffectiveConfigCard';
import { LabelledSelect } from './LabelledSelect';
import { LayerEditorCard } from './LayerEditorCard';
import { VersionHistoryCard } from './VersionHistoryCard';
import {
  useConfigEnvironments,
  useConfigLayer,
  useEffectiveConfiguration,
} from './useConfiguration';

const useStyles = makeStyles(theme => ({
  toolbar: {
    display: 'flex',
    flexWrap: 'wrap',
    gap: theme.spacing(3),
  },
}));

/** The effective configuration, the editor and the history of one layer. */
const ConfigurationPanels = (props: {
  pluginId: string;
  environment: string;
  layer: string;
}) => {
  const { pluginId, environment, layer } = props;
  const may = usePluginPermissions(pluginId);
  const [revealed, setRevealed] = useState(false);
  const effective = useEffectiveConfiguration(
    pluginId,
    environment,
    revealed && may.reveal,
  );
  const layerData = useConfigLayer(pluginId, layer);
  const { retry: retryEffective } = effective;
  const { retry: retryLayer } = layerData;
  const refresh = () => {
    retryEffective();
    retryLayer();
  };

  const error = effective.error ?? layerData.error;
  if (error && isNotFoundError(error)) {
    return (
      <EmptyState
        missing="data"
        title="Not installed yet"
        description={`The plugin "${pluginId}" has never been installed; its configuration can be edited once it is.`}
      />
    );
  }
  if (error) {
    return <ResponseErrorPanel error={error} />;
  }
  // While another environment or layer loads, the previous one's data is
  // still there: never show it under the new name.
  const configuration =
    effective.value?.environment === environment ? effective.value : undefined;
  const data = layerData.value?.layer === layer ? layerData.value : undefined;

  return (
    <>
      <Grid item xs={12}>
        {configuration ? (
          <EffectiveConfigCard
            configuration={configuration}
            onRefresh={refresh}
            revealed={revealed && may.reveal}
            onReveal={may.reveal ? setRevealed : undefined}
          />
        ) : (
          <Progress />
        )}
      </Grid>
      {data ? (
        <>
          <Grid item xs={12}>
            <LayerEditorCard
              key={layer}
              pluginId={pluginId}
              data={data}
              onChanged={refresh}
              readOnly={!may.configure}
            />
          </Grid>
          <Grid item xs={12}>
            <VersionHistoryCard
              key={layer}
              pluginId={pluginId}
              data={data}
              onChanged={refresh}
              readOnly={!may.configure}
            />
          </Grid>
        </>
      ) : (
        <Grid item xs={12}>
          <Progress />
        </Grid>
      )}
    </>
  );
};

const ConfigurationView = ({ pluginId }: { pluginId: string }) => {
  const classes = useStyles();
  const environments = useConfigEnvironments();
  const [chosen, setChosen] = useState<string>();
  const [editBase, setEditBase] = useState(false);

  if (environments.error) {
    return <ResponseErrorPanel error={environments.error} />;
  }
  if (!environments.value) {
    return <Progress />;
  }

  const environment = chosen ?? environments.value.defaultEnvironment;
  const layer = editBase ? CONFIG_BASE_LAYER : environment;
  const names = environments.value.environments.includes(environment)
    ? environments.value.environments
    : [environment, ...environments.value.environments];

  return (
    <Grid container spacing={3}>
      <Grid item xs={12} className={classes.toolbar}>
        <LabelledSelect
          id="plugin-lifecycle-config-environment"
          label="Environment"
          value={environment}
          options={names.map(name => ({ value: name, label: name }))}
          onChange={setChosen}
        />
        <LabelledSelect
          id="plugin-lifecycle-config-layer"
          label="Layer"
          value={layer}
          options={[
            {
              value: CONFIG_BASE_LAYER,
              label: `${CONFIG_BASE_LAYER} (all environments)`,
            },
            { value: environment, label: environment },
          ]}
          onChange={value => setEditBase(value === CONFIG_BASE_LAYER)}
        />
      </Grid>
      <ConfigurationPanels
        pluginId={pluginId}
        environment={environment}
        layer={layer}
      />
    </Grid>
  );
};

/**
 * The configuration tab of a catalog entity that is annotated with
 * `plugin-lifecycle.backstage.io/plugin-id`: the effective configuration of
 * the managed plugin in an environment, an editor for its base or
 * environment layer, and the versions of that layer with diffs and rollback.
 *
 * @public
 */
export const EntityConfigurationContent = () => {
  const { entity } = useEntity();
  const pluginId = entity.metadata.annotations?.[PLUGIN_ID_ANNOTATION];

  if (!pluginId) {
    return <MissingAnnotationEmptyState annotation={PLUGIN_ID_ANNOTATION} />;
  }
  return <ConfigurationView pluginId={pluginId} />;
};
