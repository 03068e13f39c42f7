import { ConflictError, InputError } from '@backstage/errors';
import {
  ApprovalRecord,
  Deployment,
  DeploymentAction,
  DeploymentPhase,
  DeploymentStep,
  TERMINAL_DEPLOYMENT_PHASES,
} from '@internal/plugin-lifecycle-common';

/**
 * The flag in a deployment's `stepState` that an `abort` sets: the
 * controller rolls the deployment back as for `rollback`, then ends it
 * `aborted` instead of `rolled-back`. `retry` clears it (with the rest of
 * the step state).
 *
 * @public
 */
export const ABORT_REQUESTED = 'abortRequested';

/** Who acts, why, and the clock. @public */
export interface DeploymentActionContext {
  /** A user entity ref (or a service's subject). */
  actor?: string;
  reason?: string;
  /** promote: skip every remaining step but the final ones. */
  full?: boolean;
  /** promote of an A/B test: the winning version. */
  winner?: string;
  /** ISO time of the action. */
  now: string;
}

/**
 * What an action changes on a deployment: only the fields it has (none
 * is ever present with the value undefined); `null` clears a field.
 * `stepState` replaces the whole step state; `stepStartedAt` and
 * `nextRunAt` are set when the action moves the deployment to another
 * step or phase, so that the controller acts on it at once.
 *
 * @public
 */
export interface DeploymentActionPatch {
  phase?: DeploymentPhase;
  message?: string | null;
  currentStep?: number;
  steps?: DeploymentStep[];
  approvals?: ApprovalRecord[];
  winner?: string | null;
  finishedAt?: string | null;
  analysis?: Deployment['analysis'];
  stepState?: Record<string, unknown>;
  stepStartedAt?: string | null;
  nextRunAt?: string | null;
}

/** A deployment as an action reads it: with the controller's step state, if any. */
export type ActionTarget = Deployment & { stepState?: Record<string, unknown> };

/** Phases in which a deployment is still moving (not terminal). */
const ACTIVE_PHASES: readonly DeploymentPhase[] = [
  'pending',
  'progressing',
  'paused',
  'awaiting-approval',
  'rolling-back',
];

/** Whether a deployment has ended (until a `retry`). @public */
export function isTerminalDeploymentPhase(phase: DeploymentPhase): boolean {
  return TERMINAL_DEPLOYMENT_PHASES.includes(phase);
}

/**
 * What an action on a deployment changes, or a 409 (`ConflictError`) that
 * names the deployment, its phase and what the action needs, when its
 * phase does not allow it. Pure: the caller applies the patch (inside the
 * store's compare-and-set) and publishes what happened.
 *
 * - `approve` / `reject`: only while it awaits approval at an approval
 *   gate, an analysis waiting for a person after too little evidence, or
 *   a manual A/B decision. The open {@link ApprovalRecord} gets the
 *   decision, who and why. Approve completes the step and goes on;
 *   reject rolls back.
 * - `promote`: while progressing, paused or awaiting a manual A/B
 *   decision (never past an approval gate: that needs `approve`).
 *   Completes the current pause, wait, analysis, smoke test or decision;
 *   `full` skips every remaining step but the final ones (the last
 *   scale-up of the new version, the switch to weight 100, finish) and
 *   the promotion approval gate; `winner` declares an A/B winner (the
 *   old version winning rolls back).
 * - `pause`: progressing to paused; `resume`: paused to progressing.
 * - `abort`: any active phase but rolling-back to rolling-back, with
 *   {@link ABORT_REQUESTED} in the step state (the controller ends it
 *   `aborted`); `rollback` likewise, ending `rolled-back`. Rolling back a
 *   succeeded deployment is not this function's: it is an update
 *   rollback, which the command queues.
 * - `retry`: a rolled-back, aborted or failed deployment starts again
 *   (`pending`, step 0, every step pending); the command re-queues it.
 *
 * @public
 */
