import { DeploymentStrategy } from '@internal/plugin-lifecycle-common';

/**
 * The update form as typed: every number a string (as its field holds it),
 * durations in seconds. `toUpdateRequest` (toRequest.ts) turns it into the request
 * and names the field of each problem by its path in the request
 * (`deploymentConfig.canary.steps.1.setWeight`), the same path a 400 from
 * the server names, so that both show next to the same field.
 */
export interface AnalysisDraft {
  successThreshold: string;
  errorThreshold: string;
  maxLatencyP99Ms: string;
  minRequests: string;
  maxExtensions: string;
  onInsufficientData: 'fail' | 'wait-for-approval';
}

/** One canary step of the editable list. */
export type CanaryStepDraft =
  | { kind: 'setWeight'; weight: string }
  /** `seconds` empty: until promoted. */
  | { kind: 'pause'; seconds: string }
  | { kind: 'analysis'; seconds: string; analysis: AnalysisDraft };

export interface GateDraft {
  enabled: boolean;
  /** Empty: no timeout. */
  timeoutSeconds: string;
  onTimeout: 'approve' | 'reject' | 'wait';
}

export interface UpdateDraft {
  version: string;
  strategy: DeploymentStrategy;
  canary: {
    mode: 'steps' | 'increments';
    steps: CanaryStepDraft[];
    trafficIncrement: string;
    incrementSeconds: string;
    autoPromote: boolean;
    canaryReplicas: string;
    /** The increments' windows. */
    analysis: AnalysisDraft;
  };
  rolling: {
    maxSurge: string;
    maxUnavailable: string;
    minReadySeconds: string;
    progressDeadlineSeconds: string;
  };
  blueGreen: {
    /** Empty: no smoke test. */
    smokePath: string;
    requireApproval: boolean;
    scaleDownDelaySeconds: string;
    analyse: boolean;
    analysisSeconds: string;
    analysis: AnalysisDraft;
  };
  abTesting: {
    by: 'header' | 'cookie' | 'percentage';
    name: string;
    value: string;
    percentage: string;
    durationSeconds: string;
    winner: 'analysis' | 'manual';
    variantReplicas: string;
    analysis: AnalysisDraft;
  };
  approvals: { beforeStart: GateDraft; beforePromotion: GateDraft };
}

/** The backend's analysis defaults (docs/deployments.md). */
export function defaultAnalysis(): AnalysisDraft {
  return {
    successThreshold: '99',
    errorThreshold: '1',
    maxLatencyP99Ms: '',
    minRequests: '50',
    maxExtensions: '3',
    onInsufficientData: 'fail',
  };
}

const noGate = (): GateDraft => ({
  enabled: false,
  timeoutSeconds: '',
  onTimeout: 'wait',
});

/**
 * The form's starting point: rolling (the backend's default), and for
 * each strategy the backend's defaults. The canary's default steps have no
 * analysis: a window without traffic never passes, and a quiet service
 * would roll back.
 */
export function defaultDraft(version = ''): UpdateDraft {
  return {
    version,
    strategy: 'rolling',
    canary: {
      mode: 'steps',
      steps: [
        { kind: 'setWeight', weight: '25' },
        { kind: 'pause', seconds: '30' },
        { kind: 'setWeight', weight: '50' },
        { kind: 'pause', seconds: '30' },
        { kind: 'setWeight', weight: '100' },
      ],
      trafficIncrement: '25',
      incrementSeconds: '60',
      autoPromote: true,
      canaryReplicas: '1',
      analysis: defaultAnalysis(),
    },
    rolling: {
      maxSurge: '1',
      maxUnavailable: '0',
      minReadySeconds: '0',
      progressDeadlineSeconds: '600',
    },
    blueGreen: {
      smokePath: '/',
      requireApproval: false,
      scaleDownDelaySeconds: '30',
      analyse: false,
      analysisSeconds: '60',
      analysis: defaultAnalysis(),
    },
    abTesting: {
      by: 'percentage',
      name: '',
      value: '',
      percentage: '50',
      durationSeconds: '300',
      winner: 'analysis',
      variantReplicas: '1',
      analysis: defaultAnalysis(),
    },
    approvals: { beforeStart: noGate(), beforePromotion: noGate() },
  };
}

/** Field errors by request path. */
export type FieldErrors = Record<string, string>;
