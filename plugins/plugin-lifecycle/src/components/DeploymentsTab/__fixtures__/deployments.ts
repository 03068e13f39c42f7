import {
  AnalysisCriteria,
  Deployment,
  DeploymentStep,
} from '@internal/plugin-lifecycle-common';

/** Criteria as the canary planner fills them in (defaults applied). */
const criteria: AnalysisCriteria = {
  successThreshold: 99,
  errorThreshold: 1,
  maxLatencyP99Ms: 500,
  minRequests: 50,
  maxExtensions: 3,
  onInsufficientData: 'fail',
  requireHealthy: true,
};

const T0 = Date.parse('2025-03-01T10:00:00.000Z');
const at = (seconds: number) => new Date(T0 + seconds * 1000).toISOString();

/** The steps of a canary 1.0.0 -> 1.1.0 with a pause until promoted, as planned. */
function canarySteps(): DeploymentStep[] {
  return [
    { index: 0, kind: 'scale', side: 'new', replicas: 1, status: 'pending' },
    { index: 1, kind: 'setWeight', weight: 20, status: 'pending' },
    {
      index: 2,
      kind: 'analysis',
      durationMs: 10_000,
      criteria,
      status: 'pending',
    },
    { index: 3, kind: 'pause', status: 'pending' },
    { index: 4, kind: 'setWeight', weight: 100, status: 'pending' },
    { index: 5, kind: 'finish', status: 'pending' },
  ];
}

/** Steps 0..n-1 done (each 5 s long from t=0), step n running since it started. */
function progressed(
  steps: DeploymentStep[],
  current: number,
): DeploymentStep[] {
  return steps.map(s => {
    if (s.index < current) {
      return {
        ...s,
        status: 'succeeded',
        startedAt: at(s.index * 5),
        finishedAt: at(s.index * 5 + 5),
      };
    }
    if (s.index === current) {
      return { ...s, status: 'running', startedAt: at(s.index * 5) };
    }
    return s;
  });
}

function base(overrides: Partial<Deployment>): Deployment {
  return {
    id: 'dep-1',
    pluginId: 'sample-http-service',
    tenant: 'default',
    strategy: 'canary',
    fromVersion: '1.0.0',
    toVersion: '1.1.0',
    config: { canary: { autoPromote: true } },
    phase: 'progressing',
    currentStep: 0,
    steps: canarySteps(),
    traffic: {},
    instances: {},
    analysis: [],
    approvals: [],
    createdBy: 'user:default/guest',
    createdAt: at(0),
    updatedAt: at(12),
    ...overrides,
  };
}

/** A canary analysing 20 % of the traffic on 1.1.0 (step 2 of 6). */
export const analysingCanary: Deployment = base({
  id: 'dep-canary',
  currentStep: 2,
  steps: progressed(canarySteps(), 2),
  traffic: { '1.0.0': 80, '1.1.0': 20 },
  instances: { '1.0.0': ['i-old'], '1.1.0': ['i-new'] },
  analysis: [
    {
      step: 2,
      startedAt: at(10),
      verdict: 'running',
      extensions: 0,
      minRequests: 50,
      evidence: [
        {
          version: '1.1.0',
          requests: 12,
          successRate: 100,
          errorRate: 0,
          p99Ms: 14.3179,
          unhealthyInstances: 0,
        },
        {
          version: '1.0.0',
          requests: 47,
          successRate: 100,
          errorRate: 0,
          p99Ms: 11,
          unhealthyInstances: 0,
        },
      ],
      reasons: [],
    },
  ],
});

/** The same canary at its pause until promoted. */
export const pausedCanary: Deployment = base({
  id: 'dep-paused',
  phase: 'paused',
  message: 'paused at step 3 until promoted',
  currentStep: 3,
  steps: progressed(canarySteps(), 3),
  traffic: { '1.0.0': 80, '1.1.0': 20 },
});

/** A rolling update waiting at its start gate. */
export const awaitingApproval: Deployment = base({
  id: 'dep-gated',
  strategy: 'rolling',
  config: { approvals: { beforeStart: { onTimeout: 'wait' } } },
  phase: 'awaiting-approval',
  message: 'waiting for approval before start',
  currentStep: 0,
  steps: [
    {
      index: 0,
      kind: 'approval',
      gate: 'start',
      onTimeout: 'wait',
      status: 'running',
      startedAt: at(1),
    },
    { index: 1, kind: 'scale', side: 'new', replicas: 1, status: 'pending' },
    { index: 2, kind: 'scale', side: 'old', replicas: 0, status: 'pending' },
    { index: 3, kind: 'finish', status: 'pending' },
  ],
  approvals: [{ step: 0, gate: 'start', requestedAt: at(1) }],
});

/** A canary of the bad 2.1.0 that its analysis rolled back. */
export const rolledBackCanary: Deployment = base({
  id: 'dep-bad',
  toVersion: '2.1.0',
  fromVersion: '1.0.0',
  phase: 'rolled-back',
  message:
    'analysis failed: error rate 100 % above the threshold 1 % (21 requests)',
  currentStep: 2,
  steps: progressed(canarySteps(), 2).map(s =>
    s.index === 2
      ? {
          ...s,
          status: 'failed',
          finishedAt: at(13),
          message: 'error rate 100 % above the threshold 1 % (21 requests)',
        }
      : s,
  ),
  traffic: {},
  analysis: [
    {
      step: 2,
      startedAt: at(10),
      finishedAt: at(13),
      verdict: 'fail',
      extensions: 0,
      minRequests: 5,
      evidence: [
        {
          version: '2.1.0',
          requests: 21,
          successRate: 0,
          errorRate: 100,
          p99Ms: 9,
          unhealthyInstances: 0,
        },
        {
          version: '1.0.0',
          requests: 80,
          successRate: 100,
          errorRate: 0,
          p99Ms: 8,
          unhealthyInstances: 0,
        },
      ],
      reasons: ['error rate 100 % above the threshold 1 % (21 requests)'],
    },
  ],
  createdAt: at(-3600),
  updatedAt: at(20),
  finishedAt: at(20),
});

/** An older rolling update that succeeded. */
export const succeededRolling: Deployment = base({
  id: 'dep-old',
  strategy: 'rolling',
  fromVersion: '0.9.0',
  toVersion: '1.0.0',
  config: {},
  phase: 'succeeded',
  currentStep: 3,
  steps: [
    {
      index: 0,
      kind: 'scale',
      side: 'new',
      replicas: 1,
      status: 'succeeded',
      startedAt: at(-7200),
      finishedAt: at(-7195),
    },
    {
      index: 1,
      kind: 'scale',
      side: 'old',
      replicas: 0,
      status: 'succeeded',
      startedAt: at(-7195),
      finishedAt: at(-7190),
    },
    {
      index: 2,
      kind: 'finish',
      status: 'succeeded',
      startedAt: at(-7190),
      finishedAt: at(-7170),
    },
  ],
  createdBy: 'user:default/alice',
  createdAt: at(-7200),
  updatedAt: at(-7170),
  finishedAt: at(-7170),
});
