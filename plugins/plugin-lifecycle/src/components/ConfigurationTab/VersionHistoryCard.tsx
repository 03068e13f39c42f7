import { useState } from 'react';
import Button from '@material-ui/core/Button';
import Checkbox from '@material-ui/core/Checkbox';
import Chip from '@material-ui/core/Chip';
import Table from '@material-ui/core/Table';
import TableBody from '@material-ui/core/TableBody';
import TableCell from '@material-ui/core/TableCell';
import TableHead from '@material-ui/core/TableHead';
import TableRow from '@material-ui/core/TableRow';
import Typography from '@material-ui/core/Typography';
import { makeStyles } from '@material-ui/core/styles';
import { InfoCard, WarningPanel } from '@backstage/core-components';
import { useApi } from '@backstage/frontend-plugin-api';
import {
  ConfigVersionSummary,
  ConfigWriteResult,
} from '@internal/plugin-lifecycle-common';
import { pluginLifecycleApiRef } from '../../api';
import { RelativeTime } from '../shared/RelativeTime';
import { ApplyStatus } from './ApplyStatus';
import { ConfigDiffPanel } from './ConfigDiffView';
import { RollbackDialog } from './RollbackDialog';
import { ConfigLayerData, describeWriteFailure } from './useConfiguration';

const useStyles = makeStyles(theme => ({
  table: {
    overflowX: 'auto',
    marginBottom: theme.spacing(2),
  },
  version: {
    display: 'flex',
    alignItems: 'center',
    gap: theme.spacing(1),
  },
  // Short columns never wrap: at 800 px they squeezed to one character a line.
  nowrap: {
    whiteSpace: 'nowrap',
  },
  description: {
    minWidth: 200,
  },
}));

/**
 * The author of the version the configure operation writes when running
 * instances could not take a change (its description says why).
 */
export const AUTOMATIC_ROLLBACK_AUTHOR = 'plugin-lifecycle:configure';

type Outcome =
  | { rolledBack: ConfigWriteResult; toVersion: number }
  | { failed: ReturnType<typeof describeWriteFailure> };

/** The two versions last ticked for comparison, oldest first. */
function toggle(selected: number[], version: number): number[] {
  if (selected.includes(version)) {
    return selected.filter(v => v !== version);
  }
  return [...selected, version].slice(-2);
}

/** Whether the server wrote this version to undo a change instances refused. */
function isAutomaticRollback(v: ConfigVersionSummary): boolean {
  return (
    v.rolledBackFrom !== undefined && v.author === AUTOMATIC_ROLLBACK_AUTHOR
  );
}

const VersionRow = (props: {
  version: ConfigVersionSummary;
  latest: boolean;
  /** The server undid this version (the next one is its automatic rollback). */
  refused: boolean;
  compared: boolean;
  busy: boolean;
  onCompare: () => void;
  onRollback: () => void;
}) => {
  const classes = useStyles();
  const { version: v } = props;
  const automatic = isAutomaticRollback(v);
  return (
    <TableRow data-testid={`config-version-${v.version}`}>
      <TableCell padding="checkbox">
        <Checkbox
          checked={props.compared}
          inputProps={{ 'aria-label': `Compare v${v.version}` }}
          onChange={props.onCompare}
        />
      </TableCell>
      <TableCell className={classes.nowrap}>
        <span className={classes.version}>
          v{v.version}
          {props.latest && <Chip size="small" label="latest" />}
        </span>
        {v.rolledBackFrom !== undefined && (
          <Typography variant="caption" color="textSecondary">
            rollback of v{v.rolledBackFrom}
          </Typography>
        )}
        {automatic && (
          <div>
            <Chip
              size="small"
              variant="outlined"
              label="automatic rollback"
              data-testid="config-version-automatic-rollback"
            />
          </div>
        )}
        {props.refused && (
          <div>
            <Chip
              size="small"
              color="secondary"
              label="rolled back by the server"
              data-testid="config-version-refused"
            />
          </div>
        )}
      </TableCell>
      <TableCell className={classes.nowrap}>{v.author ?? ''}</TableCell>
      <TableCell className={classes.nowrap}>
        <RelativeTime value={v.createdAt} />
      </TableCell>
      <TableCell className={classes.description}>
        {v.description ?? ''}
      </TableCell>
      <TableCell>{v.entryCount}</TableCell>
      <TableCell className={classes.nowrap}>
        {!props.latest && (
          <Button
            size="small"
            variant="outlined"
            disabled={props.busy}
            onClick={props.onRollback}
          >
            Roll back to v{v.version}
          </Button>
        )}
      </TableCell>
    </TableRow>
  );
};

