import { ConflictError, InputError } from '@backstage/errors';
import {
  DEPLOYMENT_ACTIONS,
  DEPLOYMENT_PHASES,
  DeploymentAction,
  DeploymentPhase,
  DeploymentStep,
  DeploymentStepSpec,
} from '@internal/plugin-lifecycle-common';
import {
  ABORT_REQUESTED,
  ActionTarget,
  applyDeploymentAction,
  stepsKeptByFullPromote,
} from './actions';

const now = '2026-12-04T12:00:00.000Z';
const ctx = { actor: 'user:default/ana', now };

/** A canary 1.0.0 -> 1.1.0 with a start gate, two analysed weights, a pause and the final steps. */
const canarySteps: DeploymentStepSpec[] = [
  { kind: 'approval', gate: 'start', onTimeout: 'wait' },
  { kind: 'scale', side: 'new', replicas: 1 },
  { kind: 'setWeight', weight: 20 },
  {
    kind: 'analysis',
    durationMs: 60_000,
    criteria: {
      minRequests: 50,
      maxExtensions: 3,
      onInsufficientData: 'wait-for-approval',
      requireHealthy: true,
    },
  },
  { kind: 'setWeight', weight: 50 },
  { kind: 'pause' },
  { kind: 'approval', gate: 'promotion', onTimeout: 'reject' },
  { kind: 'scale', side: 'new', replicas: 3 },
  { kind: 'setWeight', weight: 100 },
  { kind: 'finish' },
];

function deployment(
  phase: DeploymentPhase,
  currentStep = 5,
  overrides: Partial<ActionTarget> = {},
): ActionTarget {
  const steps: DeploymentStep[] = canarySteps.map((spec, index) => ({
    ...spec,
    index,
    status: statusAt(index, currentStep),
  }));
  return {
    id: 'dep-1',
    pluginId: 'sample',
    tenant: 'default',
    strategy: 'canary',
    fromVersion: '1.0.0',
    toVersion: '1.1.0',
    config: {},
    phase,
    currentStep,
    steps,
    traffic: { '1.0.0': 50, '1.1.0': 50 },
    instances: {},
    analysis: [],
    approvals: [],
    createdAt: now,
    updatedAt: now,
    stepState: {},
    ...overrides,
  };
}

/** Steps before the current one succeeded, it runs, the rest wait. */
function statusAt(index: number, currentStep: number) {
  if (index === currentStep) return 'running' as const;
  return index < currentStep ? ('succeeded' as const) : ('pending' as const);
}

/**
 * The phase an action leads to, or its 409's message. A patch with a
 * field set to undefined (which the store would clear) is reported too.
 */
function outcome(d: ActionTarget, action: DeploymentAction): string {
  try {
    const patch = applyDeploymentAction(d, action, ctx);
    const cleared = Object.keys(patch).filter(
      k => patch[k as keyof typeof patch] === undefined,
    );
    return cleared.length ? `undefined: ${cleared.join(', ')}` : patch.phase!;
  } catch (error) {
    if (!(error instanceof ConflictError)) throw error;
    return error.message;
  }
}

function conflictOf(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ConflictError);
    return (error as Error).message;
  }
  throw new Error('no conflict');
}

/** The phase each action leads to from each phase; a string is the 409's message. */
const table: Record<
  DeploymentAction,
  Partial<Record<DeploymentPhase, DeploymentPhase | string>>
