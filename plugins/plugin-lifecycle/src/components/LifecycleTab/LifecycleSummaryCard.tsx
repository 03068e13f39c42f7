import { ReactNode } from 'react';
import Button from '@material-ui/core/Button';
import Typography from '@material-ui/core/Typography';
import { makeStyles } from '@material-ui/core/styles';
import { InfoCard, WarningPanel } from '@backstage/core-components';
import { PluginDetails } from '@internal/plugin-lifecycle-common';
import { RelativeTime } from '../shared/RelativeTime';
import { LifecycleStateChip } from './LifecycleStateChip';
import { LastErrorView } from './lastError';
import { Fact } from '../shared/Fact';

const useStyles = makeStyles(theme => ({
  facts: {
    display: 'grid',
    gridTemplateColumns: 'max-content auto',
    columnGap: theme.spacing(2),
    rowGap: theme.spacing(1),
    alignItems: 'center',
    marginBottom: theme.spacing(2),
  },
  section: {
    marginTop: theme.spacing(2),
  },
}));

/** Props of {@link LifecycleSummaryCard}. */
export interface LifecycleSummaryCardProps {
  pluginId: string;
  /** Undefined when the plugin has never been installed. */
  details?: PluginDetails;
  /** Something is under way (a transitional state or a pending operation). */
  busy: boolean;
  /** The version an update under way moves to. */
  targetVersion?: string;
  /** The last error, as the tab shows it (none when it is outdated). */
  lastError?: LastErrorView;
  onRefresh: () => void;
  /** The action buttons and any error they reported. */
  children?: ReactNode;
}

/** The state, version and last error of a plugin, with its actions. */
export const LifecycleSummaryCard = ({
  pluginId,
  details,
  busy,
  targetVersion,
  lastError,
  onRefresh,
  children,
}: LifecycleSummaryCardProps) => {
  const classes = useStyles();

  return (
    <InfoCard
      title="Plugin lifecycle"
      subheader={pluginId}
      action={
        <Button size="small" onClick={onRefresh}>
          {busy ? 'Following… Refresh' : 'Refresh'}
        </Button>
      }
    >
      <div className={classes.facts}>
        <Fact label="State">
          <LifecycleStateChip state={details?.state ?? 'not-installed'} />
        </Fact>
        <Fact label="Version" testId="lifecycle-version">
          {details?.currentVersion ?? '—'}
        </Fact>
        {targetVersion && (
          <Fact label="Updating to" testId="lifecycle-target-version">
            {targetVersion}
          </Fact>
        )}
        {details && (
          <>
            <Fact label="Runtime">{details.runtime}</Fact>
            <Fact label="Replicas" testId="lifecycle-replicas">
              {details.replicas}
            </Fact>
            <Fact label="Changed">
              <RelativeTime value={details.updatedAt} />
            </Fact>
          </>
        )}
      </div>
      {lastError && (
        <div data-testid="lifecycle-last-error">
          <WarningPanel
            severity={lastError.severity}
            title={
              lastError.severity === 'error'
                ? 'Last error'
                : `Last error (the plugin is ${details?.state} now)`
            }
            message={
              <>
                {lastError.message}
                {lastError.at && (
                  <Typography
                    variant="caption"
                    component="div"
                    color="textSecondary"
                  >
                    Recorded <RelativeTime value={lastError.at} />
                  </Typography>
                )}
              </>
            }
            defaultExpanded={lastError.severity === 'error'}
          />
        </div>
      )}
      <div className={classes.section}>{children}</div>
    </InfoCard>
  );
};
