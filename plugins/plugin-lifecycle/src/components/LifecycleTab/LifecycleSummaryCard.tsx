import { ReactNode } from 'react';
import Button from '@material-ui/core/Button';
import Typography from '@material-ui/core/Typography';
import { makeStyles } from '@material-ui/core/styles';
import { InfoCard, WarningPanel } from '@backstage/core-components';
import { PluginDetails } from '@internal/plugin-lifecycle-common';
import { LifecycleStateChip } from './LifecycleStateChip';

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

const Fact = ({
  label,
  testId,
  children,
}: {
  label: string;
  testId?: string;
  children: ReactNode;
}) => (
  <>
    <Typography variant="body2" color="textSecondary">
      {label}
    </Typography>
    <Typography variant="body2" component="div" data-testid={testId}>
      {children}
    </Typography>
  </>
);

/** Props of {@link LifecycleSummaryCard}. */
export interface LifecycleSummaryCardProps {
  pluginId: string;
  /** Undefined when the plugin has never been installed. */
  details?: PluginDetails;
  /** Whether the tab reloads by itself (a transitional state or an operation under way). */
  polling: boolean;
  onRefresh: () => void;
  /** The action buttons and any error they reported. */
  children?: ReactNode;
}

/** The state, version and last error of a plugin, with its actions. */
export const LifecycleSummaryCard = ({
  pluginId,
  details,
  polling,
  onRefresh,
  children,
}: LifecycleSummaryCardProps) => {
  const classes = useStyles();

  return (
    <InfoCard
      title="Lifecycle"
      subheader={pluginId}
      action={
        <Button size="small" onClick={onRefresh} disabled={polling}>
          {polling ? 'Following…' : 'Refresh'}
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
        {details && (
          <>
            <Fact label="Runtime">{details.runtime}</Fact>
            <Fact label="Replicas">{details.replicas}</Fact>
          </>
        )}
      </div>
      {details?.lastError && (
        <WarningPanel
          severity="error"
          title="Last error"
          message={details.lastError}
          defaultExpanded
        />
      )}
      <div className={classes.section}>{children}</div>
    </InfoCard>
  );
};
