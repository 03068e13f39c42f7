import { ReactNode } from 'react';
import {
  StatusAborted,
  StatusError,
  StatusOK,
  StatusPending,
  StatusWarning,
} from '@backstage/core-components';
import { PluginHealth, ProbeHealth } from '@internal/plugin-lifecycle-common';
import { HealthTone, probeStatusText, probeTone, verdictTone } from './format';

/** Props of {@link ToneStatus}. */
export interface ToneStatusProps {
  tone: HealthTone;
  testId?: string;
  children: ReactNode;
}

/** A text with the Backstage status icon and colour of its tone. */
export const ToneStatus = ({ tone, testId, children }: ToneStatusProps) => {
  switch (tone) {
    case 'ok':
      return <StatusOK data-testid={testId}>{children}</StatusOK>;
    case 'warning':
      return <StatusWarning data-testid={testId}>{children}</StatusWarning>;
    case 'error':
      return <StatusError data-testid={testId}>{children}</StatusError>;
    case 'neutral':
      return <StatusAborted data-testid={testId}>{children}</StatusAborted>;
    default:
      return <StatusPending data-testid={testId}>{children}</StatusPending>;
  }
};

/** The verdict on a plugin or an instance, coloured. */
export const VerdictLabel = ({
  verdict,
  testId,
}: {
  verdict: PluginHealth['verdict'];
  testId?: string;
}) => (
  <ToneStatus tone={verdictTone(verdict)} testId={testId}>
    {verdict}
  </ToneStatus>
);

/**
 * What an unchecked instance shows instead of a verdict, ready or live:
 * grey, neither good nor bad.
 */
export const NotChecked = ({ testId }: { testId?: string }) => (
  <ToneStatus tone="neutral" testId={testId}>
    not checked
  </ToneStatus>
);

/** The status of a probe, coloured. */
export const ProbeStatusLabel = ({ probe }: { probe: ProbeHealth }) => (
  <ToneStatus tone={probeTone(probe)} testId="probe-status">
    {probeStatusText(probe)}
  </ToneStatus>
);

/** A yes / no fact (ready, live) as a coloured status. */
export const YesNoStatus = ({
  value,
  testId,
}: {
  value: boolean;
  testId?: string;
}) => (
  <ToneStatus tone={value ? 'ok' : 'error'} testId={testId}>
    {value ? 'yes' : 'no'}
  </ToneStatus>
);
