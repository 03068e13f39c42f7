import { useMemo, useState } from 'react';
import Button from '@material-ui/core/Button';
import Typography from '@material-ui/core/Typography';
import { makeStyles } from '@material-ui/core/styles';
import {
  Content,
  ContentHeader,
  EmptyState,
  Header,
  Page,
  Progress,
  ResponseErrorPanel,
  WarningPanel,
} from '@backstage/core-components';
import { LIFECYCLE_STATES } from '@internal/plugin-lifecycle-common';
import { describeError } from '../shared/describeError';
import { FleetFilters } from './FleetFilters';
import { FleetTable } from './FleetTable';
import {
  FleetFilter,
  FleetHealth,
  FleetRow,
  FleetState,
  filterFleetRows,
} from './fleetRows';
import { useFleet } from './useFleet';

const useStyles = makeStyles(theme => ({
  live: { marginRight: theme.spacing(2) },
}));

/** The order health verdicts are offered in: worst first. */
const HEALTH_ORDER: FleetHealth[] = [
  'down',
  'unhealthy',
  'flapping',
  'degrading',
  'starting',
  'healthy',
  'unknown',
  'none',
];

/** The states and verdicts present, in a stable order, for the filters. */
function presentValues(rows: FleetRow[]) {
  const states = new Set(rows.map(r => r.state));
  const healths = new Set(rows.map(r => r.health));
  return {
    states: [...LIFECYCLE_STATES, 'not-installed' as const].filter(s =>
      states.has(s),
    ) as FleetState[],
    healths: HEALTH_ORDER.filter(h => healths.has(h)),
  };
}

/**
 * What the fleet page shows inside the app's page frame: every managed
 * plugin with its state, version, health, active rollout and owner,
 * filtered by state and health and searched by name, kept current live.
 *
 * @public
 */
export const PluginLifecycleFleetContent = () => {
  const classes = useStyles();
  const { rows, error, refresh, mode } = useFleet();
  const [filter, setFilter] = useState<FleetFilter>({});
  const present = useMemo(() => presentValues(rows ?? []), [rows]);
  const shown = useMemo(
    () => filterFleetRows(rows ?? [], filter),
    [rows, filter],
  );

  if (!rows) {
    return error ? <ResponseErrorPanel error={error} /> : <Progress />;
  }

  return (
    <>
      <ContentHeader title="Managed plugins">
        <Typography
          variant="caption"
          color="textSecondary"
          className={classes.live}
          data-testid="fleet-live-mode"
        >
          {mode === 'signals' ? 'Live' : 'Refreshing every few seconds'}
        </Typography>
        <Button size="small" variant="outlined" onClick={refresh}>
          Refresh
        </Button>
      </ContentHeader>
      {error ? (
        <WarningPanel
          severity="warning"
          title="Could not reload the fleet; showing what was last loaded"
          message={describeError(error)}
        />
      ) : null}
      {rows.length === 0 ? (
        <EmptyState
          missing="data"
          title="No managed plugins"
          description="Install a plugin from its entity's Lifecycle tab, or annotate a catalog entity with plugin-lifecycle.backstage.io/plugin-id."
        />
      ) : (
        <>
          <FleetFilters
            filter={filter}
            onChange={setFilter}
            states={present.states}
            healths={present.healths}
          />
          <FleetTable
            rows={shown}
            title={`${shown.length} of ${rows.length} plugins`}
          />
        </>
      )}
    </>
  );
};

/**
 * The fleet page for apps on the legacy frontend system: every managed
 * plugin in one table, in a page of its own (mount it on a route such as
 * `/plugin-lifecycle` and add a sidebar item).
 *
 * @public
 */
export const PluginLifecycleFleetPage = () => (
  <Page themeId="tool">
    <Header
      title="Plugin fleet"
      subtitle="Every managed plugin: state, health and rollouts"
    />
    <Content>
      <PluginLifecycleFleetContent />
    </Content>
  </Page>
);
