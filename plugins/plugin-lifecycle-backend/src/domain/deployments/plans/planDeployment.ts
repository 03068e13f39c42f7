import { InputError } from '@backstage/errors';
import {
  DEPLOYMENT_STRATEGIES,
  DeploymentConfig,
  DeploymentStepSpec,
  DeploymentStrategy,
} from '@internal/plugin-lifecycle-common';
import { planAbTesting } from './abTesting';
import { planBlueGreen } from './blueGreen';
import { planCanary } from './canary';
import { approvalStep } from './common';
import { planRecreate, planRolling } from './rolling';

/** @public */
export interface PlanDeploymentInput {
  strategy: DeploymentStrategy;
  config: DeploymentConfig;
  /** Instances of the plugin: the old version runs this many, the new one ends with this many. */
  replicas: number;
}

/**
 * The steps a deployment's controller executes in order: `new` is the
 * version being deployed, `old` the running one. An approval gate before
 * start comes first; the one before promotion comes right before traffic
 * (or the last instances) moves fully to the new version. Throws an
 * InputError naming the field for settings the schema alone cannot judge
 * (such as a rolling update that could never make progress).
 *
 * @public
 */
export function planDeployment(
  input: PlanDeploymentInput,
): DeploymentStepSpec[] {
  const { strategy, config, replicas } = input;
  if (!Number.isInteger(replicas) || replicas < 1) {
    throw new InputError(
      `replicas: must be a whole number of at least 1, got ${replicas}`,
    );
  }
  const approvals = config.approvals;
  const start = approvals?.beforeStart
    ? [
        approvalStep(
          'start',
          approvals.beforeStart,
          'deploymentConfig.approvals.beforeStart',
        ),
      ]
    : [];
  const promotion = approvals?.beforePromotion
    ? approvalStep(
        'promotion',
        approvals.beforePromotion,
        'deploymentConfig.approvals.beforePromotion',
      )
    : undefined;

  switch (strategy) {
    case 'rolling':
      return [...start, ...planRolling(config.rolling, replicas, promotion)];
    case 'recreate':
      return [...start, ...planRecreate(replicas, promotion)];
    case 'canary':
      return [...start, ...planCanary(config.canary, replicas, promotion)];
    case 'blue-green':
      return [
        ...start,
        ...planBlueGreen(
          config.blueGreen,
          replicas,
          approvals?.beforePromotion,
        ),
      ];
    case 'a-b-testing':
      return [
        ...start,
        ...planAbTesting(config.abTesting, replicas, promotion),
      ];
    default:
      throw new InputError(
        `deploymentStrategy: must be one of ${DEPLOYMENT_STRATEGIES.join(
          ', ',
        )}, got '${String(strategy)}'`,
      );
  }
}
