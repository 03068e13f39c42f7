import {
  StatusAborted,
  StatusError,
  StatusOK,
  StatusPending,
  StatusRunning,
  StatusWarning,
} from '@backstage/core-components';
import {
  AnalysisVerdict,
  DeploymentPhase,
  DeploymentStepStatus,
} from '@internal/plugin-lifecycle-common';
import { phaseLabel } from './format';

/** A deployment's phase with the status icon Backstage uses for its kind. */
export const PhaseStatus = ({ phase }: { phase: DeploymentPhase }) => {
  const text = phaseLabel(phase);
  switch (phase) {
    case 'succeeded':
      return <StatusOK>{text}</StatusOK>;
    case 'failed':
      return <StatusError>{text}</StatusError>;
    case 'rolled-back':
    case 'rolling-back':
      return <StatusWarning>{text}</StatusWarning>;
    case 'aborted':
      return <StatusAborted>{text}</StatusAborted>;
    case 'progressing':
      return <StatusRunning>{text}</StatusRunning>;
    default:
      return <StatusPending>{text}</StatusPending>;
  }
};

/** A step's status. */
export const StepStatus = ({ status }: { status: DeploymentStepStatus }) => {
  switch (status) {
    case 'succeeded':
      return <StatusOK>{status}</StatusOK>;
    case 'failed':
      return <StatusError>{status}</StatusError>;
    case 'running':
      return <StatusRunning>{status}</StatusRunning>;
    case 'skipped':
      return <StatusAborted>{status}</StatusAborted>;
    default:
      return <StatusPending>{status}</StatusPending>;
  }
};

/** An analysis verdict. */
export const VerdictStatus = ({ verdict }: { verdict: AnalysisVerdict }) => {
  switch (verdict) {
    case 'pass':
      return <StatusOK>pass</StatusOK>;
    case 'fail':
      return <StatusError>fail</StatusError>;
    case 'running':
      return <StatusRunning>running</StatusRunning>;
    default:
      return <StatusWarning>insufficient data</StatusWarning>;
  }
};