/** Props of {@link VersionHistoryCard}. */
export interface VersionHistoryCardProps {
  pluginId: string;
  data: ConfigLayerData;
  /** Reloads the layer and the effective configuration. */
  onChanged: () => void;
  /** Rollbacks disabled: the user may not configure the plugin. */
  readOnly?: boolean;
}

/**
 * The versions of one layer, newest first, with a diff of any two of them
 * and a rollback to any earlier one.
 */
export const VersionHistoryCard = ({
  pluginId,
  data,
  onChanged,
  readOnly = false,
}: VersionHistoryCardProps) => {
  const classes = useStyles();
  const api = useApi(pluginLifecycleApiRef);
  const { layer, versions } = data;
  const latestVersion = versions[0]?.version ?? 0;
  const [compared, setCompared] = useState<number[]>([]);
  const [rollback, setRollback] = useState({ open: false, toVersion: 0 });
  const [busy, setBusy] = useState(false);
  const [outcome, setOutcome] = useState<Outcome>();

  const rollBack = async (toVersion: number) => {
    setRollback(r => ({ ...r, open: false }));
    setBusy(true);
    setOutcome(undefined);
    try {
      const rolledBack = await api.rollbackConfiguration(pluginId, layer, {
        toVersion,
        expectedVersion: latestVersion,
      });
      setOutcome({ rolledBack, toVersion });
      if (rolledBack.changed !== false) {
        onChanged();
      }
    } catch (e) {
      setOutcome({ failed: describeWriteFailure(e as Error, 'roll back') });
    } finally {
      setBusy(false);
    }
  };

  const [from, to] = [...compared].sort((a, b) => a - b);
  // The server's automatic rollback follows the version it undid.
  const refused = new Set(
    versions.filter(isAutomaticRollback).map(v => v.version - 1),
  );

  return (
    <InfoCard title={`Version history: ${layer}`}>
      {outcome && 'rolledBack' in outcome && (
        <Typography
          variant="body2"
          color="primary"
          paragraph
          data-testid="config-rollback-result"
        >
          {outcome.rolledBack.changed === false
            ? `No change: ${layer} v${outcome.rolledBack.version.version} already has the content of v${outcome.toVersion}.`
            : `Rolled ${layer} back to v${outcome.toVersion} as v${outcome.rolledBack.version.version}.`}
        </Typography>
      )}
      {outcome && 'rolledBack' in outcome && outcome.rolledBack.operationId && (
        <ApplyStatus
          pluginId={pluginId}
          layer={layer}
          version={outcome.rolledBack.version.version}
          operationId={outcome.rolledBack.operationId}
          latestVersion={latestVersion}
          onEnded={onChanged}
        />
      )}
      {outcome && 'failed' in outcome && (
        <div data-testid="config-rollback-error">
          <WarningPanel
            severity="error"
            title={outcome.failed.title}
            message={outcome.failed.message}
            defaultExpanded
          />
        </div>
      )}
      <div className={classes.table}>
        <Table size="small" aria-label={`Versions of ${layer}`}>
          <TableHead>
            <TableRow>
              <TableCell padding="checkbox" className={classes.nowrap}>
                Compare
              </TableCell>
              <TableCell className={classes.nowrap}>Version</TableCell>
              <TableCell className={classes.nowrap}>Author</TableCell>
              <TableCell className={classes.nowrap}>Time</TableCell>
              <TableCell>Description</TableCell>
              <TableCell className={classes.nowrap}>Entries</TableCell>
              <TableCell />
            </TableRow>
          </TableHead>
          <TableBody>
            {versions.map(version => (
              <VersionRow
                key={version.version}
                version={version}
                latest={version.version === latestVersion}
                refused={refused.has(version.version)}
                compared={compared.includes(version.version)}
                busy={busy || readOnly}
                onCompare={() => setCompared(c => toggle(c, version.version))}
                onRollback={() =>
                  setRollback({ open: true, toVersion: version.version })
                }
              />
            ))}
            {versions.length === 0 && (
              <TableRow>
                <TableCell colSpan={7}>
                  <Typography variant="body2" color="textSecondary">
                    The {layer} layer has no versions yet.
                  </Typography>
                </TableCell>
              </TableRow>
            )}
          </TableBody>
        </Table>
      </div>
      {to === undefined ? (
        versions.length > 1 && (
          <Typography variant="body2" color="textSecondary">
            Tick two versions to compare them.
          </Typography>
        )
      ) : (
        <ConfigDiffPanel
          pluginId={pluginId}
          layer={layer}
          from={from}
          to={to}
        />
      )}
      <RollbackDialog
        layer={layer}
        open={rollback.open}
        toVersion={rollback.toVersion}
        latestVersion={latestVersion}
        onConfirm={rollBack}
        onCancel={() => setRollback(r => ({ ...r, open: false }))}
      />
    </InfoCard>
  );
};
