import { useMemo } from 'react';
import Typography from '@material-ui/core/Typography';
import { Link, Table, TableColumn } from '@backstage/core-components';
import {
  EntityRefLinks,
  useEntityRefLink,
} from '@backstage/plugin-catalog-react';
import { LifecycleStateChip } from '../LifecycleTab/LifecycleStateChip';
import { VerdictLabel } from '../HealthTab/HealthStatus';
import { RelativeTime } from '../shared/RelativeTime';
import { FleetRow } from './fleetRows';
import { RolloutSummary } from './RolloutSummary';

/** Props of {@link FleetTable}. */
export interface FleetTableProps {
  rows: FleetRow[];
  /** Shown as the table's title, e.g. "3 of 5 plugins". */
  title: string;
}

/** The plugin's id, linked to its entity's page when it has one. */
const PluginCell = ({ row }: { row: FleetRow }) => {
  const entityLink = useEntityRefLink();
  const title = row.entity?.metadata.title;
  return (
    <div data-testid="fleet-plugin">
      {row.entity ? (
        <Link to={entityLink(row.entity)} style={{ whiteSpace: 'nowrap' }}>
          {row.pluginId}
        </Link>
      ) : (
        <span style={{ whiteSpace: 'nowrap' }}>{row.pluginId}</span>
      )}
      {title && title !== row.pluginId ? (
        <Typography variant="caption" color="textSecondary" component="div">
          {title}
        </Typography>
      ) : null}
      {row.entity ? null : (
        <Typography variant="caption" color="textSecondary" component="div">
          no catalog entity
        </Typography>
      )}
    </div>
  );
};

/** Every managed plugin as a row: state, version, health, rollout, owner. */
export const FleetTable = ({ rows, title }: FleetTableProps) => {
  const columns = useMemo<TableColumn<FleetRow>[]>(
    () => [
      {
        title: 'Plugin',
        field: 'pluginId',
        highlight: true,
        render: row => <PluginCell row={row} />,
      },
      {
        title: 'State',
        field: 'state',
        render: row => (
          <span data-testid="fleet-state" data-state={row.state}>
            <LifecycleStateChip state={row.state} />
            {row.state === 'error' && row.lastError ? (
              // Why, whole (the cause comes last in a cluster's message),
              // where a plugin without a catalog entity has no other page
              // to say it (a crash loop, a refused grant).
              <Typography
                variant="caption"
                color="error"
                component="div"
                data-testid="fleet-last-error"
                style={{
                  minWidth: 220,
                  maxWidth: 340,
                  overflowWrap: 'anywhere',
                }}
              >
                {row.lastError}
              </Typography>
            ) : null}
          </span>
        ),
      },
      {
        title: 'Version',
        field: 'version',
        render: row => (
          <span data-testid="fleet-version">{row.version ?? '-'}</span>
        ),
      },
      {
        title: 'Health',
        field: 'health',
        render: row =>
          row.health === 'none' ? (
            <span data-testid="fleet-health">-</span>
          ) : (
            <VerdictLabel verdict={row.health} testId="fleet-health" />
          ),
      },
      {
        title: 'Rollout',
        render: row =>
          row.deployment ? (
            <RolloutSummary deployment={row.deployment} />
          ) : (
            <Typography variant="body2" color="textSecondary">
              none
            </Typography>
          ),
      },
      {
        title: 'Owner',
        render: row =>
          row.owners.length > 0 ? (
            <EntityRefLinks entityRefs={row.owners} defaultKind="group" />
          ) : (
            '-'
          ),
      },
      {
        title: 'Changed',
        field: 'updatedAt',
        render: row => (
          <span style={{ whiteSpace: 'nowrap' }}>
            <RelativeTime value={row.updatedAt} />
          </span>
        ),
      },
    ],
    [],
  );

  return (
    <div data-testid="fleet-table">
      <Table<FleetRow>
        title={title}
        columns={columns}
        data={rows}
        options={{
          search: false,
          paging: rows.length > 25,
          pageSize: 25,
          padding: 'dense',
        }}
        emptyContent={
          <Typography variant="body2" style={{ padding: 16 }}>
            No plugin matches the filters.
          </Typography>
        }
      />
    </div>
  );
};
