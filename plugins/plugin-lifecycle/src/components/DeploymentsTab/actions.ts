import {
  Deployment,
  DeploymentAction,
  DeploymentStep,
} from '@internal/plugin-lifecycle-common';

/**
 * Which actions a deployment's phase and current step allow, as the
 * backend's `applyDeploymentAction` decides them (it answers 409 for the
 * others): offering only these keeps the buttons honest. The backend
 * checks again, so a deployment that moved meanwhile gets its reason.
 */
export function availableDeploymentActions(
  d: Deployment,
  options: { runningVersion?: string } = {},
): DeploymentAction[] {
  const step: DeploymentStep | undefined = d.steps[d.currentStep];
  const actions: DeploymentAction[] = [];
  const decides =
    d.phase === 'awaiting-approval' &&
    step !== undefined &&
    (step.kind === 'approval' ||
      step.kind === 'analysis' ||
      (step.kind === 'decide' && step.by === 'manual'));
  if (decides) {
    actions.push('approve', 'reject');
  }
  const atGate =
    d.phase === 'awaiting-approval' &&
    (step?.kind === 'approval' || step?.kind === 'analysis');
  if (
    ['progressing', 'paused', 'awaiting-approval'].includes(d.phase) &&
    !atGate
  ) {
    actions.push('promote');
  }
  if (d.phase === 'progressing') {
    actions.push('pause');
  }
  if (d.phase === 'paused' && !waitsForPromotion(step)) {
    actions.push('resume');
  }
  if (
    ['pending', 'progressing', 'paused', 'awaiting-approval'].includes(d.phase)
  ) {
    actions.push('abort', 'rollback');
  }
  if (['rolled-back', 'aborted', 'failed'].includes(d.phase)) {
    actions.push('retry');
  }
  // A succeeded deployment rolls back as its update: only while the plugin
  // still runs what it deployed.
  if (d.phase === 'succeeded' && options.runningVersion === d.toVersion) {
    actions.push('rollback');
  }
  return actions;
}

/** A pause step without a duration, or a manual A/B decision: only promote goes on. */
function waitsForPromotion(step: DeploymentStep | undefined): boolean {
  return (
    step !== undefined &&
    step.status === 'running' &&
    ((step.kind === 'pause' && step.durationMs === undefined) ||
      (step.kind === 'decide' && step.by === 'manual'))
  );
}

/** Whether promote can only skip ahead (the current step does not wait to be promoted). */
export function promoteNeedsFull(d: Deployment): boolean {
  const step = d.steps[d.currentStep];
  return (
    !step ||
    !['pause', 'wait', 'analysis', 'smoke', 'decide'].includes(step.kind)
  );
}

/** The button of each action. */
export const ACTION_LABELS: Record<DeploymentAction, string> = {
  approve: 'Approve',
  reject: 'Reject',
  promote: 'Promote',
  pause: 'Pause',
  resume: 'Resume',
  abort: 'Abort',
  retry: 'Retry',
  rollback: 'Roll back',
};

/** What the confirmation dialog says an action does. */
export function describeAction(
  action: DeploymentAction,
  d: Deployment,
): string {
  switch (action) {
    case 'approve':
      return `The deployment of ${d.toVersion} goes on past this gate.`;
    case 'reject':
      return `The deployment is rolled back: traffic returns to ${d.fromVersion} and the ${d.toVersion} instances stop.`;
    case 'promote':
      return 'The current step ends now and the deployment moves to the next one.';
    case 'pause':
      return 'The deployment stays at its current step, with the current traffic split, until resumed.';
    case 'resume':
      return 'The deployment carries on from its current step.';
    case 'abort':
      return `The deployment is stopped: traffic returns to ${d.fromVersion}, the ${d.toVersion} instances stop, and it ends aborted.`;
    case 'retry':
      return `The deployment of ${d.toVersion} starts again from its first step.`;
    case 'rollback':
      return d.phase === 'succeeded'
        ? `The update is rolled back: ${d.fromVersion} runs again with the configuration it ran with.`
        : `Traffic returns to ${d.fromVersion} and the ${d.toVersion} instances stop.`;
    default:
      return '';
  }
}

/** Actions that need `deployment.approve` rather than deploy. */
export function needsApprovePermission(action: DeploymentAction): boolean {
  return action === 'approve' || action === 'reject';
}
