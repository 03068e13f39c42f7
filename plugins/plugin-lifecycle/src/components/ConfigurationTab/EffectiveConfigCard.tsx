import { ReactNode, useMemo } from 'react';
import Button from '@material-ui/core/Button';
import Typography from '@material-ui/core/Typography';
import { makeStyles } from '@material-ui/core/styles';
import { InfoCard, Table, TableColumn } from '@backstage/core-components';
import {
  EffectiveConfigEntry,
  EffectiveConfiguration,
} from '@internal/plugin-lifecycle-common';
import { ConfigValue } from './ConfigValue';

const useStyles = makeStyles(theme => ({
  facts: {
    display: 'flex',
    flexWrap: 'wrap',
    gap: theme.spacing(4),
    marginBottom: theme.spacing(2),
  },
  key: {
    fontFamily: 'monospace',
    // A key is read whole: at 800 px it collapsed to a letter a line.
    whiteSpace: 'nowrap',
  },
  table: {
    overflowX: 'auto',
  },
}));

/** "v3", or "none" for a layer without a version yet. */
export function formatVersion(version: number): string {
  return version > 0 ? `v${version}` : 'none';
}

const Fact = (props: {
  label: string;
  testId: string;
  children: ReactNode;
}) => (
  <div>
    <Typography variant="body2" color="textSecondary">
      {props.label}
    </Typography>
    <Typography variant="body1" data-testid={props.testId}>
      {props.children}
    </Typography>
  </div>
);

function makeColumns(keyClass: string): TableColumn<EffectiveConfigEntry>[] {
  return [
    {
      title: 'Key',
      field: 'key',
      render: entry => <span className={keyClass}>{entry.key}</span>,
    },
    {
      title: 'Value',
      width: '30%',
      cellStyle: { minWidth: 180 },
      render: entry => <ConfigValue entry={entry} />,
    },
    { title: 'Type', field: 'type' },
    {
      title: 'From layer',
      cellStyle: { whiteSpace: 'nowrap' },
      render: entry => (
        <span data-testid="config-source">
          {entry.source.layer} {formatVersion(entry.source.version)}
        </span>
      ),
    },
    {
      title: 'Description',
      cellStyle: { minWidth: 160 },
      render: entry => entry.description ?? '',
    },
  ];
}

/** Props of {@link EffectiveConfigCard}. */
export interface EffectiveConfigCardProps {
  configuration: EffectiveConfiguration;
  onRefresh: () => void;
  /** Whether secret values are shown in plaintext. */
  revealed?: boolean;
  /** Shows or hides secret values; no button without it (no reveal permission). */
  onReveal?: (reveal: boolean) => void;
}

/**
 * The configuration a plugin runs with in one environment, with the layer
 * and version each value comes from.
 */
export const EffectiveConfigCard = ({
  configuration,
  onRefresh,
  revealed = false,
  onReveal,
}: EffectiveConfigCardProps) => {
  const classes = useStyles();
  const columns = useMemo(() => makeColumns(classes.key), [classes.key]);
  const { entries } = configuration;

  return (
    <InfoCard
      title="Effective configuration"
      subheader={`${configuration.pluginId} in ${configuration.environment}`}
      action={
        <>
          {onReveal && (
            <Button size="small" onClick={() => onReveal(!revealed)}>
              {revealed ? 'Hide secrets' : 'Show secrets'}
            </Button>
          )}
          <Button size="small" onClick={onRefresh}>
            Refresh
          </Button>
        </>
      }
    >
      <div className={classes.facts}>
        <Fact
          label={`${configuration.environment} version`}
          testId="config-environment-version"
        >
          {formatVersion(configuration.version)}
        </Fact>
        <Fact label="base version" testId="config-base-version">
          {formatVersion(configuration.baseVersion)}
        </Fact>
        <Fact label="Revision" testId="config-revision">
          {configuration.revision}
        </Fact>
      </div>
      <div data-testid="effective-config-table" className={classes.table}>
        <Table<EffectiveConfigEntry>
          columns={columns}
          data={entries}
          options={{
            toolbar: false,
            paging: entries.length > 50,
            pageSize: 50,
            search: false,
            padding: 'dense',
          }}
          emptyContent={
            <div style={{ padding: 16 }}>
              No configuration in this environment yet.
            </div>
          }
        />
      </div>
    </InfoCard>
  );
};
