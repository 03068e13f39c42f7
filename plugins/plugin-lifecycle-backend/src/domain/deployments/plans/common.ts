import { InputError } from '@backstage/errors';
import {
  AnalysisCriteria,
  ApprovalGate,
  DeploymentStepSpec,
  analysisCriteriaSchema,
  approvalGateSchema,
  validationMessage,
} from '@internal/plugin-lifecycle-common';
import { z } from 'zod';

/**
 * The thresholds of the original design (99% success, 1% errors). Every
 * analysis checks them unless told otherwise: an analysis that checks
 * nothing would pass anything.
 */
export const DESIGN_THRESHOLDS = Object.freeze({
  successThreshold: 99,
  errorThreshold: 1,
});

/**
 * Parses one section of the config again: the stored config is already
 * parsed (parsing is idempotent then), a hand-built one gets its defaults
 * and its checks here. A failure names the field.
 */
export function parseSection<T extends z.ZodType>(
  schema: T,
  value: unknown,
  field: string,
): z.output<T> {
  const parsed = schema.safeParse(value ?? {});
  if (!parsed.success) {
    // Each issue named from the top (`deploymentConfig.rolling.maxSurge: ...`).
    const issues = parsed.error.issues.map(issue => {
      // Some -common refinements repeat their path in the message ('steps: ...').
      const last = issue.path.at(-1);
      const prefix = last === undefined ? undefined : `${String(last)}: `;
      return {
        ...issue,
        path: [field, ...issue.path],
        message:
          prefix && issue.message.startsWith(prefix)
            ? issue.message.slice(prefix.length)
            : issue.message,
      };
    });
    throw new InputError(validationMessage(new z.ZodError(issues)));
  }
  return parsed.data;
}

function defined<T extends object>(value: T | undefined): Partial<T> {
  if (!value) return {};
  return Object.fromEntries(
    Object.entries(value).filter(([, v]) => v !== undefined),
  ) as Partial<T>;
}

/**
 * Criteria of one analysis: the schema's defaults, under the design's
 * thresholds, under each layer in turn (later layers win; fields a layer
 * leaves undefined do not erase earlier ones).
 */
export function criteriaOf(
  field: string,
  ...layers: Array<Partial<AnalysisCriteria> | undefined>
): AnalysisCriteria {
  const merged = Object.assign({}, DESIGN_THRESHOLDS, ...layers.map(defined));
  delete (merged as { duration?: number }).duration;
  return parseSection(analysisCriteriaSchema, merged, field);
}

/** An approval step; `timeoutMs` only when the gate has one. */
export function approvalStep(
  gate: 'start' | 'promotion',
  config: Partial<ApprovalGate> | undefined,
  field: string,
): DeploymentStepSpec {
  const { timeoutMs, onTimeout } = parseSection(
    approvalGateSchema,
    config,
    field,
  );
  return timeoutMs === undefined
    ? { kind: 'approval', gate, onTimeout }
    : { kind: 'approval', gate, timeoutMs, onTimeout };
}

/** Instances of the new version during a canary or an experiment: default 1, at most the replicas. */
export function sideReplicas(value: number | undefined, replicas: number) {
  return Math.min(value ?? 1, replicas);
}
