import { DeploymentRecord, toDeployment } from '../../database/DeploymentStore';
import { deploymentEventOf } from '../../events/eventMap';
import type { SystemEvents } from '../../events/SystemEvents';

/**
 * Publishes what the controller (or an update's hand-over) changed between
 * two versions of a deployment as `deploymentManager:*` events, on this
 * process's bus and, with Backstage's events service, to the other replicas
 * and subscribers. The payload is the deployment as the API shows it
 * (without the controller's bookkeeping). What a person's action changes is
 * announced by the deployment commands.
 */
export function emitDeploymentEvents(
  events: SystemEvents,
  before: DeploymentRecord,
  after: DeploymentRecord,
) {
  const base = deploymentEventOf(toDeployment(after));
  for (const step of after.steps) {
    if (
      step.status === 'succeeded' &&
      before.steps[step.index]?.status !== 'succeeded'
    ) {
      events.publish('deploymentManager', 'deploymentStepCompleted', {
        ...base,
        step,
      });
    }
  }
  // A gate's timeout decides like a person would.
  for (const approval of after.approvals) {
    const earlier = before.approvals.find(
      a => a.step === approval.step && a.requestedAt === approval.requestedAt,
    );
    if (approval.decision && earlier && !earlier.decision) {
      events.publish('deploymentManager', 'deploymentApprovalDecided', {
        ...base,
        approval,
      });
    }
  }
  if (before.phase === after.phase) return;
  switch (after.phase) {
    case 'progressing':
      if (before.phase === 'pending') {
        events.publish('deploymentManager', 'deploymentStarted', {
          ...base,
        });
      }
      break;
    case 'paused':
      events.publish('deploymentManager', 'deploymentPaused', base);
      break;
    case 'awaiting-approval': {
      const approval = after.approvals.find(
        a => a.step === after.currentStep && !a.decision,
      );
      if (approval) {
        events.publish('deploymentManager', 'deploymentApprovalRequired', {
          ...base,
          approval,
        });
      }
      break;
    }
    case 'succeeded':
      events.publish('deploymentManager', 'deploymentCompleted', {
        ...base,
      });
      break;
    case 'rolling-back':
    case 'failed':
      events.publish('deploymentManager', 'deploymentFailed', {
        ...base,
        ...(after.message ? { error: after.message } : {}),
      });
      break;
    case 'rolled-back':
    case 'aborted':
      events.publish('deploymentManager', 'deploymentRolledBack', {
        ...base,
      });
      break;
    default:
      break;
  }
}
