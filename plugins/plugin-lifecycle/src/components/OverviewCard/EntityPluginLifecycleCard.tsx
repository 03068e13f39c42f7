import Typography from '@material-ui/core/Typography';
import { makeStyles } from '@material-ui/core/styles';
import {
  InfoCard,
  Link,
  Progress,
  WarningPanel,
} from '@backstage/core-components';
import { useEntity, useEntityRefLink } from '@backstage/plugin-catalog-react';
import { PLUGIN_ID_ANNOTATION } from '@internal/plugin-lifecycle-common';
import { LifecycleStateChip } from '../LifecycleTab/LifecycleStateChip';
import { describeError } from '../shared/describeError';
import { VerdictLabel } from '../HealthTab/HealthStatus';
import { RolloutSummary } from '../FleetPage/RolloutSummary';
import { usePluginOverview } from './usePluginOverview';
import { Fact } from '../shared/Fact';

const useStyles = makeStyles(theme => ({
  facts: {
    display: 'grid',
    gridTemplateColumns: 'max-content minmax(0, 1fr)',
    columnGap: theme.spacing(2),
    rowGap: theme.spacing(1),
    alignItems: 'center',
  },
  links: {
    display: 'flex',
    flexWrap: 'wrap',
    gap: theme.spacing(2),
    marginTop: theme.spacing(2),
  },
}));

/** The entity tabs of the plugin the card links to, by path. */
export const OVERVIEW_LINKS = [
  { path: 'lifecycle', title: 'Lifecycle' },
  { path: 'health', title: 'Health' },
  { path: 'deployments', title: 'Deployments' },
  { path: 'configuration', title: 'Configuration' },
] as const;

const OverviewFacts = ({ pluginId }: { pluginId: string }) => {
  const classes = useStyles();
  const { overview, error } = usePluginOverview(pluginId);

  if (!overview) {
    return error ? (
      <WarningPanel
        severity="error"
        title="Could not load the plugin"
        message={describeError(error)}
      />
    ) : (
      <Progress />
    );
  }
  const { details, verdict, deployment } = overview;
  return (
    <>
      {error ? (
        <WarningPanel
          severity="warning"
          title="Could not reload; showing what was last loaded"
          message={describeError(error)}
        />
      ) : null}
      <div className={classes.facts}>
        <Fact label="Plugin">{pluginId}</Fact>
        <Fact label="State">
          <LifecycleStateChip state={details?.state ?? 'not-installed'} />
        </Fact>
        <Fact label="Version" testId="overview-version">
          {details?.currentVersion ?? '-'}
        </Fact>
        <Fact label="Health">
          {verdict ? (
            <VerdictLabel verdict={verdict} testId="overview-health" />
          ) : (
            <span data-testid="overview-health">-</span>
          )}
        </Fact>
        <Fact label="Rollout" testId="overview-rollout">
          {deployment ? <RolloutSummary deployment={deployment} /> : 'none'}
        </Fact>
      </div>
      {details ? null : (
        <Typography variant="body2" color="textSecondary">
          Not installed yet: install it from the Lifecycle tab.
        </Typography>
      )}
    </>
  );
};

/**
 * A card for an entity's Overview tab: the state, version and health of
 * the managed plugin the entity is annotated with, and its active
 * rollout, with links to the plugin's tabs.
 *
 * @public
 */
export const EntityPluginLifecycleCard = () => {
  const classes = useStyles();
  const { entity } = useEntity();
  const entityLink = useEntityRefLink();
  const pluginId = entity.metadata.annotations?.[PLUGIN_ID_ANNOTATION];
  const base = entityLink(entity);

  return (
    <InfoCard title="Managed plugin" variant="gridItem">
      <div data-testid="plugin-lifecycle-overview">
        {pluginId ? (
          <OverviewFacts pluginId={pluginId} />
        ) : (
          <Typography variant="body2">
            This entity has no {PLUGIN_ID_ANNOTATION} annotation.
          </Typography>
        )}
        {pluginId ? (
          <nav className={classes.links} aria-label="Plugin tabs">
            {OVERVIEW_LINKS.map(link => (
              <Link key={link.path} to={`${base}/${link.path}`}>
                {link.title}
              </Link>
            ))}
          </nav>
        ) : null}
      </div>
    </InfoCard>
  );
};
