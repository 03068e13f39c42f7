import { InputError } from '@backstage/errors';
import {
  DeploymentStepSpec,
  RollingConfig,
  rollingConfigSchema,
} from '@internal/plugin-lifecycle-common';
import { resolveCount } from '../resolveCount';
import { parseSection } from './common';

const FIELD = 'deploymentConfig.rolling';

/**
 * Rolling: new instances up and old ones down a batch at a time, like a
 * Kubernetes Deployment. Instances of both versions together never exceed
 * `replicas + maxSurge`, and ready ones never drop below
 * `replicas - maxUnavailable` (a `scale new` step completes only once its
 * instances are ready). Traffic follows the instance counts, so there are
 * no `setWeight` steps; the controller enforces `progressDeadlineSeconds`.
 * `promotion`, when given, comes before the first step that removes old
 * instances.
 */
export function planRolling(
  config: Partial<RollingConfig> | undefined,
  replicas: number,
  promotion?: DeploymentStepSpec,
): DeploymentStepSpec[] {
  const rolling = parseSection(rollingConfigSchema, config, FIELD);
  const surge = Math.min(
    resolveCount(rolling.maxSurge, replicas, 'up'),
    replicas,
  );
  const unavailable = Math.min(
    resolveCount(rolling.maxUnavailable, replicas, 'down'),
    replicas,
  );
  if (surge === 0 && unavailable === 0) {
    throw new InputError(
      `${FIELD}: maxSurge and maxUnavailable cannot both be 0 (with ${replicas} replicas)`,
    );
  }
  const minReadyMs = rolling.minReadySeconds * 1000;
  const steps: DeploymentStepSpec[] = [];
  let gate = promotion;
  let oldCount = replicas;
  let newCount = 0;
  // Terminates: with surge >= 1 the total after each round is at most
  // replicas < replicas + surge, so the new side can grow; with surge 0 the
  // old side has just made room (unavailable >= 1).
  while (oldCount > 0 || newCount < replicas) {
    const newTarget = Math.min(replicas, replicas + surge - oldCount);
    if (newTarget > newCount) {
      newCount = newTarget;
      steps.push({ kind: 'scale', side: 'new', replicas: newCount });
      if (minReadyMs > 0) {
        steps.push({
          kind: 'wait',
          durationMs: minReadyMs,
          reason: 'min-ready',
        });
      }
    }
    const oldTarget = Math.max(0, replicas - unavailable - newCount);
    if (oldTarget < oldCount) {
      if (gate) steps.push(gate);
      gate = undefined;
      oldCount = oldTarget;
      steps.push({ kind: 'scale', side: 'old', replicas: oldCount });
    }
  }
  steps.push({ kind: 'finish' });
  return steps;
}

/** Recreate: every old instance stopped, then the new set (downtime). */
export function planRecreate(
  replicas: number,
  promotion?: DeploymentStepSpec,
): DeploymentStepSpec[] {
  return [
    ...(promotion ? [promotion] : []),
    { kind: 'scale', side: 'old', replicas: 0 },
    { kind: 'scale', side: 'new', replicas },
    { kind: 'finish' },
  ];
}
