import { Deployment } from '@internal/plugin-lifecycle-common';
import type { SystemEvents } from '../../events/SystemEvents';

/** The deployment events a change of a deployment's row tells. */
export function deploymentEventsOf(
  before: Deployment | undefined,
  after: Deployment,
): string[] {
  const events: string[] = [];
  if (before) {
    const completed = after.steps.filter(
      s =>
        s.status === 'succeeded' &&
        before.steps[s.index]?.status !== 'succeeded',
    );
    for (let i = 0; i < completed.length; i++) {
      events.push('deploymentStepCompleted');
    }
  }
  if (before?.phase === after.phase) return events;
  switch (after.phase) {
    case 'progressing':
      if (!before || before.phase === 'pending')
        events.push('deploymentStarted');
      break;
    case 'paused':
      events.push('deploymentPaused');
      break;
    case 'awaiting-approval':
      events.push('deploymentApprovalRequired');
      break;
    case 'succeeded':
      events.push('deploymentCompleted');
      break;
    case 'rolling-back':
      events.push('deploymentFailed');
      break;
    case 'rolled-back':
    case 'aborted':
      events.push('deploymentRolledBack');
      break;
    case 'failed':
      events.push('deploymentFailed');
      break;
    default:
      break;
  }
  return events;
}

/**
 * Publishes what changed between two versions of a deployment as
 * `deploymentManager:*` events (on this process's bus and, with Backstage's
 * events service, to the other replicas and subscribers).
 */
export function emitDeploymentEvent(
  events: SystemEvents,
  before: Deployment | undefined,
  after: Deployment,
) {
  for (const event of deploymentEventsOf(before, after)) {
    (events.publish as (c: string, e: string, p: unknown) => void)(
      'deploymentManager',
      event,
      { deployment: after },
    );
  }
}