> = {
  approve: {},
  reject: {},
  promote: {
    pending:
      'deployment dep-1 is pending: promote is possible only while it is progressing, paused or awaiting approval',
    progressing: 'progressing',
    paused: 'progressing',
    // At a pause step (the manual A/B decision and the gates: below).
    'awaiting-approval': 'progressing',
    'rolling-back':
      'deployment dep-1 is rolling-back: promote is possible only while it is progressing, paused or awaiting approval',
    succeeded: 'deployment dep-1 has succeeded: nothing to promote',
    'rolled-back': 'deployment dep-1 has rolled back: nothing to promote',
    aborted: 'deployment dep-1 was aborted: nothing to promote',
    failed: 'deployment dep-1 has failed: nothing to promote',
  },
  pause: {
    pending:
      'deployment dep-1 is pending: pause is possible only while it is progressing',
    progressing: 'paused',
    paused:
      'deployment dep-1 is paused: pause is possible only while it is progressing',
    'awaiting-approval':
      'deployment dep-1 is awaiting approval: pause is possible only while it is progressing',
    'rolling-back':
      'deployment dep-1 is rolling-back: pause is possible only while it is progressing',
    succeeded: 'deployment dep-1 has succeeded: nothing to pause',
    'rolled-back': 'deployment dep-1 has rolled back: nothing to pause',
    aborted: 'deployment dep-1 was aborted: nothing to pause',
    failed: 'deployment dep-1 has failed: nothing to pause',
  },
  resume: {
    progressing:
      'deployment dep-1 is progressing: resume is possible only while it is paused',
    // Paused at a pause step without a duration: only promote goes on.
    paused:
      'deployment dep-1 is paused at step 5 (pause), which waits until promoted: promote it to go on',
    'awaiting-approval':
      'deployment dep-1 is awaiting approval: resume is possible only while it is paused',
    pending:
      'deployment dep-1 is pending: resume is possible only while it is paused',
    'rolling-back':
      'deployment dep-1 is rolling-back: resume is possible only while it is paused',
    succeeded: 'deployment dep-1 has succeeded: nothing to resume',
    'rolled-back': 'deployment dep-1 has rolled back: nothing to resume',
    aborted: 'deployment dep-1 was aborted: nothing to resume',
    failed: 'deployment dep-1 has failed: nothing to resume',
  },
  abort: {
    pending: 'rolling-back',
    progressing: 'rolling-back',
    paused: 'rolling-back',
    'awaiting-approval': 'rolling-back',
    'rolling-back':
      'deployment dep-1 is rolling-back: it is already rolling back: nothing to abort',
    succeeded: 'deployment dep-1 has succeeded: nothing to abort',
    'rolled-back': 'deployment dep-1 has rolled back: nothing to abort',
    aborted: 'deployment dep-1 was aborted: nothing to abort',
    failed: 'deployment dep-1 has failed: nothing to abort',
  },
  rollback: {
    pending: 'rolling-back',
    progressing: 'rolling-back',
    paused: 'rolling-back',
    'awaiting-approval': 'rolling-back',
    'rolling-back':
      'deployment dep-1 is rolling-back: it is already rolling back: nothing to rollback',
    succeeded: 'deployment dep-1 has succeeded: roll back its update instead',
    'rolled-back': 'deployment dep-1 has rolled back: nothing to rollback',
    aborted: 'deployment dep-1 was aborted: nothing to rollback',
    failed: 'deployment dep-1 has failed: nothing to rollback',
  },
  retry: {
    pending:
      'deployment dep-1 is pending: retry is possible only once it has rolled back, aborted or failed',
    progressing:
      'deployment dep-1 is progressing: retry is possible only once it has rolled back, aborted or failed',
    paused:
      'deployment dep-1 is paused: retry is possible only once it has rolled back, aborted or failed',
    'awaiting-approval':
      'deployment dep-1 is awaiting approval: retry is possible only once it has rolled back, aborted or failed',
    'rolling-back':
      'deployment dep-1 is rolling-back: retry is possible only once it has rolled back, aborted or failed',
    succeeded:
      'deployment dep-1 has succeeded: retry is possible only once it has rolled back, aborted or failed',
    'rolled-back': 'pending',
    aborted: 'pending',
    failed: 'pending',
  },
};

// approve and reject: refused in every phase but awaiting approval.
for (const phase of DEPLOYMENT_PHASES) {
  if (phase === 'awaiting-approval') continue;
  for (const action of ['approve', 'reject'] as const) {
    table[action][phase] = `deployment dep-1 ${phaseWords(
      phase,
    )}: ${action} is possible only while it awaits approval`;
  }
}

