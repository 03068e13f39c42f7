import {
  AnalysisCriteria,
  CanaryConfig,
  DeploymentStepSpec,
  canaryConfigSchema,
} from '@internal/plugin-lifecycle-common';
import { criteriaOf, parseSection, sideReplicas } from './common';

const FIELD = 'deploymentConfig.canary';

/** Defaults of the original design. */
export const CANARY_DEFAULTS = Object.freeze({
  trafficIncrement: 25,
  incrementInterval: 60_000,
});

/**
 * Canary: `canaryReplicas` new instances take a growing share of the
 * traffic, each share analysed, then the full new set takes it all.
 *
 * Without explicit steps: `setWeight` t, 2t, ... below 100, each followed
 * by an analysis window of `incrementInterval`; a pause until promoted when
 * `autoPromote` is false; the promotion gate; `scale new replicas`;
 * `setWeight 100`. Explicit steps map one to one; the pause (when
 * `autoPromote` is false), the gate and `scale new replicas` come right
 * before the first `setWeight 100`, and steps after it are kept.
 *
 * Criteria: the schema's defaults, the design's thresholds, the canary's
 * `successThreshold` / `errorThreshold`, its `analysis`, then (explicit
 * steps) the step's own fields. An explicit step is parsed with the
 * schema's defaults, so its `minRequests`, `maxExtensions`,
 * `onInsufficientData` and `requireHealthy` are its own; only the optional
 * fields it leaves out (thresholds, p99, providers) come from the canary.
 */
export function planCanary(
  config: Partial<CanaryConfig> | undefined,
  replicas: number,
  promotion?: DeploymentStepSpec,
): DeploymentStepSpec[] {
  const canary = parseSection(canaryConfigSchema, config, FIELD);
  const base: Partial<AnalysisCriteria> = {
    successThreshold: canary.successThreshold,
    errorThreshold: canary.errorThreshold,
    ...canary.analysis,
  };
  const toFull: DeploymentStepSpec[] = [
    ...(canary.autoPromote ? [] : [{ kind: 'pause' } as const]),
    ...(promotion ? [promotion] : []),
    { kind: 'scale', side: 'new', replicas },
    { kind: 'setWeight', weight: 100 },
  ];
  const steps: DeploymentStepSpec[] = [
    {
      kind: 'scale',
      side: 'new',
      replicas: sideReplicas(canary.canaryReplicas, replicas),
    },
  ];

  if (!canary.steps) {
    const increment =
      canary.trafficIncrement ?? CANARY_DEFAULTS.trafficIncrement;
    const durationMs =
      canary.incrementInterval ?? CANARY_DEFAULTS.incrementInterval;
    const criteria = criteriaOf(`${FIELD}.analysis`, base);
    for (let weight = increment; weight < 100; weight += increment) {
      steps.push({ kind: 'setWeight', weight });
      steps.push({ kind: 'analysis', durationMs, criteria });
    }
    steps.push(...toFull, { kind: 'finish' });
    return steps;
  }

  let full = false;
  canary.steps.forEach((step, i) => {
    if ('setWeight' in step) {
      if (step.setWeight === 100 && !full) {
        full = true;
        // toFull ends with the setWeight 100 itself.
        steps.push(...toFull);
        return;
      }
      steps.push({ kind: 'setWeight', weight: step.setWeight });
    } else if ('pause' in step) {
      steps.push(
        step.pause.duration === undefined
          ? { kind: 'pause' }
          : { kind: 'pause', durationMs: step.pause.duration },
      );
    } else {
      const { duration, ...own } = step.analysis;
      steps.push({
        kind: 'analysis',
        durationMs: duration,
        criteria: criteriaOf(`${FIELD}.steps.${i}.analysis`, base, own),
      });
    }
  });
  steps.push({ kind: 'finish' });
  return steps;
}