export function applyDeploymentAction(
  d: ActionTarget,
  action: DeploymentAction,
  ctx: DeploymentActionContext,
): DeploymentActionPatch {
  switch (action) {
    case 'approve':
    case 'reject':
      return decide(d, action, ctx);
    case 'promote':
      return promote(d, ctx);
    case 'pause':
      requirePhase(d, action, ['progressing'], 'while it is progressing');
      return {
        phase: 'paused',
        message: said(`paused by ${who(ctx)}`, ctx),
      };
    case 'resume': {
      requirePhase(d, action, ['paused'], 'while it is paused');
      // A pause step without a duration (or a manual A/B decision) is a
      // point the plan stops at until someone promotes: resuming would
      // only stop there again.
      const step = d.steps[d.currentStep];
      if (
        step &&
        step.status === 'running' &&
        ((step.kind === 'pause' && step.durationMs === undefined) ||
          (step.kind === 'decide' && step.by === 'manual'))
      ) {
        throw new ConflictError(
          `deployment ${d.id} is paused at step ${step.index} (${step.kind}), which waits until promoted: promote it to go on`,
        );
      }
      return {
        phase: 'progressing',
        message: said(`resumed by ${who(ctx)}`, ctx),
        nextRunAt: ctx.now,
      };
    }
    case 'abort':
    case 'rollback':
      return rollBack(d, action, ctx);
    case 'retry':
      return retry(d, ctx);
    default:
      throw new InputError(`Unknown deployment action '${action as string}'`);
  }
}

/** The step a person decides at, when the deployment waits for one. */
function decisionStep(d: Deployment): DeploymentStep | undefined {
  const step = d.steps[d.currentStep];
  if (d.phase !== 'awaiting-approval' || !step) return undefined;
  return step.kind === 'approval' ||
    step.kind === 'analysis' ||
    (step.kind === 'decide' && step.by === 'manual')
    ? step
    : undefined;
}

function decide(
  d: ActionTarget,
  action: 'approve' | 'reject',
  ctx: DeploymentActionContext,
): DeploymentActionPatch {
  const step = decisionStep(d);
  if (!step) {
    throw conflict(
      d,
      d.phase === 'awaiting-approval'
        ? `${action} is possible only at an approval gate, and step ${
            d.currentStep
          } is ${stepName(d.steps[d.currentStep])}`
        : `${action} is possible only while it awaits approval`,
    );
  }
  const approved = action === 'approve';
  const decidedBy = who(ctx);
  const approvals = decideApproval(d, step, {
    decision: approved ? 'approved' : 'rejected',
    decidedBy,
    decidedAt: ctx.now,
    ...(ctx.reason ? { reason: ctx.reason } : {}),
  });
  const message = said(
    `${approved ? 'approved' : 'rejected'} by ${decidedBy}`,
    ctx,
  );
  // A manual A/B decision: approve declares B (the new version), reject A.
  let winner: string | undefined;
  if (step.kind === 'decide') winner = approved ? d.toVersion : d.fromVersion;
  if (!approved) {
    return {
      phase: 'rolling-back',
      message,
      approvals,
      steps: withStep(d, step.index, { status: 'failed', message }, ctx.now),
      ...(winner ? { winner } : {}),
      nextRunAt: ctx.now,
    };
  }
  return {
    ...advance(d, step.index, 'succeeded', message, ctx.now),
    phase: 'progressing',
    message,
    approvals,
    ...(winner ? { winner } : {}),
  };
}

/**
 * The approvals with the decision on the open record of this step, or a
 * record added for it (a gate reached before the controller recorded its
 * request).
 */
function decideApproval(
  d: Deployment,
  step: DeploymentStep,
  decision: Pick<
    ApprovalRecord,
    'decision' | 'decidedBy' | 'decidedAt' | 'reason'
  >,
): ApprovalRecord[] {
  const approvals = d.approvals.map(a => ({ ...a }));
  let open = -1;
  approvals.forEach((a, i) => {
    if (a.step === step.index && !a.decision) open = i;
  });
  if (open < 0) {
    approvals.push({
      step: step.index,
      gate: gateOf(step),
      requestedAt: decision.decidedAt!,
    });
    open = approvals.length - 1;
  }
  approvals[open] = { ...approvals[open], ...decision };
  return approvals;
}

/** Steps that wait (for time, evidence or a person) and that promote ends. */
const PROMOTABLE = new Set<DeploymentStep['kind']>([
  'pause',
  'wait',
  'analysis',
  'smoke',
  'decide',
]);

/** The gate of an approval record opened at this step. */
function gateOf(step: DeploymentStep): ApprovalRecord['gate'] {
  if (step.kind === 'approval') return step.gate;
  return step.kind === 'analysis' ? 'insufficient-data' : 'promotion';
}

