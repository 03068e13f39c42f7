import {
  ApprovalGate,
  BlueGreenConfig,
  DeploymentStepSpec,
  blueGreenConfigSchema,
} from '@internal/plugin-lifecycle-common';
import { approvalStep, criteriaOf, parseSection } from './common';

const FIELD = 'deploymentConfig.blueGreen';

/**
 * Blue-green: the full new set without traffic, an optional smoke request
 * against it, an optional approval (`requireApproval` or the promotion
 * gate), the atomic switch, an optional analysis while the old set is
 * still warm, then `scaleDownDelay` before the old set stops.
 */
export function planBlueGreen(
  config: Partial<BlueGreenConfig> | undefined,
  replicas: number,
  promotionGate?: Partial<ApprovalGate>,
): DeploymentStepSpec[] {
  const blueGreen = parseSection(blueGreenConfigSchema, config, FIELD);
  const steps: DeploymentStepSpec[] = [
    { kind: 'scale', side: 'new', replicas },
  ];
  if (blueGreen.smokeTest) {
    steps.push({ kind: 'smoke', test: blueGreen.smokeTest });
  }
  if (blueGreen.requireApproval || promotionGate) {
    steps.push(
      approvalStep(
        'promotion',
        promotionGate,
        'deploymentConfig.approvals.beforePromotion',
      ),
    );
  }
  steps.push({ kind: 'setWeight', weight: 100 });
  if (blueGreen.analysis) {
    steps.push({
      kind: 'analysis',
      durationMs: blueGreen.analysis.duration,
      criteria: criteriaOf(`${FIELD}.analysis`, blueGreen.analysis),
    });
  }
  steps.push(
    {
      kind: 'wait',
      durationMs: blueGreen.scaleDownDelay,
      reason: 'scale-down-delay',
    },
    { kind: 'finish' },
  );
  return steps;
}
