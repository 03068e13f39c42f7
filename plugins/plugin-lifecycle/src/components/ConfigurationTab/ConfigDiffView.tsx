import { ReactNode } from 'react';
import Chip from '@material-ui/core/Chip';
import Typography from '@material-ui/core/Typography';
import { makeStyles } from '@material-ui/core/styles';
import { Progress, ResponseErrorPanel } from '@backstage/core-components';
import { ConfigDiff } from '@internal/plugin-lifecycle-common';
import { ConfigValue } from './ConfigValue';
import { useConfigDiff } from './useConfiguration';

const useStyles = makeStyles(theme => ({
  list: {
    listStyle: 'none',
    margin: 0,
    padding: 0,
  },
  item: {
    display: 'flex',
    flexWrap: 'wrap',
    alignItems: 'center',
    gap: theme.spacing(1),
    padding: theme.spacing(0.5, 0),
  },
  key: {
    fontFamily: 'monospace',
    fontWeight: theme.typography.fontWeightBold as number,
  },
}));

type Kind = 'added' | 'removed' | 'changed';

const DiffItem = (props: {
  kind: Kind;
  entryKey: string;
  children: ReactNode;
}) => {
  const classes = useStyles();
  return (
    <li className={classes.item} data-testid={`config-diff-${props.kind}`}>
      <Chip size="small" label={props.kind} />
      <span className={classes.key} data-testid="config-diff-key">
        {props.entryKey}
      </span>
      {props.children}
    </li>
  );
};

/** Props of {@link ConfigDiffView}. */
export interface ConfigDiffViewProps {
  diff: ConfigDiff;
}

/**
 * The keys added, removed and changed between two versions of a layer, with
 * their values (secrets as the API masks them).
 */
export const ConfigDiffView = ({ diff }: ConfigDiffViewProps) => {
  const classes = useStyles();
  const empty =
    diff.added.length + diff.removed.length + diff.changed.length === 0;

  return (
    <div data-testid="config-diff">
      <Typography variant="subtitle2" gutterBottom>
        Changes from v{diff.from} to v{diff.to}
      </Typography>
      {empty ? (
        <Typography variant="body2" color="textSecondary">
          No differences.
        </Typography>
      ) : (
        <ul className={classes.list}>
          {diff.added.map(entry => (
            <DiffItem key={`+${entry.key}`} kind="added" entryKey={entry.key}>
              = <ConfigValue entry={entry} />
            </DiffItem>
          ))}
          {diff.removed.map(entry => (
            <DiffItem key={`-${entry.key}`} kind="removed" entryKey={entry.key}>
              (was <ConfigValue entry={entry} />)
            </DiffItem>
          ))}
          {diff.changed.map(change => (
            <DiffItem
              key={`~${change.key}`}
              kind="changed"
              entryKey={change.key}
            >
              <Typography variant="caption" color="textSecondary">
                {change.fields.join(', ')}:
              </Typography>
              <ConfigValue entry={change.from} />→
              <ConfigValue entry={change.to} />
            </DiffItem>
          ))}
        </ul>
      )}
    </div>
  );
};

/** Props of {@link ConfigDiffPanel}. */
export interface ConfigDiffPanelProps {
  pluginId: string;
  layer: string;
  from: number;
  to: number;
}

/** Loads and shows what changed in a layer between two versions. */
export const ConfigDiffPanel = (props: ConfigDiffPanelProps) => {
  const { value, loading, error } = useConfigDiff(
    props.pluginId,
    props.layer,
    props.from,
    props.to,
  );
  if (error) {
    return <ResponseErrorPanel error={error} />;
  }
  if (loading || !value) {
    return <Progress />;
  }
  return <ConfigDiffView diff={value} />;
};