function promote(
  d: ActionTarget,
  ctx: DeploymentActionContext,
): DeploymentActionPatch {
  if (isTerminalDeploymentPhase(d.phase)) {
    throw conflict(d, 'nothing to promote');
  }
  requirePhase(
    d,
    'promote',
    ['progressing', 'paused', 'awaiting-approval'],
    'while it is progressing, paused or awaiting approval',
  );
  const step = d.steps[d.currentStep];
  if (
    step &&
    d.phase === 'awaiting-approval' &&
    (step.kind === 'approval' || step.kind === 'analysis')
  ) {
    throw conflict(
      d,
      `step ${d.currentStep} (${stepName(
        step,
      )}) waits for a decision: approve or reject it (deployment.approve permission) instead of promoting`,
    );
  }
  const winner = ctx.winner;
  if (winner !== undefined) {
    if (d.strategy !== 'a-b-testing') {
      throw new InputError(
        `Invalid winner: deployment ${d.id} is ${d.strategy}, only an A/B test has a winner`,
      );
    }
    if (winner !== d.fromVersion && winner !== d.toVersion) {
      throw new InputError(
        `Invalid winner: must be ${d.fromVersion} or ${d.toVersion} (the versions of deployment ${d.id})`,
      );
    }
  }
  const by = who(ctx);
  if (winner !== undefined && winner === d.fromVersion) {
    // A won: the new version goes away as in a rollback.
    const message = said(
      `A won: ${d.fromVersion} declared the winner by ${by}`,
      ctx,
    );
    return {
      phase: 'rolling-back',
      message,
      winner,
      ...(step
        ? {
            steps: withStep(
              d,
              step.index,
              { status: 'succeeded', message },
              ctx.now,
            ),
          }
        : {}),
      nextRunAt: ctx.now,
    };
  }
  const isAb = d.strategy === 'a-b-testing';
  const declared =
    isAb && (winner !== undefined || ctx.full || step?.kind === 'decide')
      ? { winner: d.toVersion }
      : {};
  const message = said(`promoted by ${by}${ctx.full ? ' (full)' : ''}`, ctx);
  if (ctx.full) {
    return {
      ...skipToFinal(d, message, ctx.now),
      ...declared,
      phase: 'progressing',
      message,
    };
  }
  if (!step || !PROMOTABLE.has(step.kind)) {
    throw conflict(
      d,
      `step ${d.currentStep} (${stepName(
        step,
      )}) does not wait to be promoted; promote with full to skip the remaining steps`,
    );
  }
  const status =
    step.kind === 'pause' || step.kind === 'decide' ? 'succeeded' : 'skipped';
  return {
    ...advance(d, step.index, status, message, ctx.now),
    ...declared,
    phase: 'progressing',
    message,
  };
}

/**
 * Which of the steps from `from` on a full promote keeps: the last
 * scale-up of the new version, the switch to weight 100, finish, and a
 * promotion approval gate (a full promote never skips an approval).
 */
export function stepsKeptByFullPromote(
  steps: DeploymentStep[],
  from: number,
): Set<number> {
  const kept = new Set<number>();
  let lastScaleNew = -1;
  for (let i = from; i < steps.length; i++) {
    const s = steps[i];
    if (s.kind === 'scale' && s.side === 'new') lastScaleNew = i;
    if (
      s.kind === 'finish' ||
      (s.kind === 'setWeight' && s.weight === 100) ||
      (s.kind === 'approval' && s.gate === 'promotion')
    ) {
      kept.add(i);
    }
  }
  if (lastScaleNew >= 0) kept.add(lastScaleNew);
  return kept;
}

/** Marks every remaining step but the kept ones skipped and moves to the first kept one. */
function skipToFinal(
  d: Deployment,
  message: string,
  now: string,
): DeploymentActionPatch {
  const kept = stepsKeptByFullPromote(d.steps, d.currentStep);
  const steps = d.steps.map(s =>
    s.index < d.currentStep || kept.has(s.index) || isDone(s)
      ? s
      : { ...s, status: 'skipped' as const, finishedAt: now, message },
  );
  const next = steps.findIndex(
    s => s.index >= d.currentStep && s.status !== 'skipped' && !isDone(s),
  );
  const currentStep = next < 0 ? steps.length : next;
  return {
    steps,
    ...(currentStep === d.currentStep
      ? {}
      : { currentStep, stepState: nextStepState(d), stepStartedAt: null }),
    nextRunAt: now,
  };
}

/**
 * The step state a move to another step leaves: the current step's scratch
 * goes, what the deployment remembers across steps (`context`, set when its
 * update handed it over) stays.
 */