describe('applyDeploymentAction', () => {
  describe('every action in every phase (at a pause step)', () => {
    const cases = DEPLOYMENT_ACTIONS.flatMap(action =>
      DEPLOYMENT_PHASES.map(phase => [action, phase] as const),
    ).filter(([action, phase]) => table[action][phase] !== undefined);

    it.each(cases)('%s from %s', (action, phase) => {
      expect(outcome(deployment(phase), action)).toBe(table[action][phase]);
    });
  });

  describe('approve and reject', () => {
    it('records who and why on the open approval and goes on', () => {
      const d = deployment('awaiting-approval', 6, {
        approvals: [
          { step: 0, gate: 'start', requestedAt: now, decision: 'approved' },
          { step: 6, gate: 'promotion', requestedAt: '2026-12-04T11:00:00Z' },
        ],
      });
      const patch = applyDeploymentAction(d, 'approve', {
        ...ctx,
        reason: 'metrics look fine',
      });
      expect(patch.phase).toBe('progressing');
      expect(patch.currentStep).toBe(7);
      expect(patch.steps![6]).toMatchObject({
        status: 'succeeded',
        finishedAt: now,
      });
      expect(patch.approvals).toEqual([
        d.approvals[0],
        {
          step: 6,
          gate: 'promotion',
          requestedAt: '2026-12-04T11:00:00Z',
          decision: 'approved',
          decidedBy: 'user:default/ana',
          decidedAt: now,
          reason: 'metrics look fine',
        },
      ]);
      expect(patch.message).toBe(
        'approved by user:default/ana: metrics look fine',
      );
      expect(patch.nextRunAt).toBe(now);
      // The input is left as it was.
      expect(d.approvals[1].decision).toBeUndefined();
    });

    it('rejects into a rollback with who and why', () => {
      const d = deployment('awaiting-approval', 0, {
        approvals: [{ step: 0, gate: 'start', requestedAt: now }],
      });
      const patch = applyDeploymentAction(d, 'reject', {
        ...ctx,
        reason: 'not on a Friday',
      });
      expect(patch.phase).toBe('rolling-back');
      expect(patch.message).toBe(
        'rejected by user:default/ana: not on a Friday',
      );
      expect(patch.currentStep).toBeUndefined();
      expect(patch.steps![0].status).toBe('failed');
      expect(patch.approvals![0]).toMatchObject({
        decision: 'rejected',
        decidedBy: 'user:default/ana',
        reason: 'not on a Friday',
      });
    });

    it('decides an analysis that waits for a person after too little traffic', () => {
      const patch = applyDeploymentAction(
        deployment('awaiting-approval', 3),
        'approve',
        ctx,
      );
      expect(patch.currentStep).toBe(4);
      // No open record yet: one is added for the step.
      expect(patch.approvals).toEqual([
        {
          step: 3,
          gate: 'insufficient-data',
          requestedAt: now,
          decision: 'approved',
          decidedBy: 'user:default/ana',
          decidedAt: now,
        },
      ]);
    });

    it('is refused awaiting approval at a step that is not a gate', () => {
      expect(
        conflictOf(() =>
          applyDeploymentAction(
            deployment('awaiting-approval', 2),
            'approve',
            ctx,
          ),
        ),
      ).toBe(
        'deployment dep-1 is awaiting approval: approve is possible only at an approval gate, and step 2 is setWeight 20',
      );
    });

    it('declares the A/B winner at a manual decision', () => {
      const d = abTest('awaiting-approval');
      expect(applyDeploymentAction(d, 'approve', ctx)).toMatchObject({
        phase: 'progressing',
        winner: '1.1.0',
        currentStep: 3,
      });
      expect(applyDeploymentAction(d, 'reject', ctx)).toMatchObject({
        phase: 'rolling-back',
        winner: '1.0.0',
      });
    });
  });

  describe('promote', () => {
    it('completes a pause and resumes a paused deployment', () => {
      const patch = applyDeploymentAction(deployment('paused', 5), 'promote', {
        ...ctx,
        reason: 'looks good',
      });
      expect(patch).toMatchObject({
        phase: 'progressing',
        currentStep: 6,
        message: 'promoted by user:default/ana: looks good',
        stepState: {},
      });
      expect(patch.steps![5].status).toBe('succeeded');
    });

    it('skips a running analysis', () => {
      const patch = applyDeploymentAction(
        deployment('progressing', 3),
        'promote',
        ctx,
      );
      expect(patch.currentStep).toBe(4);
      expect(patch.steps![3].status).toBe('skipped');
    });

    it('refuses a step that does not wait', () => {
      expect(
        conflictOf(() =>
          applyDeploymentAction(deployment('progressing', 2), 'promote', ctx),
        ),
      ).toBe(
        'deployment dep-1 is progressing: step 2 (setWeight 20) does not wait to be promoted; promote with full to skip the remaining steps',
      );
    });

    it('never passes an approval gate', () => {
      for (const full of [false, true]) {
        expect(
          conflictOf(() =>
            applyDeploymentAction(
              deployment('awaiting-approval', 6),
              'promote',
              { ...ctx, full },
            ),
          ),
        ).toBe(
          'deployment dep-1 is awaiting approval: step 6 (the promotion approval) waits for a decision: approve or reject it (deployment.approve permission) instead of promoting',
        );
      }
    });

    it('full: skips to the final steps, keeping the promotion gate', () => {
      const patch = applyDeploymentAction(
        deployment('progressing', 2),
        'promote',
        { ...ctx, full: true },
      );
      expect(patch.steps!.map(s => s.status)).toEqual([
        'succeeded',
        'succeeded',
        'skipped', // setWeight 20
        'skipped', // analysis
        'skipped', // setWeight 50
        'skipped', // pause
        'pending', // promotion approval
        'pending', // scale new 3
        'pending', // setWeight 100
        'pending', // finish
      ]);
      expect(patch.currentStep).toBe(6);
      expect(patch.phase).toBe('progressing');
      expect(patch.message).toBe('promoted by user:default/ana (full)');
    });

    it('full: without a gate, straight to the last scale-up', () => {
      const steps: DeploymentStep[] = [
        { kind: 'scale', side: 'new', replicas: 1 },
        { kind: 'setWeight', weight: 10 },
        { kind: 'scale', side: 'new', replicas: 2 },
        { kind: 'wait', durationMs: 1000, reason: 'min-ready' },
        { kind: 'scale', side: 'new', replicas: 4 },
        { kind: 'setWeight', weight: 100 },
        { kind: 'finish' },
      ].map((s, index) => ({
        ...(s as DeploymentStepSpec),
        index,
        status: index === 0 ? 'succeeded' : 'pending',
      }));
      expect([...stepsKeptByFullPromote(steps, 1)].sort()).toEqual([4, 5, 6]);
      const patch = applyDeploymentAction(
        deployment('progressing', 1, { steps }),
        'promote',
        { ...ctx, full: true },
      );
      expect(patch.currentStep).toBe(4);
      expect(patch.steps!.map(s => s.status)).toEqual([
        'succeeded',
        'skipped',
        'skipped',
        'skipped',
        'pending',
        'pending',
        'pending',
      ]);
    });

    it('declares an A/B winner; the old one winning rolls back', () => {
      const d = abTest('awaiting-approval');
      expect(
        applyDeploymentAction(d, 'promote', { ...ctx, winner: '1.1.0' }),
      ).toMatchObject({
        phase: 'progressing',
        winner: '1.1.0',
        currentStep: 3,
      });
      const lost = applyDeploymentAction(d, 'promote', {
        ...ctx,
        winner: '1.0.0',
      });
      expect(lost).toMatchObject({
        phase: 'rolling-back',
        winner: '1.0.0',
        message: 'A won: 1.0.0 declared the winner by user:default/ana',
      });
      expect(() =>
        applyDeploymentAction(d, 'promote', { ...ctx, winner: '9.9.9' }),
      ).toThrow(
        new InputError(
          'Invalid winner: must be 1.0.0 or 1.1.0 (the versions of deployment dep-1)',
        ),
      );
      expect(() =>
        applyDeploymentAction(deployment('paused'), 'promote', {
          ...ctx,
          winner: '1.1.0',
        }),
      ).toThrow(InputError);
    });
  });

  it('pause, resume: who and why in the message', () => {
    expect(
      applyDeploymentAction(deployment('progressing'), 'pause', {
        ...ctx,
        reason: 'lunch',
      }),
    ).toEqual({
      phase: 'paused',
      message: 'paused by user:default/ana: lunch',
    });
    // Paused by a person in the middle of a step that goes on by itself.
    expect(
      applyDeploymentAction(deployment('paused', 4), 'resume', ctx),
    ).toEqual({
      phase: 'progressing',
      message: 'resumed by user:default/ana',
      nextRunAt: now,
    });
  });

  it('abort flags the step state so that the rollback ends aborted', () => {
    const patch = applyDeploymentAction(
      deployment('progressing', 3, { stepState: { windowStart: 1 } }),
      'abort',
      { ...ctx, reason: 'wrong build' },
    );
    expect(patch).toEqual({
      phase: 'rolling-back',
      message: 'aborted by user:default/ana: wrong build',
      stepState: { windowStart: 1, [ABORT_REQUESTED]: true },
      nextRunAt: now,
    });
    const rollback = applyDeploymentAction(
      deployment('progressing', 3),
      'rollback',
      ctx,
    );
    expect(rollback.stepState).toBeUndefined();
    expect(rollback.message).toBe('rolled back by user:default/ana');
  });

  it('retry starts again from step 0 with every step pending', () => {
    const d = deployment('rolled-back', 4, {
      winner: '1.0.0',
      finishedAt: now,
      stepState: { [ABORT_REQUESTED]: true },
      approvals: [
        { step: 0, gate: 'start', requestedAt: now, decision: 'approved' },
      ],
    });
    d.steps[3] = { ...d.steps[3], status: 'failed', startedAt: now };
    const patch = applyDeploymentAction(d, 'retry', ctx);
    expect(patch).toMatchObject({
      phase: 'pending',
      currentStep: 0,
      winner: null,
      finishedAt: null,
      stepState: {},
      analysis: [],
      message: 'retried by user:default/ana',
    });
    expect(patch.steps!.every(s => s.status === 'pending')).toBe(true);
    expect(patch.steps![3]).not.toHaveProperty('startedAt');
    // Decisions stay on record.
    expect(patch.approvals).toBeUndefined();
  });
});

