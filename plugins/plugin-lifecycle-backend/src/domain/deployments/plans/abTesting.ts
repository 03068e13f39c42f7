import { InputError } from '@backstage/errors';
import {
  AbTestingConfig,
  DeploymentStepSpec,
  abTestingConfigSchema,
} from '@internal/plugin-lifecycle-common';
import { criteriaOf, parseSection, sideReplicas } from './common';

const FIELD = 'deploymentConfig.abTesting';

/**
 * A/B testing: `variantReplicas` instances of the new version (B) get the
 * requests that match, or a percentage; for `duration` the analysis
 * compares B with A (or a person watches); then the winner is decided and,
 * when B wins, the full new set takes all traffic. A decision for A makes
 * the controller roll back instead of going on.
 */
export function planAbTesting(
  config: AbTestingConfig | undefined,
  replicas: number,
  promotion?: DeploymentStepSpec,
): DeploymentStepSpec[] {
  if (!config) {
    throw new InputError(
      `${FIELD}: is required for the a-b-testing strategy (match or percentage, and duration)`,
    );
  }
  const ab = parseSection(abTestingConfigSchema, config, FIELD);
  const steps: DeploymentStepSpec[] = [
    {
      kind: 'scale',
      side: 'new',
      replicas: sideReplicas(ab.variantReplicas, replicas),
    },
    ab.match
      ? { kind: 'setMatch', match: ab.match }
      : { kind: 'setWeight', weight: ab.percentage! },
    ab.winner === 'analysis'
      ? {
          kind: 'analysis',
          durationMs: ab.duration,
          criteria: criteriaOf(`${FIELD}.analysis`, ab.analysis),
          compare: true,
        }
      : { kind: 'wait', durationMs: ab.duration, reason: 'experiment' },
    { kind: 'decide', by: ab.winner },
    ...(promotion ? [promotion] : []),
    { kind: 'scale', side: 'new', replicas },
    { kind: 'setWeight', weight: 100 },
    { kind: 'finish' },
  ];
  return steps;
}