function nextStepState(d: ActionTarget): Record<string, unknown> {
  const context = d.stepState?.context;
  return context === undefined ? {} : { context };
}

function isDone(s: DeploymentStep): boolean {
  return s.status === 'succeeded' || s.status === 'skipped';
}

/** Ends step `index` with `status` and moves to the step after it. */
function advance(
  d: ActionTarget,
  index: number,
  status: 'succeeded' | 'skipped',
  message: string,
  now: string,
): DeploymentActionPatch {
  return {
    steps: withStep(d, index, { status, message }, now),
    currentStep: index + 1,
    stepState: nextStepState(d),
    stepStartedAt: null,
    nextRunAt: now,
  };
}

function withStep(
  d: Deployment,
  index: number,
  change: Pick<DeploymentStep, 'status' | 'message'>,
  now: string,
): DeploymentStep[] {
  return d.steps.map(s =>
    s.index === index ? { ...s, ...change, finishedAt: now } : s,
  );
}

function rollBack(
  d: ActionTarget,
  action: 'abort' | 'rollback',
  ctx: DeploymentActionContext,
): DeploymentActionPatch {
  if (d.phase === 'rolling-back') {
    throw conflict(d, `it is already rolling back: nothing to ${action}`);
  }
  if (isTerminalDeploymentPhase(d.phase)) {
    throw conflict(
      d,
      action === 'rollback' && d.phase === 'succeeded'
        ? 'roll back its update instead'
        : `nothing to ${action}`,
    );
  }
  const by = who(ctx);
  const aborting = action === 'abort';
  return {
    phase: 'rolling-back',
    message: said(`${aborting ? 'aborted' : 'rolled back'} by ${by}`, ctx),
    ...(aborting
      ? { stepState: { ...d.stepState, [ABORT_REQUESTED]: true } }
      : {}),
    nextRunAt: ctx.now,
  };
}

function retry(
  d: ActionTarget,
  ctx: DeploymentActionContext,
): DeploymentActionPatch {
  requirePhase(
    d,
    'retry',
    ['rolled-back', 'aborted', 'failed'],
    'once it has rolled back, aborted or failed',
  );
  return {
    phase: 'pending',
    message: said(`retried by ${who(ctx)}`, ctx),
    currentStep: 0,
    steps: d.steps.map(({ startedAt, finishedAt, message, ...s }) => ({
      ...s,
      status: 'pending' as const,
    })),
    // The earlier attempt's analysis windows would be read as this one's;
    // its decisions stay (who approved what, and why).
    analysis: [],
    winner: null,
    finishedAt: null,
    stepState: {},
    stepStartedAt: null,
    nextRunAt: null,
  };
}

function requirePhase(
  d: Deployment,
  action: DeploymentAction,
  phases: DeploymentPhase[],
  when: string,
) {
  if (phases.includes(d.phase)) return;
  if (isTerminalDeploymentPhase(d.phase) && action !== 'retry') {
    throw conflict(d, `nothing to ${action}`);
  }
  throw conflict(d, `${action} is possible only ${when}`);
}

/** `deployment X is paused: <what>` / `deployment X has succeeded: <what>`. */
function conflict(d: Deployment, what: string): ConflictError {
  return new ConflictError(`deployment ${d.id} ${phaseText(d.phase)}: ${what}`);
}

function phaseText(phase: DeploymentPhase): string {
  switch (phase) {
    case 'succeeded':
      return 'has succeeded';
    case 'failed':
      return 'has failed';
    case 'rolled-back':
      return 'has rolled back';
    case 'aborted':
      return 'was aborted';
    case 'awaiting-approval':
      return 'is awaiting approval';
    default:
      return `is ${phase}`;
  }
}

function stepName(step: DeploymentStep | undefined): string {
  if (!step) return 'past the last step';
  switch (step.kind) {
    case 'setWeight':
      return `setWeight ${step.weight}`;
    case 'scale':
      return `scale ${step.side} to ${step.replicas}`;
    case 'approval':
      return `the ${step.gate} approval`;
    default:
      return step.kind;
  }
}

function who(ctx: DeploymentActionContext): string {
  return ctx.actor ?? 'unknown';
}

function said(what: string, ctx: DeploymentActionContext): string {
  return ctx.reason ? `${what}: ${ctx.reason}` : what;
}

/** Whether a deployment is still moving. @public */
export function isActiveDeploymentPhase(phase: DeploymentPhase): boolean {
  return ACTIVE_PHASES.includes(phase);
}