function phaseWords(phase: DeploymentPhase): string {
  return (
    (
      {
        succeeded: 'has succeeded',
        failed: 'has failed',
        'rolled-back': 'has rolled back',
        aborted: 'was aborted',
        'awaiting-approval': 'is awaiting approval',
      } as Record<string, string>
    )[phase] ?? `is ${phase}`
  );
}

/** An A/B test at its manual decision (step 2 of 5). */
function abTest(phase: DeploymentPhase): ActionTarget {
  const specs: DeploymentStepSpec[] = [
    { kind: 'scale', side: 'new', replicas: 1 },
    { kind: 'wait', durationMs: 60_000, reason: 'experiment' },
    { kind: 'decide', by: 'manual' },
    { kind: 'setWeight', weight: 100 },
    { kind: 'finish' },
  ];
  return deployment(phase, 2, {
    strategy: 'a-b-testing',
    steps: specs.map((s, index) => ({
      ...s,
      index,
      status: statusAt(index, 2),
    })),
  });
}

// Every action in every phase: approve and reject awaiting approval are
// the describe block's (they depend on the step).
it('the table covers every action in every phase', () => {
  for (const action of DEPLOYMENT_ACTIONS) {
    const expected =
      action === 'approve' || action === 'reject'
        ? DEPLOYMENT_PHASES.filter(p => p !== 'awaiting-approval')
        : DEPLOYMENT_PHASES;
    expect([action, Object.keys(table[action]).sort()]).toEqual([
      action,
      [...expected].sort(),
    ]);
  }
});
